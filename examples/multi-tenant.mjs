// A hosting provider's script: one Node process manages many tenants through the typed API, paying no
// process start per call. Run as root after set-up: node examples/multi-tenant.mjs [TENANTS]
import { Runtime, parseLimits } from 'tvctl'; // this package (self-reference via package.json exports)

const tenants = Number(process.argv[2] ?? 5);
const rt = new Runtime(); // honours TVCTL_ROOT / TVCTL_DATA

const ids = [];
for (let i = 0; i < tenants; i++) {
  const { id } = await rt.run(
    {
      image: 'demo',
      name: `tenant-${i}-${process.pid}`,
      cmd: ['sh', '-c', `echo tenant ${i} up; exec sleep 600`],
      labels: { tenant: String(i) },
      limits: parseLimits({ memory: '64m', pidsLimit: 64, cpus: '0.25' }),
      network: 'none',
    },
    { detach: true },
  );
  ids.push(id);
}
const running = (await rt.list()).filter((c) => ids.includes(c.id));
console.log(
  `${running.length}/${tenants} tenants running:`,
  running.map((c) => `${c.name} (pid ${c.state.pid})`).join(', '),
);
for (const id of ids) await rt.remove(id, { force: true });
console.log(
  `removed ${ids.length} tenants; ${(await rt.list({ all: true })).filter((c) => ids.includes(c.id)).length} left`,
);
if (running.length !== tenants) process.exit(1);
