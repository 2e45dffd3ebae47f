/**
 * The two ways into the CLI agree: `bin/tvctl` (what users run: hot verbs from the startup snapshot) and
 * `bin/tvctl.js` (plain oclif). Every other integration test goes through the launcher.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { TVCTL, TVCTL_OCLIF, isRoot, type TestRoots, useDemoRoots } from '../helpers/cli.js';

describe.skipIf(!isRoot)('bin/tvctl (snapshot) and bin/tvctl.js (oclif) behave the same (root)', () => {
  let roots!: TestRoots;
  useDemoRoots((r) => (roots = r));

  const both = async (args: string[]) => {
    const [fast, plain] = await Promise.all(
      [TVCTL, TVCTL_OCLIF].map((bin) => execa(bin, args, { env: roots.env, reject: false, stdin: 'ignore' })),
    );
    return { fast: fast!, plain: plain! };
  };

  it('a foreground run: same output and exit code', async () => {
    const { fast, plain } = await both([
      'run',
      '--rm',
      '--network',
      'none',
      '-e',
      'X=1',
      'demo',
      'sh',
      '-c',
      'echo "out $X"; echo err >&2; exit 3',
    ]);
    for (const r of [fast, plain]) {
      expect(r.exitCode).toBe(3);
      expect(r.stdout).toBe('out 1');
      expect(r.stderr).toBe('err');
    }
  });

  it('errors: the same one line and exit code', async () => {
    for (const args of [
      ['run', '--rm', 'no-such-image', 'true'],
      ['run', '--no-such-flag', 'demo'],
      ['inspect', 'no-such-container'],
    ]) {
      const { fast, plain } = await both(args);
      expect(fast.exitCode, args.join(' ')).toBe(plain.exitCode);
      expect(fast.exitCode, args.join(' ')).not.toBe(0);
      expect(fast.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(fast.stderr, args.join(' ')).toBe(plain.stderr);
    }
  });

  it('--help right after the verb is oclif help on both; later, it belongs to the container command', async () => {
    const { fast, plain } = await both(['run', '--help']);
    expect(fast.exitCode).toBe(0);
    expect(fast.stdout).toContain('USAGE');
    expect(fast.stdout).toBe(plain.stdout);
    // verbs without a container command line: --help anywhere is help
    for (const args of [
      ['ps', '-a', '--help'],
      ['image', 'load', '-i', '/nonexistent', '--help'],
    ]) {
      const h = await both(args);
      expect(h.fast.exitCode, args.join(' ')).toBe(0);
      expect(h.fast.stdout, args.join(' ')).toContain('USAGE');
      expect(h.fast.stdout, args.join(' ')).toBe(h.plain.stdout);
    }
    const r = await execa(TVCTL, ['run', '--rm', '--network', 'none', 'demo', 'echo', '--help'], {
      env: roots.env,
      reject: false,
    });
    expect(r.stdout).toBe('--help');
  });

  it('ps --json lists the same containers', async () => {
    const id = (await execa(TVCTL, ['run', '-d', '--network', 'none', 'demo', 'sleep', '100'], { env: roots.env }))
      .stdout;
    try {
      const { fast, plain } = await both(['ps', '--json']);
      const ids = (s: string) => (JSON.parse(s) as { id: string }[]).map((c) => c.id);
      expect(ids(fast.stdout)).toEqual(ids(plain.stdout));
      expect(ids(fast.stdout)).toContain(id);
    } finally {
      await execa(TVCTL, ['rm', '-f', id], { env: roots.env, reject: false });
    }
  });
});
