/**
 * `tvctl vm run` through QEMU (TCG here; -accel kvm where the probe finds it works): the image booted with
 * its own kernel. One data root for the file, so the kernel, the accelerator probe and the initramfs are
 * prepared once.
 */
import { execa } from 'execa';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TVCTL, importDemo, isRoot, makeRoots, tvctl, type TestRoots } from '../helpers/cli.js';
import { missingTools, withReason } from '../helpers/prereq.js';
import { buildUmociTwoLayerImage } from '../fixtures/images/umoci.js';
import { kvmAddonAvailable } from '../../src/vm/kvm.js';
import { probeKvm } from '../../src/vm/probe.js';
import { prepareKernel } from '../../src/vm/vm-run.js';

// On hardware-assisted KVM `auto` picks the kvm engine and `--engine kvm` works (vm-kvm.test.ts covers it).
const hardwareKvm = kvmAddonAvailable() && probeKvm().kind === 'hardware';

const noQemu = missingTools('qemu-system-x86_64');
const noUmoci = missingTools('umoci');

let roots: TestRoots;
let work: string;
let ready = false;

async function vm(args: string[], timeout = 120_000) {
  return tvctl(roots, ['vm', 'run', ...args], { timeout });
}

function expectOneLineError(r: { exitCode: number; stderr: string }, re: RegExp): void {
  expect(r.exitCode, r.stderr).toBe(125);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^tvctl: /);
  expect(r.stderr).toMatch(re);
}

