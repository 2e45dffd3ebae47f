import { open, readFile } from 'node:fs/promises';
import { TvctlError, isErrno } from '../errors.js';
import type { Runtime } from './runtime.js';

/** One record of the CRI log format the supervisor writes: `<RFC3339Nano> <stdout|stderr> <F|P> <content>`. */
export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** false for a partial line (P): the next record continues it. */
  full: boolean;
  content: string;
}

export function parseCriLine(line: string): LogRecord | undefined {
  const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/s.exec(line);
  if (!m) return undefined;
  return { time: m[1]!, stream: m[2] as 'stdout' | 'stderr', full: m[3] === 'F', content: m[4]! };
}

export function parseCriLog(text: string): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of text.split('\n')) {
    const r = line ? parseCriLine(line) : undefined;
    if (r) out.push(r);
  }
  return out;
}

/** `--since`: an RFC 3339 date, a Unix timestamp, or a duration relative to now (10s, 5m, 1h30m). */
export function parseSince(value: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const rel = /^((\d+)h)?((\d+)m)?((\d+)s)?$/.exec(value);
  if (rel && value !== '') {
    const ms = (Number(rel[2] ?? 0) * 3600 + Number(rel[4] ?? 0) * 60 + Number(rel[6] ?? 0)) * 1000;
    return now - ms;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t))
    throw new TvctlError(
      'BAD_USAGE',
      `invalid value for "since": "${value}" (use a date, a Unix time or a duration like 10m)`,
    );
  return t;
}

export interface LogSelection {
  tail?: number;
  since?: number;
}

/** Selects records as `docker logs` does: since first, then the last N lines. */
export function selectRecords(records: readonly LogRecord[], sel: LogSelection): LogRecord[] {
  let out = sel.since !== undefined ? records.filter((r) => Date.parse(r.time) >= sel.since!) : [...records];
  if (sel.tail !== undefined && sel.tail >= 0) out = sel.tail === 0 ? [] : out.slice(-sel.tail);
  return out;
}

export function formatRecord(r: LogRecord, timestamps: boolean): string {
  return (timestamps ? `${r.time} ` : '') + r.content + (r.full ? '\n' : '');
}

/** Reads the whole log (empty when the container has none yet). */
export async function readLog(file: string): Promise<{ records: LogRecord[]; size: number }> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    if (isErrno(err, 'ENOENT')) return '';
    throw err;
  });
  return { records: parseCriLog(text), size: Buffer.byteLength(text) };
}

/** Follows the log from `offset`, calling `emit` per complete record, until `done()` says the writer is gone. */
export async function followLog(
  file: string,
  offset: number,
  emit: (r: LogRecord) => void,
  done: () => Promise<boolean>,
): Promise<void> {
  let pos = offset;
  let pending = '';
  for (;;) {
    const finished = await done();
    const fh = await open(file, 'r').catch(() => undefined);
    if (fh) {
      try {
        const { size } = await fh.stat();
        if (size > pos) {
          const buf = Buffer.alloc(size - pos);
          await fh.read(buf, 0, buf.length, pos);
          pos = size;
          pending += buf.toString('utf8');
          const lines = pending.split('\n');
          pending = lines.pop() ?? '';
          for (const l of lines) {
            const r = parseCriLine(l);
            if (r) emit(r);
          }
        }
      } finally {
        await fh.close();
      }
    }
    if (finished) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `tvctl logs`: the selected records of a container's log, each passed to `emit`; with `follow`, the records
 * written afterwards too, until the container stops. Resolves with the selected (not the followed) records.
 */
export async function containerLogs(
  rt: Runtime,
  ref: string,
  opts: LogSelection & { follow?: boolean },
  emit: (r: LogRecord) => void,
): Promise<LogRecord[]> {
  const info = await rt.inspect(ref);
  const file = rt.store.paths(info.id).log;
  const { records, size } = await readLog(file);
  const selected = selectRecords(records, opts);
  selected.forEach(emit);
  if (opts.follow) await followLog(file, size, emit, async () => !(await rt.inspect(info.id)).state.running);
  return selected;
}
