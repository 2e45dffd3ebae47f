/**
 * `tvctl vm run --engine bochs`: the image booted by Bochs, which interprets every instruction, from an
 * isolinux CD. Real boots (seconds to tens of seconds each): output, exit codes, separate streams, and that
 * Bochs and its temporary files are gone after a run is stopped — by a signal tvctl handles, and by SIGKILL.
 * The CLI runs with a TMPDIR of its own, so "no temporary files left" is checked exactly.
 */
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TVCTL, importDemo, makeRoots, notRoot, sleep, tvctl, type TestRoots } from '../helpers/cli.js';
import { provided, withReason } from '../helpers/prereq.js';
import { findBochs } from '../../src/vm/bochs.js';

const bochs = findBochs();
const noBochs = provided(bochs.usable ? undefined : bochs.why);
const skip = notRoot ?? noBochs;

let roots: TestRoots;
let runTmp: string;
let env: NodeJS.ProcessEnv;
let ready = false;

/** A run's time limit: a cold CD build plus a boot on a busy 2-core host. */
const RUN_MS = 180_000;

async function bochsRun(args: string[]) {
  const r = await execa(TVCTL, ['vm', 'run', '--engine', 'bochs', ...args], {
    env,
    reject: false,
    stdin: 'ignore',
    timeout: RUN_MS,
  });
  return { exitCode: r.exitCode ?? 128, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

/** pid → parent pid and state, for every process. */
function processTable(): Map<number, { ppid: number; state: string; comm: string }> {
  const out = new Map<number, { ppid: number; state: string; comm: string }>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const [state, ppid] = stat.slice(close + 2).split(' ');
      out.set(Number(e), { ppid: Number(ppid), state: state!, comm });
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** The Bochs process below `pid` (tvctl's launcher may sit in between), once it runs. */
async function bochsBelow(pid: number, withinMs = 60_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < withinMs) {
    const table = processTable();
    for (const [p, info] of table) {
      if (info.comm !== 'bochs-bin' && info.comm !== 'bochs') continue;
      for (let up = info.ppid, hops = 0; up > 1 && hops < 8; up = table.get(up)?.ppid ?? 0, hops++)
        if (up === pid) return p;
    }
    await sleep(100);
  }
  throw new Error(`no Bochs process below pid ${pid} within ${withinMs} ms`);
}

/** Gone, or a zombie nobody has reaped yet (it runs nothing and holds nothing). */
async function expectGone(pid: number, withinMs = 5000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const info = processTable().get(pid);
    if (!info || info.state === 'Z') return;
    if (Date.now() - t0 > withinMs) throw new Error(`Bochs (pid ${pid}) still runs: ${info.state}`);
    await sleep(100);
  }
}

describe.skipIf(skip)(withReason('tvctl vm run --engine bochs', skip), () => {
  beforeAll(async () => {
    roots = await makeRoots();
    runTmp = mkdtempSync(join(tmpdir(), 'tvctl-bochs-it-'));
    env = { ...roots.env, TMPDIR: runTmp };
    await importDemo(roots);
    const k = await tvctl(roots, ['vm', 'kernel', 'install'], { timeout: 180_000 });
    expect(k.exitCode, k.stderr).toBe(0);
    // first run: builds the initramfs and the boot CD (both cached)
    const warm = await bochsRun(['demo', 'true']);
    expect(warm.exitCode, warm.stderr).toBe(0);
    ready = true;
  }, 400_000);

  afterAll(async () => {
    await roots?.cleanup();
    if (runTmp) rmSync(runTmp, { recursive: true, force: true });
  });

  it('prints the command output, nothing from the kernel or Bochs, exits 0 and leaves no temporary files', async () => {
    expect(ready).toBe(true);
    const r = await bochsRun(['demo', 'echo', 'hi']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'hi', stderr: '' });
    expect(readdirSync(runTmp)).toEqual([]);
    const cds = readdirSync(join(roots.data, 'vm', 'bochs-iso'));
    expect(cds.filter((f) => f.endsWith('.iso'))).toHaveLength(1);
  }, 200_000);

  it("exits with the command's exit code, stdout and stderr apart; a missing command is 127", async () => {
    const r = await bochsRun(['demo', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
    expect(r).toMatchObject({ exitCode: 7, stdout: 'out', stderr: 'err' });
    const missing = await bochsRun(['demo', 'no-such-command']);
    expect(missing.exitCode).toBe(127);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/no-such-command/);
  }, 400_000);

  it('delivers all of a larger output, in order, on both streams; a command line near the limit gets through isolinux', async () => {
    // 1100 bytes of environment: ~2010 bytes of kernel command line, just under what isolinux leaves
    const long = 'x'.repeat(1100);
    const r = await bochsRun([
      '-e',
      `LONG=${long}`,
      'demo',
      'sh',
      '-c',
      'echo ${#LONG}; seq 1 3000; seq 1 500 >&2; exit 4',
    ]);
    expect(r.exitCode, r.stderr.slice(-300)).toBe(4);
    expect(r.stdout.split('\n')).toEqual(['1100', ...Array.from({ length: 3000 }, (_, i) => String(i + 1))]);
    expect(r.stderr.split('\n')).toEqual(Array.from({ length: 500 }, (_, i) => String(i + 1)));
  }, 200_000);

  it('--json reports the bochs engine and the bzImage it booted', async () => {
    const r = await bochsRun(['--json', 'demo', 'true']);
    expect(r.exitCode, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { engine: string; bootKernel: string; kernel: string; cmdline: string };
    expect(j.engine).toBe('bochs (interpreted)');
    expect(j.bootKernel).toBe(j.kernel);
    expect(j.cmdline).toMatch(/ initcall_blacklist=\S+ /);
  }, 200_000);

  it('SIGTERM to tvctl stops the VM: Bochs is killed, its files removed, tvctl fails saying why', async () => {
    const cli = execa(TVCTL, ['vm', 'run', '--engine', 'bochs', 'demo', 'sleep', '600'], {
      env,
      reject: false,
      stdin: 'ignore',
      timeout: RUN_MS,
    });
    const vmm = await bochsBelow(cli.pid!);
    expect(readdirSync(runTmp)).toHaveLength(1); // its run directory, while it runs
    cli.kill('SIGTERM');
    const r = await cli;
    expect(r.exitCode).not.toBe(0);
    expect(String(r.stderr)).toMatch(/stopped before the command finished: the run was cancelled/);
    await expectGone(vmm);
    expect(readdirSync(runTmp)).toEqual([]);
  }, 200_000);

  it('SIGKILL to tvctl still kills Bochs (parent-death signal); the next run sweeps the dead run’s files', async () => {
    const cli = execa(TVCTL, ['vm', 'run', '--engine', 'bochs', 'demo', 'sleep', '600'], {
      env,
      reject: false,
      stdin: 'ignore',
      timeout: RUN_MS,
    });
    const vmm = await bochsBelow(cli.pid!);
    cli.kill('SIGKILL');
    await cli;
    await expectGone(vmm);
    expect(readdirSync(runTmp)).toHaveLength(1); // nothing could remove it
    const next = await bochsRun(['demo', 'true']);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(readdirSync(runTmp)).toEqual([]);
  }, 300_000);

  it('a kernel panic ends the run at once, with the reason', async () => {
    // panic=-1 reboot=t + reset_on_triple_fault=0: the panic's reboot is a triple fault, which ends Bochs
    const r = await bochsRun(['demo', 'sh', '-c', 'echo c > /proc/sysrq-trigger']);
    expect(r.exitCode).toBe(125);
    expect(r.stderr).toMatch(/stopped before the command finished: the guest triple-faulted, as a kernel panic/);
    expect(readdirSync(runTmp)).toEqual([]);
  }, 200_000);

  it('tvctl info says bochs is usable here', async () => {
    const r = await tvctl(roots, ['info', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as { engines: { engine: string; usable: boolean; fullLinux: boolean }[] };
    expect(info.engines.find((e) => e.engine === 'bochs')).toMatchObject({ usable: true, fullLinux: true });
    const human = await tvctl(roots, ['info']);
    expect(human.stdout).toMatch(/^ {2}bochs +full Linux: /m);
    expect(human.stdout).toMatch(/^Interpreted emulation \(Bochs.* usable here\.$/m);
  });

  it('where Bochs cannot run, fails at once saying what is missing and what to install', async () => {
    // BXSHARE (Bochs's own variable for its data directory) pointing nowhere: no BIOS images
    const r = await execa(TVCTL, ['vm', 'run', '--engine', 'bochs', 'demo', 'true'], {
      env: { ...env, BXSHARE: '/nonexistent' },
      reject: false,
      stdin: 'ignore',
    });
    expect(r.exitCode).toBe(125);
    expect(String(r.stderr)).toMatch(
      /^tvctl: --engine bochs cannot work here: Bochs has no BIOS images \(\/nonexistent\/BIOS-bochs-latest.*apt-get install bochsbios vgabios$/,
    );
  });
});
