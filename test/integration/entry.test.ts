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

  it("an unknown command: one tvctl line naming it, exit 1 (Docker's), with --json the error object", async () => {
    const cases: [string[], string][] = [
      [['frobnicate'], 'frobnicate'],
      [['frobnicate', 'x', '--all'], 'frobnicate'],
      [['frobnicate', '--help'], 'frobnicate'],
      [['help', 'frobnicate'], 'frobnicate'],
      [['image', 'frob', 'x'], 'image frob'],
      [['vm', 'frob'], 'vm frob'],
      [['network', 'frob'], 'network frob'],
    ];
    for (const [args, named] of cases) {
      const { fast, plain } = await both(args);
      for (const r of [fast, plain]) {
        expect(r.exitCode, args.join(' ')).toBe(1);
        expect(r.stdout, args.join(' ')).toBe('');
        expect(r.stderr, args.join(' ')).toBe(`tvctl: '${named}' is not a tvctl command; see 'tvctl --help'`);
      }
    }
    const { fast, plain } = await both(['frobnicate', '--json']);
    for (const r of [fast, plain]) {
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({
        error: { code: 'UNKNOWN_COMMAND', message: "'frobnicate' is not a tvctl command; see 'tvctl --help'" },
      });
    }
  });

  it('a usage error is one tvctl line on both entries: 125 for a flag, 1 for missing arguments (Docker)', async () => {
    const cases: [string[], RegExp, number][] = [
      [['--bogus'], /^tvctl: unknown flag: --bogus; see 'tvctl --help'$/, 125],
      [['ps', '--bogus'], /^tvctl: Nonexistent flag: --bogus$/, 125],
      [['info', '--bogus'], /^tvctl: Nonexistent flag: --bogus$/, 125],
      [['run', '--memory'], /^tvctl: flag needs an argument: --memory$/, 125],
      [['run', '--rm'], /^tvctl: "tvctl run" requires at least 1 argument/, 1],
      [['exec'], /^tvctl: "tvctl exec" requires at least 2 arguments/, 1],
      [['vm', 'run'], /^tvctl: "tvctl vm run" requires at least 1 argument/, 1],
      [['rm'], /^tvctl: Missing 1 required arg: container \(container ID, prefix or name\)$/, 1],
      [['network', 'create'], /^tvctl: Missing 1 required arg: name/, 1],
      [['ps', '--filter', 'bogus=1'], /^tvctl: invalid filter "bogus=1"/, 125],
      [['update', 'x'], /^tvctl: you must provide one or more flags/, 1],
      [['images', '--filter', 'x=y'], /^tvctl: unsupported filter "x=y"/, 125],
      [['ps', '--format', '{{.Bogus'], /^tvctl: template parsing error/, 125],
      [['run', '--restart', 'always', '--rm', 'demo'], /^tvctl: conflicting options/, 125],
    ];
    for (const [args, line, code] of cases) {
      const { fast, plain } = await both(args);
      for (const r of [fast, plain]) {
        expect(r.exitCode, args.join(' ')).toBe(code);
        expect(r.stdout, args.join(' ')).toBe('');
        expect(r.stderr, args.join(' ')).toMatch(line);
      }
    }
    for (const args of [
      ['ps', '--bogus', '--json'],
      ['ps', '--filter', 'bogus=1', '--json'],
      ['--bogus', '--json'],
    ]) {
      const { fast, plain } = await both(args);
      for (const r of [fast, plain]) {
        expect(r.exitCode, args.join(' ')).toBe(125);
        expect(r.stderr, args.join(' ')).toBe('');
        expect(JSON.parse(r.stdout).error.code, args.join(' ')).toBe('BAD_USAGE');
      }
    }
  });
});
