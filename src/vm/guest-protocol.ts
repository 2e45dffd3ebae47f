/**
 * The protocol between the host and the guest init (native/guestinit/guestinit.c), shared by every VM engine:
 *
 * - host → guest: the guest init's path in the initramfs, and its configuration, one word on the kernel
 *   command line after "--": base64url of NUL-separated records, "tvctl1" first, then n<nonce>,
 *   h<hostname>, w<cwd>, u<uid:gid>, e<K=V> (each), a<arg> (each, in order).
 * - guest → host: markers on the console UART (ttyS0), each on a line of its own:
 *     @@tvctl:<nonce>:init <ms>@@            the init started (guest CLOCK_BOOTTIME, ms)
 *     @@tvctl:<nonce>:exit <status> <ms>@@   the command ended (its code, or 128+signal)
 *     @@tvctl:<nonce>:fail <message>@@       the guest could not be set up
 *   The command's stdout and stderr have UARTs of their own (ttyS1, ttyS2); the nonce (random per run)
 *   keeps anything else written to the console from forging a marker by accident.
 * - with TVCTL_WORK_TIMES=1 among the env records (not passed on to the command), the guest init writes the
 *   command's start and end (guest CLOCK_MONOTONIC, ns) as the last line of the stderr UART:
 *   `@@tvctl-work:<start>:<end>@@` — the same line tvinit writes on a container's stderr, so the caller of
 *   `vm run` reads it the way it reads a container's (src/compare/phases.ts parses it).
 */
import { TvctlError } from '../errors.js';

/** Where the guest init lives inside the initramfs (the kernel runs it via rdinit=). It unlinks itself. */
export const GUEST_INIT_PATH = '/.tvctl-init';

/** Where `tvctl compare --workload` finds its static workload (native/workload) in every mode's root. */
export const WORKLOAD_PATH = '/.tvctl-workload';

export const GUEST_CONFIG_VERSION = 'tvctl1';

export interface GuestConfig {
  nonce: string;
  hostname: string;
  cwd: string;
  env: string[];
  argv: string[];
  user?: string;
}

/** NUL-separated records, base64url: a single word the kernel passes to init after "--". */
export function encodeGuestConfig(c: GuestConfig): string {
  const rec = [GUEST_CONFIG_VERSION, `n${c.nonce}`, `h${c.hostname}`, `w${c.cwd}`];
  if (c.user) rec.push(`u${c.user}`);
  for (const e of c.env) rec.push(`e${e}`);
  for (const a of c.argv) rec.push(`a${a}`);
  for (const r of rec)
    if (r.includes('\0')) throw new TvctlError('BAD_USAGE', 'arguments and environment cannot contain NUL bytes');
  return Buffer.from(rec.map((r) => r + '\0').join(''), 'utf8').toString('base64url');
}

export function decodeGuestConfig(word: string): string[] {
  const s = Buffer.from(word, 'base64url').toString('utf8');
  return s.split('\0').slice(0, -1);
}

export type GuestMarker =
  | { kind: 'init'; uptimeMs: number }
  | { kind: 'exit'; status: number; uptimeMs: number }
  | { kind: 'fail'; message: string };

/** Follows a console stream and yields the guest init's markers; tolerant of chunk boundaries and noise. */
export class MarkerParser {
  private buf = '';
  private readonly re: RegExp;
  constructor(nonce: string) {
    if (!/^[0-9a-zA-Z]+$/.test(nonce)) throw new Error('marker nonce must be alphanumeric');
    this.re = new RegExp(`@@tvctl:${nonce}:(init|exit|fail) ([^@\\r\\n]*)@@`, 'g');
  }

  push(chunk: string): GuestMarker[] {
    this.buf += chunk;
    const out: GuestMarker[] = [];
    let m: RegExpExecArray | null;
    let consumed = 0;
    this.re.lastIndex = 0;
    while ((m = this.re.exec(this.buf)) !== null) {
      const marker = parseMarkerBody(m[1]!, m[2]!);
      if (marker) out.push(marker);
      consumed = this.re.lastIndex;
    }
    // keep only what could still be the start of a marker
    const rest = this.buf.slice(consumed);
    const at = rest.lastIndexOf('@@tvctl:');
    this.buf = at >= 0 ? rest.slice(at) : rest.slice(-8);
    if (this.buf.length > 4096) this.buf = this.buf.slice(-4096);
    return out;
  }
}

export function parseMarkerBody(kind: string, body: string): GuestMarker | undefined {
  if (kind === 'init') {
    const ms = Number(body);
    return Number.isFinite(ms) ? { kind: 'init', uptimeMs: ms } : undefined;
  }
  if (kind === 'exit') {
    const m = /^(\d+) (\d+)$/.exec(body.trim());
    return m ? { kind: 'exit', status: Number(m[1]), uptimeMs: Number(m[2]) } : undefined;
  }
  if (kind === 'fail') return { kind: 'fail', message: body };
  return undefined;
}

export interface GuestRunIO {
  onStdout: (b: Buffer) => void;
  onStderr: (b: Buffer) => void;
  /** kernel console bytes (shown with --debug) */
  onConsole?: (b: Buffer) => void;
}

export interface GuestRunResult {
  /** the command's status as the guest init reported it; undefined if the guest never reported */
  status?: number;
  failure?: string;
  /** host ms since spawn */
  hostInitMs?: number;
  hostExitMs?: number;
  hostEndMs: number;
  guestInitMs?: number;
  guestExitMs?: number;
  /** VMM exit code, for diagnostics */
  vmmExitCode: number | undefined;
  vmmStderr: string;
}

/**
 * What every engine does with the guest's console: pass it on (--debug), follow the guest init's markers
 * and record the command's status and the host/guest times into a GuestRunResult. Engines feed it the
 * console (ttyS0) bytes and route ttyS1/ttyS2 to `io.onStdout`/`io.onStderr` themselves.
 */
export class GuestConsoleMonitor {
  readonly result: GuestRunResult = { hostEndMs: 0, vmmExitCode: undefined, vmmStderr: '' };
  private readonly parser: MarkerParser;
  constructor(
    nonce: string,
    private readonly io: GuestRunIO,
    /** host time (performance.now()) the VMM was started */
    private readonly t0: number,
  ) {
    this.parser = new MarkerParser(nonce);
  }

  /** Console bytes; returns the markers they completed. */
  console(b: Buffer, now: number = performance.now()): GuestMarker[] {
    this.io.onConsole?.(b);
    const markers = this.parser.push(b.toString('latin1'));
    for (const m of markers) {
      const at = now - this.t0;
      if (m.kind === 'init') {
        this.result.hostInitMs = at;
        this.result.guestInitMs = m.uptimeMs;
      } else if (m.kind === 'exit') {
        this.result.hostExitMs = at;
        this.result.guestExitMs = m.uptimeMs;
        this.result.status = m.status;
      } else {
        this.result.failure = m.message;
      }
    }
    return markers;
  }

  /** The run is over: stamps the end time. */
  end(now: number = performance.now()): GuestRunResult {
    this.result.hostEndMs = now - this.t0;
    return this.result;
  }
}

/** A marker as the guest init writes it (its `marker()`): the parser's counterpart, for tests and tools. */
export function markerLine(nonce: string, body: string): string {
  return `\n@@tvctl:${nonce}:${body}@@\n`;
}