describe.skipIf(!isRoot || noQemu)(withReason('tvctl vm run (QEMU)', noQemu), () => {
  beforeAll(async () => {
    roots = await makeRoots();
    work = mkdtempSync(join(tmpdir(), 'tvctl-vm-'));
    await importDemo(roots);
    const k = await tvctl(roots, ['vm', 'kernel', 'install'], { timeout: 120_000 });
    expect(k.exitCode, k.stderr).toBe(0);
    // first run: extracts the vmlinux, probes the accelerators (cached), builds the initramfs (cached)
    const warm = await vm(['demo', 'true'], 240_000);
    expect(warm.exitCode, warm.stderr).toBe(0);
    ready = true;
  }, 300_000);

  afterAll(async () => {
    await roots?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a second kernel install of the same kernel keeps the caches; a changed kernel file replaces its vmlinux', async () => {
    expect(ready).toBe(true);
    const data = roots.env['TVCTL_DATA']!;
    const kernel = join(data, 'kernels', 'vmlinuz');
    const before = statSync(kernel).ino;
    const again = await tvctl(roots, ['vm', 'kernel', 'install'], { timeout: 120_000 });
    expect(again.exitCode, again.stderr).toBe(0);
    expect(statSync(kernel).ino).toBe(before);
    const elfs = () => readdirSync(join(data, 'vm', 'vmlinux')).filter((f) => f.endsWith('.elf'));
    expect(elfs()).toHaveLength(1);
    // Same path, new file identity (an upgrade): a new extraction, and the old ~50 MB one is gone.
    const copy = join(work, 'vmlinuz');
    copyFileSync(kernel, copy);
    const first = await prepareKernel(data, copy);
    copyFileSync(kernel, `${copy}.new`);
    renameSync(`${copy}.new`, copy);
    const second = await prepareKernel(data, copy);
    expect(second.bootable).not.toBe(first.bootable);
    expect(existsSync(first.bootable)).toBe(false);
    expect(elfs()).toHaveLength(2); // the installed kernel's and the copy's
  });

  it('prints the command output, nothing from the kernel, and exits 0', async () => {
    expect(ready).toBe(true);
    const r = await vm(['demo', 'echo', 'hi']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hi', stderr: '' });
  });

  it("exits with the command's exit code", async () => {
    const r = await vm(['demo', 'sh', '-c', 'exit 3']);
    expect(r.exitCode).toBe(3);
    const missing = await vm(['demo', 'no-such-command']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stderr).toMatch(/no-such-command/);
  });

  it('keeps stdout and stderr apart', async () => {
    const r = await vm(['demo', 'sh', '-c', 'echo out; echo err >&2']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'out', stderr: 'err' });
  });

  it('delivers all of a large output: tvctl stops QEMU at the exit marker, after the guest drained its UARTs', async () => {
    const r = await vm(['demo', 'sh', '-c', 'seq 1 20000; seq 1 3000 >&2; exit 5']);
    expect(r.exitCode).toBe(5);
    const out = r.stdout.split('\n');
    expect(out).toHaveLength(20000);
    expect(out[19999]).toBe('20000');
    expect(r.stderr.split('\n')).toEqual(Array.from({ length: 3000 }, (_, i) => String(i + 1)));
  });

  it('applies -e and -w, and sets a hostname', async () => {
    const r = await vm(['-e', 'FOO=bar baz', '-w', '/tmp/wd', 'demo', 'sh', '-c', 'echo "$FOO"; pwd; hostname']);
    expect(r.exitCode, r.stderr).toBe(0);
    const [foo, pwd, host] = r.stdout.split('\n');
    expect(foo).toBe('bar baz');
    expect(pwd).toBe('/tmp/wd');
    expect(host).toMatch(/^[0-9a-f]{12}$/);
  });

  it("runs the guest's own kernel, not the host's", async () => {
    const r = await vm(['demo', 'uname', '-r']);
    expect(r.exitCode, r.stderr).toBe(0);
    const installed = readFileSync(join(roots.data, 'kernels', 'vmlinuz.version'), 'utf8').trim();
    expect(r.stdout).toBe(installed);
    expect(r.stdout).not.toBe(release());
  });

  it('reports the engine and phase timings with --json', async () => {
    const r = await vm(['--json', '--timings', 'demo', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.engine).toMatch(hardwareKvm ? /^kvm \(hardware\)$/ : /^qemu \((tcg|kvm)\)$/);
    expect(j.exitCode).toBe(0);
    expect(j.initramfsBuilt).toBe(false);
    for (const k of ['kernelLoadMs', 'bootToInitMs', 'commandMs', 'totalMs'])
      expect(typeof j.timings[k]).toBe('number');
    expect(j.timings.bootToInitMs).toBeGreaterThan(0);
  });

  it.skipIf(noUmoci)(
    withReason(
      'honours layer deletions, opaque dirs and the config (Cmd, Env, WorkingDir, User) of a two-layer umoci image',
      noUmoci,
    ),
    async () => {
      const img = await buildUmociTwoLayerImage(work, {
        passwd: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n',
        user: 'nobody',
      });
      const load = await tvctl(roots, ['image', 'load', '-i', img, '--tag', 'umo:vm'], { timeout: 120_000 });
      expect(load.exitCode, load.stderr).toBe(0);
      const target = 'umo:vm';
      const def = await vm([target]);
      expect(def).toMatchObject({ exitCode: 0, stdout: 'keep' }); // the image's Cmd
      const ls = await vm([
        target,
        '/bin/busybox',
        'sh',
        '-c',
        '/bin/busybox ls -A /etc /etc/conf; /bin/busybox id -u; echo $FOO; /bin/busybox pwd',
      ]);
      expect(ls.exitCode, ls.stderr).toBe(0);
      expect(ls.stdout).toMatch(/keep/);
      expect(ls.stdout).toMatch(/new/);
      expect(ls.stdout).not.toMatch(/gone|old1|\.wh\./);
      expect(ls.stdout).toMatch(/\n65534\nbar\n\/etc$/); // the image's User, Env and WorkingDir
    },
  );

  it('fails with one line and 125 for a bad kernel path, an unknown image, --engine kvm without hardware KVM', async () => {
    expectOneLineError(await vm(['--kernel', join(work, 'nope'), 'demo', 'true']), /kernel .*nope/);
    writeFileSync(join(work, 'junk'), 'not a kernel');
    expectOneLineError(await vm(['--kernel', join(work, 'junk'), 'demo', 'true']), /junk is not a Linux bzImage/);
    expectOneLineError(await vm(['no-such-image', 'true']), /no-such-image/);
    if (!hardwareKvm)
      expectOneLineError(await vm(['--engine', 'kvm', 'demo', 'true']), /--engine kvm cannot work here/);
  });

  it('fails with one line and 125 when QEMU is not installed', async () => {
    // A PATH with node on it (the launcher needs it) and nothing else: no qemu-system-x86_64.
    const onlyNode = join(work, 'only-node');
    mkdirSync(onlyNode, { recursive: true });
    symlinkSync(process.execPath, join(onlyNode, 'node'));
    const r = await execa(TVCTL, ['vm', 'run', '--engine', 'qemu', 'demo', 'true'], {
      env: { ...roots.env, PATH: onlyNode },
      reject: false,
      stdin: 'ignore',
    });
    expectOneLineError({ exitCode: r.exitCode ?? -1, stderr: String(r.stderr) }, /qemu-system-x86_64 is not installed/);
  });
});
