/**
 * A layer that bin/tvctl started unpacking while Node was still starting (`tvuntar --prefetch`, see
 * native/untar). For `image load` of an archive file, the launcher forks tvuntar, which unpacks the first
 * uncompressed layer it finds into the store's staging area. $TVCTL_PREFETCH is "FD:PID": a pipe on which
 * the child says "none", or "prefetch PID DEV INO OFFSET LENGTH DIR" and then its result line; and the child.
 *
 * The load adopts that directory only for the region it would have unpacked itself (same device, inode,
 * offset and length), and only a successful result, which it checks like its own; a failed one is unpacked
 * again here, so that errors are always tvctl's own. Anything else is released: the child is killed and its
 * directory removed, before tvctl exits (`releasePrefetch`, called by the fast path's main).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { trace } from '../util/trace.js';
import type { FileRegion } from './file-source.js';
import type { LayerUnpackResult } from './layer.js';
import { LineSplitter, parseHello, parseUntarResult, resultOfLength, type PrefetchHello } from './tvuntar.js';

/** Whether the load's layer region is the prefetched one: 'yes', 'later' (it may still come), or 'no'. */
export function matchRegion(
  hello: PrefetchHello,
  file: { dev: bigint; ino: bigint } | undefined,
  region: Pick<FileRegion, 'offset' | 'length'>,
): 'yes' | 'later' | 'no' {
  if (!file || file.dev !== hello.dev || file.ino !== hello.ino) return 'no';
  if (region.offset === hello.offset) return region.length === hello.length ? 'yes' : 'no';
  // tvuntar skips layers under 1 MiB that tvctl unpacks too: a smaller one before it is not a mismatch
  return region.offset < hello.offset ? 'later' : 'no';
}

/** Lines from the child, and its end (EOF: it exited, as only it holds the pipe's write end). */
class ChildPipe {
  private readonly splitter = new LineSplitter();
  private readonly lines: string[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      this.lines.push(...this.splitter.push(c));
      this.wake();
    });
    const end = (): void => {
      this.ended = true;
      this.wake();
    };
    sock.on('end', end);
    sock.on('close', end);
    sock.on('error', end);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until(cond: () => boolean): Promise<void> {
    while (!cond()) await new Promise<void>((r) => this.waiters.push(r));
  }

  async next(): Promise<string | undefined> {
    await this.until(() => this.lines.length > 0 || this.ended);
    return this.lines.shift();
  }

  get exited(): boolean {
    return this.ended;
  }

  async end(): Promise<void> {
    await this.until(() => this.ended);
    this.sock.destroy();
  }
}

interface Prefetch {
  pipe: ChildPipe;
  child: number;
  hello: Promise<PrefetchHello | undefined>;
}

let current: Prefetch | undefined;

/** Takes the launcher's pipe, if any (and drops the variable, so that nothing tvctl runs inherits it). */
export function takePrefetch(env: NodeJS.ProcessEnv = process.env): void {
  const v = /^(\d+):(\d+)$/.exec(env['TVCTL_PREFETCH'] ?? '');
  delete env['TVCTL_PREFETCH'];
  if (!v || Number(v[1]) < 3) return;
  const child = Number(v[2]);
  if (parentOf(child) !== process.pid) return; // not the launcher's child: not ours to use
  let sock: Socket;
  try {
    sock = new Socket({ fd: Number(v[1]), readable: true, writable: false });
  } catch {
    process.kill(child, 'SIGKILL'); // not a pipe we can read: no prefetch (its dir carries our pid: swept later)
    return;
  }
  const pipe = new ChildPipe(sock);
  current = { pipe, child, hello: pipe.next().then((l) => parseHello(l, { self: process.pid, child })) };
}

/**
 * The prefetched layer, moved to `dir`, if it is `region`'s and was unpacked; undefined if there is none to
 * adopt (the caller then unpacks the layer itself).
 */
export async function adoptPrefetched(region: FileRegion, dir: string): Promise<LayerUnpackResult | undefined> {
  const p = current;
  if (!p) return undefined;
  const hello = await p.hello;
  if (!hello) return void (await releasePrefetch());
  let file: fs.BigIntStats | undefined;
  try {
    file = fs.statSync(region.file, { bigint: true });
  } catch {
    file = undefined;
  }
  const match = matchRegion(hello, file, region);
  if (match === 'later') return undefined;
  if (match === 'no') {
    trace('prefetch: not this layer, released');
    return void (await releasePrefetch());
  }
  current = undefined; // claimed: nobody else may take or release it
  trace('prefetch: adopting the layer the launcher started');
  try {
    const line = await p.pipe.next();
    await p.pipe.end(); // the child has exited: nothing writes into its directory any more
    let r;
    try {
      r = resultOfLength(region.length, parseUntarResult(line ?? 'no result'));
    } catch (err) {
      trace(`prefetch: the extractor failed (${(err as Error).message}); unpacking here`);
      return undefined;
    }
    await fsp.rename(join(hello.dir, 'layer'), dir);
    trace('tvuntar: done (prefetched)');
    return r;
  } finally {
    await fsp.rm(hello.dir, { recursive: true, force: true });
  }
}

/** Stops an unclaimed prefetch: kills the child, waits for it to exit, removes its directory. Idempotent. */
export async function releasePrefetch(): Promise<void> {
  const p = current;
  if (!p) return;
  current = undefined;
  // While its end of the pipe is open, the child has not exited; and it is our own child (the launcher
  // forked it, then exec'd Node), which libuv does not reap: once exited, its pid stays taken until we exit.
  if (!p.pipe.exited) {
    try {
      process.kill(p.child, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await p.pipe.end();
  const hello = await p.hello; // said before its directory exists, if at all
  if (hello) await fsp.rm(hello.dir, { recursive: true, force: true });
}

/** The parent pid of a process (from /proc/PID/stat), or undefined. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
