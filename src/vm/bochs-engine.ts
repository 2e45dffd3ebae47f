/**
 * The bochs engine: the interpreted rung. Same initramfs, guest init, command line and guest-init protocol
 * (guest-protocol.ts) as the other engines; the kernel is the bzImage itself, loaded by isolinux from a
 * boot CD (bochs-iso.ts). Bochs's COM1/COM2/COM3 are ttyS0 (kernel console + markers), ttyS1 (stdout) and
 * ttyS2 (stderr); each writes to a FIFO of this run, read here as it arrives.
 *
 * Every run has a temporary directory (its CD copy, bochsrc, debugger rc, log and FIFOs) that is removed on
 * every path, and Bochs is killed on every path (timeout, abort, error) before run() returns.
 */
import { constants, openSync, closeSync, promises as fsp } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { runCommand, startCommand } from '../util/exec.js';
import { trace } from '../util/trace.js';
import {
  BOCHS_DEBUGGER_RC,
  BOCHS_KERNEL_PARAMS,
  ISOLINUX_CMDLINE_OVERHEAD,
  bochsStopLine,
  buildBochsArgv,
  buildBochsrc,
  isSoftPowerOff,
  wrapBochs,
  type BochsWrappers,
  type BochsInstall,
} from './bochs.js';
import { ensureBochsIso, writeRunIso } from './bochs-iso.js';
import type { GuestBootSpec, VmEngine } from './engine.js';
import { KERNEL_CMDLINE_MAX } from './engine.js';
import { GuestConsoleMonitor, type GuestRunIO, type GuestRunResult } from './guest-protocol.js';
import { findOnPath } from './probe.js';

/** After the exit marker the guest powers off (Bochs then exits by itself); if not within this time, we stop it. */
export const BOCHS_POWER_OFF_GRACE_MS = 3000;

/** What is kept of Bochs's stdout/stderr and log for a diagnosis. */
const KEEP_BYTES = 16_384;

/** Run directories are named after the tvctl that made them: one whose tvctl is gone (killed) is swept. */
export const RUN_DIR_PREFIX = 'tvctl-bochs-';

/** Pure: the pid in a run directory's name, or undefined for a name that is not one. */
export function runDirPid(name: string): number | undefined {
  const m = new RegExp(`^${RUN_DIR_PREFIX}(\\d+)-[A-Za-z0-9]{6}$`).exec(name);
  return m ? Number(m[1]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes run directories left by a tvctl that was killed (SIGKILL leaves no chance to clean up). */
export async function sweepStaleRunDirs(parent: string): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const pid = runDirPid(n);
    if (pid !== undefined && pid !== process.pid && !alive(pid))
      await fsp.rm(join(parent, n), { recursive: true, force: true });
  }
}

/** A FIFO's read end as a stream, plus a write end we hold so it reads EOF only once we let go (after Bochs). */
interface FifoReader {
  stream: Socket;
  release(): void;
  closed: Promise<void>;
}

function openFifo(path: string): FifoReader {
  const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  let wfd: number | undefined = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  const stream = new Socket({ fd: rfd, readable: true, writable: false });
  const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  stream.on('error', () => undefined);
  return {
    stream,
    closed,
    release: () => {
      if (wfd !== undefined) closeSync(wfd);
      wfd = undefined;
    },
  };
}

/** The wrappers found here: a network namespace needs root; without setpriv, Bochs dies with us only on a clean exit. */
export function defaultWrappers(): BochsWrappers {
  const unshare = process.geteuid?.() === 0 ? findOnPath('unshare') : undefined;
  const setpriv = findOnPath('setpriv');
  return { ...(unshare ? { unshare } : {}), ...(setpriv ? { setpriv } : {}) };
}

export class BochsEngine implements VmEngine {
  readonly name = 'bochs' as const;
  readonly label = 'bochs (interpreted)';
  readonly kernelParams = BOCHS_KERNEL_PARAMS as string[];
  /** isolinux loads a bzImage, not the extracted ELF vmlinux */
  readonly bootsBzImage = true;
  constructor(
    readonly install: BochsInstall,
    readonly why: string,
    private readonly dataRoot: string,
    private readonly wrappers: BochsWrappers = defaultWrappers(),
  ) {}

  describeStop(r: GuestRunResult): string {
    return r.vmmStderr || 'Bochs stopped';
  }

