import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TvctlError } from '../../../src/errors.js';
import { pipeCommandInto, readText, runCommand, startCommand, streamThroughCommand } from '../../../src/util/exec.js';

const dir = mkdtempSync(join(tmpdir(), 'tvctl-exec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield Buffer.from(p);
}

describe('runCommand', () => {
  it('returns stdout without its final newline, and the exit code', async () => {
    expect(await runCommand({ file: 'sh', args: ['-c', 'echo hi; echo err >&2'] })).toEqual({
      stdout: 'hi',
      stderr: 'err',
      exitCode: 0,
    });
  });

  it('turns a non-zero exit into COMMAND_FAILED with the last line of stderr, unless failure is allowed', async () => {
    await expect(runCommand({ file: 'sh', args: ['-c', 'echo a >&2; echo why >&2; exit 3'] })).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      message: expect.stringMatching(/\(exit 3\): why$/),
    });
    expect((await runCommand({ file: 'sh', args: ['-c', 'exit 3'] }, { allowFailure: true })).exitCode).toBe(3);
  });

  it('says a missing program is missing', async () => {
    const err = await runCommand({ file: 'tvctl-no-such-program', args: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TvctlError);
    expect(err).toMatchObject({ code: 'ENOENT' });
  });

  it('passes input, env and cwd, and never uses a shell', async () => {
    expect((await runCommand({ file: 'cat', args: [] }, { input: 'in put' })).stdout).toBe('in put');
    const env = await runCommand({ file: 'sh', args: ['-c', 'echo "$X"; pwd'] }, { env: { X: 'y' }, cwd: dir });
    expect(env.stdout).toBe(`y\n${dir}`);
    expect((await runCommand({ file: 'echo', args: ['$HOME', ';', 'x'] })).stdout).toBe('$HOME ; x');
  });
});

describe('streamThroughCommand and pipeCommandInto', () => {
  it('streams input through a filter and yields its output', async () => {
    let out = '';
    for await (const c of streamThroughCommand({ file: 'cat', args: [] }, chunks('a', 'b', 'c'))) out += c.toString();
    expect(out).toBe('abc');
  });

  it('fails after the output when the filter exits non-zero', async () => {
    const run = async (): Promise<void> => {
      for await (const _ of streamThroughCommand(
        { file: 'sh', args: ['-c', 'cat >/dev/null; echo bad >&2; exit 4'] },
        chunks('x'),
      ))
        void _;
    };
    await expect(run()).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      message: expect.stringMatching(/exit 4.*bad/),
    });
  });

  it('writes a filter’s output straight to a descriptor', async () => {
    const file = join(dir, 'piped');
    const fd = openSync(file, 'w');
    try {
      await pipeCommandInto({ file: 'cat', args: [] }, chunks('to ', 'fd'), fd);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, 'utf8')).toBe('to fd');
  });
});

describe('startCommand', () => {
  it('gives the pid at once and the exit code when it ends', async () => {
    const c = startCommand({ file: 'true', args: [] }, { stdio: ['ignore', 'ignore', 'ignore'] });
    expect(c.pid).toBeGreaterThan(0);
    await c.spawned;
    expect(await c.exited).toEqual({ exitCode: 0, signal: undefined, notFound: false, timedOut: false });
    expect(
      (await startCommand({ file: 'sh', args: ['-c', 'exit 3'] }, { stdio: ['ignore', 'ignore', 'ignore'] }).exited)
        .exitCode,
    ).toBe(3);
  });

  it('reports a missing program without a pid, and does not throw', async () => {
    const c = startCommand({ file: 'tvctl-no-such-program', args: [] }, { stdio: ['ignore', 'pipe', 'pipe'] });
    expect(c.pid).toBeUndefined();
    expect(await c.exited).toMatchObject({ exitCode: undefined, notFound: true });
  });

  it('pipes any descriptor the caller asks for (here fd 3) and reads each to its end', async () => {
    const c = startCommand(
      { file: 'sh', args: ['-c', 'echo out; echo err >&2; echo three >&3'] },
      { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] },
    );
    const [out, err, three] = await Promise.all([1, 2, 3].map((fd) => readText(c.pipe(fd))));
    expect([out, err, three]).toEqual(['out\n', 'err\n', 'three\n']);
    expect(c.pipe(0)).toBeUndefined();
    expect(c.pipe(7)).toBeUndefined();
    expect((await c.exited).exitCode).toBe(0);
  });

  it('gives an ignored stdin end-of-file at once', async () => {
    const c = startCommand({ file: 'cat', args: [] }, { stdio: ['ignore', 'pipe', 'ignore'] });
    expect(c.pipe(2)).toBeUndefined();
    expect(await readText(c.pipe(1))).toBe('');
    expect((await c.exited).exitCode).toBe(0);
  });

  it('gives the child exactly the environment it is given', async () => {
    const c = startCommand(
      { file: '/bin/sh', args: ['-c', 'env'] },
      { stdio: ['ignore', 'pipe', 'ignore'], env: { ONLY: '1' } },
    );
    const env = (await readText(c.pipe(1))).split('\n').filter((l) => l && !/^(PWD|SHLVL|_)=/.test(l));
    expect(env).toEqual(['ONLY=1']);
  });

  it('reports a signal, and kill() sends it', async () => {
    const c = startCommand({ file: 'sleep', args: ['30'] }, { stdio: ['ignore', 'ignore', 'ignore'] });
    await c.spawned;
    c.kill('SIGKILL');
    expect(await c.exited).toMatchObject({ exitCode: undefined, signal: 'SIGKILL', timedOut: false });
  });

  it('stops a child that outlives its timeout (SIGTERM) and says so', async () => {
    const t0 = Date.now();
    const r = await startCommand(
      { file: 'sleep', args: ['30'] },
      { stdio: ['ignore', 'ignore', 'ignore'], timeoutMs: 100 },
    ).exited;
    expect(r).toMatchObject({ signal: 'SIGTERM', timedOut: true });
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('stops a child when the abort signal fires, also when it fired before the start', async () => {
    const ac = new AbortController();
    const c = startCommand(
      { file: 'sleep', args: ['30'] },
      { stdio: ['ignore', 'ignore', 'ignore'], signal: ac.signal },
    );
    setTimeout(() => ac.abort(), 50);
    expect(await c.exited).toMatchObject({ signal: 'SIGTERM', timedOut: false });
    const early = startCommand(
      { file: 'sleep', args: ['30'] },
      { stdio: ['ignore', 'ignore', 'ignore'], signal: AbortSignal.abort() },
    );
    expect((await early.exited).signal).toBe('SIGTERM');
  });

  it('starts a detached child in a session of its own', async () => {
    const c = startCommand(
      { file: 'sh', args: ['-c', 'ps -o sid= -p $$; echo $$'] },
      { stdio: ['ignore', 'pipe', 'ignore'], detached: true },
    );
    const [sid, pid] = (await readText(c.pipe(1))).trim().split(/\s+/);
    expect(sid).toBe(pid);
    await c.exited;
  });
});
