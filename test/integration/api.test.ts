import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Runtime } from '../../src/index.js';
import { hostTraces, isRoot, REPO, type TestRoots, useDemoRoots } from '../helpers/cli.js';

describe.skipIf(!isRoot)('the typed API (root)', () => {
  let roots!: TestRoots;
  useDemoRoots((r) => (roots = r));

  it('runs the README multi-tenant example script', async () => {
    const r = await execa('node', [join(REPO, 'examples/multi-tenant.mjs'), '3'], {
      env: roots.env,
      reject: false,
      timeout: 120_000,
    });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^3\/3 tenants running: /m);
    for (const i of [0, 1, 2]) expect(r.stdout).toMatch(new RegExp(`tenant-${i}-\\d+ \\(pid \\d+\\)`));
    expect(r.stdout).toMatch(/removed 3 tenants; 0 left/);
  });

  it('creates, inspects, execs, stops and removes with typed results', async () => {
    const rt = new Runtime({ roots: { state: roots.state, data: roots.data } });
    const { id } = await rt.run(
      { image: 'demo', cmd: ['sleep', '300'], network: 'none', labels: { tenant: 't1' } },
      { detach: true },
    );
    const info = await rt.inspect(id);
    expect(info.state.status).toBe('running');
    expect(info.config.labels).toEqual({ tenant: 't1' });
    expect((await rt.list()).map((c) => c.id)).toContain(id);
    await rt.stop(id, 1);
    const stopped = await rt.inspect(id);
    expect(stopped.state.status).toBe('exited');
    await rt.remove(id);
    await expect(rt.inspect(id)).rejects.toThrow(/no such container/);
    expect(await hostTraces(id)).toEqual([]);
  });
});
