import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TvctlError } from '../../../src/errors.js';
import { launchShim } from '../../../src/namespaces/launch.js';

// A stand-in for `tvinit shim` that speaks the fd-3 protocol, so launchShim's parsing is tested without root.
const dir = mkdtempSync(join(tmpdir(), 'tvinit-launch-'));
function fakeShim(name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

describe('launchShim (fake shim)', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves ready with the init pid at EOF and exited with the exit code', async () => {
    const tvinit = fakeShim('ok', 'echo "pid 4242" >&3; exec 3>&-; echo out; exit 7');
    const s = launchShim({ shimConfPath: '/x', stdio: 'pipe', detached: false, tvinit });
    expect(await s.ready).toEqual({ initPid: 4242 });
    expect(await s.exited).toBe(7);
    expect((await s.output!).stdout).toBe('out\n');
  });

  it('rejects ready with the reported error and Docker exit code', async () => {
    const tvinit = fakeShim(
      'nf',
      'echo "pid 5" >&3; echo \'error 127 exec: "x": executable file not found in $PATH\' >&3; exit 127',
    );
    const s = launchShim({ shimConfPath: '/x', stdio: 'pipe', detached: false, tvinit });
    const err = await s.ready.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TvctlError);
    expect(err).toMatchObject({
      exitCode: 127,
      code: 'COMMAND_NOT_FOUND',
      message: 'exec: "x": executable file not found in $PATH',
    });
    expect(await s.exited).toBe(127);
  });

  it('rejects when the shim dies without reporting anything', async () => {
    const tvinit = fakeShim('dead', 'exit 125');
    const s = launchShim({ shimConfPath: '/x', stdio: 'pipe', detached: false, tvinit });
    await expect(s.ready).rejects.toMatchObject({ code: 'CONTAINER_START_FAILED', exitCode: 125 });
  });

  it('reports a killed shim as 128+signal', async () => {
    const tvinit = fakeShim('killed', 'echo "pid 9" >&3; exec 3>&-; kill -9 $$');
    const s = launchShim({ shimConfPath: '/x', stdio: 'pipe', detached: false, tvinit });
    await s.ready;
    expect(await s.exited).toBe(137);
  });
});
