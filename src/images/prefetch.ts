/**
 * A layer that bin/tvctl started unpacking while Node was still starting (`tvuntar --prefetch`, see
 * native/untar). For `image load` of an archive file, the launcher forks tvuntar, which unpacks the first
 * uncompressed layer it finds into the store's staging area, and tells us on the pipe whose fd is in
 * $TVCTL_PREFETCH_FD: "none", or "prefetch PID DEV INO OFFSET LENGTH DIR" and then its result line.
 *
 * The load adopts that directory only for the region it would have unpacked itself (same device, inode,
 * offset and length), and checks the result like its own. Anything else is released: the child is killed
 * and its directory removed, before tvctl exits (`releasePrefetch`, called by the fast path's main).
 */
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { trace } from '../util/trace.js';
import type { FileRegion } from './file-source.js';
import { parseUntarResult, regionResult, type LayerUnpackResult } from './unpack.js';

export interface PrefetchHello {
  pid: number;
  dev: bigint;
  ino: bigint;
  offset: number;
  length: number;
  /** the staging dir; the layer is DIR/layer (fs/ and tar-split, as stageLayer makes it) */
  dir: string;
}

/** The child's first line: undefined for "none" or anything unexpected (then there is nothing to adopt). */
export function parseHello(line: string | undefined): PrefetchHello | undefined {
  const m = /^prefetch (\d+) (\d+) (\d+) (\d+) (\d+) (\/.*)$/.exec(line ?? '');
  if (!m) return undefined;
  return {
    pid: Number(m[1]),
    dev: BigInt(m[2]!),
    ino: BigInt(m[3]!),
    offset: Number(m[4]),
    length: Number(m[5]),
    dir: m[6]!,
  };
}

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
  private buf = '';
  private readonly lines: string[] = [];
  private ended = false;
  private waiters: (() => void)[] = [];

  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (c: string) => {
      this.buf += c;
      for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
        this.lines.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
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
  hello: Promise<PrefetchHello | undefined>;
}

let current: Prefetch | undefined;

/** Takes the launcher's pipe, if any (and drops the variable, so that nothing tvctl runs inherits it). */
export function takePrefetch(env: NodeJS.ProcessEnv = process.env): void {
  const v = env['TVCTL_PREFETCH_FD'];
  delete env['TVCTL_PREFETCH_FD'];
  if (!v || !/^\d+$/.test(v)) return;
  let sock: Socket;
  try {
    sock = new Socket({ fd: Number(v), readable: true, writable: false });
  } catch {
    return; // not a pipe: no prefetch
  }
  const pipe = new ChildPipe(sock);
  current = { pipe, hello: pipe.next().then(parseHello) };
}

/**
 * The prefetched layer, moved to `dir`, if it is `region`'s; undefined if there is none to adopt (the
 * caller then unpacks the layer itself). A failed prefetched unpack throws its error, as the caller's own
 * unpack of the same bytes would have.
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
    if (line === undefined) {
      trace('prefetch: the extractor ended without a result; unpacking here');
      return undefined;
    }
    const r = regionResult(region, parseUntarResult(line));
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
  const hello = await p.hello;
  // While its end of the pipe is open, the child has not exited. It is our own child (the launcher forked
  // it, then exec'd Node), which libuv does not reap: once exited, its pid stays taken until we exit.
  if (hello && !p.pipe.exited) {
    try {
      process.kill(hello.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await p.pipe.end();
  if (hello) await fsp.rm(hello.dir, { recursive: true, force: true });
}
