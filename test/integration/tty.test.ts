import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { isRoot, TVCTL, type TestRoots, useDemoRoots } from '../helpers/cli.js';

// `script` (util-linux) gives tvctl a real terminal, as a user typing `tvctl run -it demo sh` has.
describe.skipIf(!isRoot)('interactive use on a terminal (root)', () => {
  let roots!: TestRoots;
  useDemoRoots((r) => (roots = r));

  it('run -it gives a shell on its own pty with job control, and its exit code', async () => {
    const r = await execa('script', ['-qec', `${TVCTL} run --rm -it --network none demo sh`, '/dev/null'], {
      env: roots.env,
      input: 'tty; echo pid=$$; sleep 0.3 & jobs; exit 5\n',
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(5);
    expect(r.stdout).toMatch(/^\/dev\/pts\/0\r?$/m); // the container's own devpts, not the host's
    expect(r.stdout).toMatch(/^pid=1\r?$/m);
    expect(r.stdout).toMatch(/\[1\]\+\s+Running\s+sleep 0.3/);
  });

  it('exec -it joins a running container with a terminal', async () => {
    const id = (
      await execa(TVCTL, ['run', '-d', '--network', 'none', 'demo', 'sleep', '100'], { env: roots.env })
    ).stdout.trim();
    const r = await execa('script', ['-qec', `${TVCTL} exec -it ${id} sh`, '/dev/null'], {
      env: roots.env,
      input: 'tty; cat /proc/1/cmdline | tr "\\0" " "; echo; exit 4\n',
      reject: false,
      timeout: 30_000,
    });
    expect(r.exitCode).toBe(4);
    expect(r.stdout).toMatch(/^\/dev\/pts\/\d+\r?$/m);
    expect(r.stdout).toMatch(/sleep 100/);
    await execa(TVCTL, ['rm', '-f', id], { env: roots.env });
  });

  it('without -t, a container never gets our terminal', async () => {
    const r = await execa(
      'script',
      ['-qec', `${TVCTL} run --rm -i --network none demo sh -c 'tty; ls -l /proc/self/fd/0'`, '/dev/null'],
      {
        env: roots.env,
        reject: false,
        timeout: 30_000,
      },
    );
    expect(r.stdout).toMatch(/not a tty/);
  });
});