  async run(
    spec: GuestBootSpec,
    io: GuestRunIO,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<GuestRunResult> {
    if (spec.cpus !== 1)
      throw new TvctlError('VM_ENGINE_UNAVAILABLE', '--engine bochs runs one vCPU; use --cpus 1 or another engine');
    if (spec.cmdline.length + ISOLINUX_CMDLINE_OVERHEAD >= KERNEL_CMDLINE_MAX)
      throw new TvctlError(
        'VM_CMDLINE_TOO_LONG',
        `the command, environment and working dir need ${spec.cmdline.length} bytes on the kernel command line; isolinux leaves ${KERNEL_CMDLINE_MAX - 1 - ISOLINUX_CMDLINE_OVERHEAD}; shorten them`,
      );
    const iso = await ensureBochsIso({
      dataRoot: this.dataRoot,
      kernel: spec.kernel,
      initrd: spec.initrd,
      install: this.install,
    });
    trace(`vm: boot CD ${iso.built ? 'built' : 'cached'}`);
    await sweepStaleRunDirs(tmpdir());
    const dir = await fsp.mkdtemp(join(tmpdir(), `${RUN_DIR_PREFIX}${process.pid}-`));
    const fifos: FifoReader[] = [];
    try {
      const files = {
        iso: join(dir, 'boot.iso'),
        rc: join(dir, 'bochsrc'),
        dbg: join(dir, 'debugger.rc'),
        log: join(dir, 'bochs.log'),
        serial: [join(dir, 'com1'), join(dir, 'com2'), join(dir, 'com3')] as const,
      };
      await writeRunIso(iso, spec.cmdline, files.iso);
      await fsp.writeFile(
        files.rc,
        buildBochsrc({
          bios: this.install.bios,
          vgaBios: this.install.vgaBios,
          iso: files.iso,
          memoryMiB: spec.memoryMiB,
          serial: files.serial,
          log: files.log,
        }),
      );
      await fsp.writeFile(files.dbg, BOCHS_DEBUGGER_RC);
      await runCommand({ file: 'mkfifo', args: ['-m', '600', ...files.serial] });
      for (const f of files.serial) fifos.push(openFifo(f));
      return await this.boot(spec, io, opts, files, fifos);
    } finally {
      for (const f of fifos) {
        f.release();
        f.stream.destroy();
      }
      await fsp.rm(dir, { recursive: true, force: true });
    }
  }

  private async boot(
    spec: GuestBootSpec,
    io: GuestRunIO,
    opts: { timeoutMs?: number; signal?: AbortSignal },
    files: { rc: string; dbg: string; log: string },
    fifos: FifoReader[],
  ): Promise<GuestRunResult> {
    const [con, out, err] = fifos as [FifoReader, FifoReader, FifoReader];
    const t0 = performance.now();
    const monitor = new GuestConsoleMonitor(spec.nonce, io, t0);
    const result = monitor.result;
    const cmd = wrapBochs(buildBochsArgv(this.install.binary, files.rc, files.dbg), this.wrappers);
    trace('vm: spawning Bochs');
    // Our own SIGKILL rather than startCommand's SIGTERM-then-wait: a VMM has nothing to save.
    const child = startCommand(cmd, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    let grace: NodeJS.Timeout | undefined;
    const kill = (): void => child.kill('SIGKILL');
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, opts.timeoutMs)
      : undefined;
    opts.signal?.addEventListener('abort', kill, { once: true });
    if (opts.signal?.aborted) kill();
    let chatter = '';
    const keep = (b: Buffer): void => {
      chatter = (chatter + b.toString('latin1')).slice(-KEEP_BYTES);
    };
    child.pipe(1)?.on('data', keep);
    child.pipe(2)?.on('data', keep);
    con.stream.on('data', (b: Buffer) => {
      for (const m of monitor.console(b)) {
        if (m.kind !== 'init' && !grace) grace = setTimeout(kill, BOCHS_POWER_OFF_GRACE_MS);
      }
    });
    out.stream.on('data', io.onStdout);
    err.stream.on('data', io.onStderr);
    try {
      const r = await child.exited;
      // Bochs has closed its ends: let go of ours, and the FIFOs end once what is in them has been read.
      for (const f of fifos) f.release();
      await Promise.all(fifos.map((f) => f.closed));
      monitor.end();
      if (r.notFound)
        throw new TvctlError('VM_ENGINE_UNAVAILABLE', `${cmd.file}: not installed; apt-get install bochs bochsbios`);
      const poweredOff = isSoftPowerOff(chatter);
      result.vmmExitCode = poweredOff || result.status !== undefined ? 0 : r.exitCode;
      if (result.status === undefined) {
        const log = await fsp.readFile(files.log, 'latin1').catch(() => '');
        result.vmmStderr = timedOut
          ? `no result within ${Math.round((opts.timeoutMs ?? 0) / 1000)} s`
          : opts.signal?.aborted
            ? 'the run was cancelled'
            : poweredOff
              ? 'the guest powered off before the guest init reported'
              : bochsStopLine(chatter, log.slice(-KEEP_BYTES));
      }
      return result;
    } finally {
      clearTimeout(timer);
      clearTimeout(grace);
      opts.signal?.removeEventListener('abort', kill);
      kill();
      await child.exited;
    }
  }
}
