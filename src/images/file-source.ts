import * as fs from 'node:fs';

const CHUNK = 1 << 20;

/** A byte range of a file: an uncompressed layer inside an uncompressed archive, or a whole blob file. */
export interface FileRegion {
  file: string;
  offset: number;
  length: number;
}

export function isFileRegion(x: unknown): x is FileRegion {
  return typeof x === 'object' && x !== null && 'file' in x && 'offset' in x && 'length' in x;
}

/**
 * A file (or a range of it) as fresh 1 MiB chunks, read on this thread with positional reads, that can
 * also skip ahead without reading (the archive reader skips a layer the extractor reads by itself).
 * Reading here rather than on a pool thread (a ReadStream) keeps each chunk in this core's cache for
 * the digest that follows.
 */
export class FileSource implements AsyncIterable<Buffer> {
  private fd = -1;
  private pos: number;
  private end: number;

  constructor(
    readonly path: string,
    start = 0,
    length = Infinity,
    /** bytes passed so far (read or skipped), from the start of the file */
    private readonly onProgress?: (pos: number) => void,
  ) {
    this.pos = start;
    this.end = start + length;
  }

  private open(): number {
    if (this.fd < 0) {
      this.fd = fs.openSync(this.path, 'r');
      this.end = Math.min(this.end, fs.fstatSync(this.fd).size);
    }
    return this.fd;
  }

  /** Moves on by up to n bytes without reading them; returns how many (fewer only at the end). */
  skip(n: number): number {
    this.open();
    const k = Math.max(0, Math.min(n, this.end - this.pos));
    this.pos += k;
    this.onProgress?.(this.pos);
    return k;
  }

  close(): void {
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const fd = this.open();
    try {
      while (this.pos < this.end) {
        const want = Math.min(CHUNK, this.end - this.pos);
        const b = Buffer.allocUnsafeSlow(want);
        const n = fs.readSync(fd, b, 0, want, this.pos);
        if (n === 0) return;
        this.pos += n;
        this.onProgress?.(this.pos);
        yield n === want ? b : b.subarray(0, n);
      }
    } finally {
      this.close();
    }
  }
}

/** A whole file in fresh 1 MiB chunks, read synchronously (a blob written into an archive). */
export function* fileChunks(path: string): Generator<Buffer> {
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (n === 0) return;
      yield Buffer.from(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * stdin as a file path when it is a regular file read from its start (`tvctl image load < image.tar`), so
 * that the load takes the same path as `-i FILE` (the extractor reads layers in place). The path names
 * this process's own descriptor, so it stays valid for the helpers it starts. Otherwise undefined: a
 * pipe, or a file someone already read part of, is read as a stream.
 */
export function stdinAsFile(): string | undefined {
  try {
    if (!fs.fstatSync(0).isFile()) return undefined;
    const pos = /^pos:\s*(\d+)$/m.exec(fs.readFileSync('/proc/self/fdinfo/0', 'utf8'));
    return pos?.[1] === '0' ? `/proc/${process.pid}/fd/0` : undefined;
  } catch {
    return undefined;
  }
}

const PIPE_CHUNK = 256 << 10;

/** Whether stdin is a pipe or a socket (`docker save … | tvctl image load`): see PipeSource. */
export function stdinIsPipe(): boolean {
  try {
    const st = fs.fstatSync(0);
    return st.isFIFO() || st.isSocket();
  } catch {
    return false;
  }
}

/**
 * A pipe (stdin) read with bounded reads of our own rather than through process.stdin, which reads ahead:
 * the descriptor's position is then always just past what was handed out, so that a helper can go on
 * reading it (an uncompressed layer: see load-stage.ts).
 */
export class PipeSource implements AsyncIterable<Buffer> {
  private total = 0;

  constructor(
    readonly fd: number,
    private readonly onProgress?: (n: number) => void,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const b = Buffer.allocUnsafe(PIPE_CHUNK);
      const n = await readSome(this.fd, b, PIPE_CHUNK);
      if (n === 0) return;
      this.counted(n);
      // a pipe read is often 64 KB: do not keep a 256 KB buffer alive behind it
      yield n < PIPE_CHUNK / 2 ? Buffer.from(b.subarray(0, n)) : b.subarray(0, n);
    }
  }

  /** Bytes a helper read from the descriptor itself. */
  counted(n: number): void {
    this.total += n;
    this.onProgress?.(this.total);
  }
}

/** One read(2) of up to `len` bytes, waiting for data also on a non-blocking descriptor; 0 at the end. */
export async function readSome(fd: number, b: Buffer, len: number): Promise<number> {
  for (;;) {
    try {
      return await new Promise<number>((res, rej) => fs.read(fd, b, 0, len, null, (e, n) => (e ? rej(e) : res(n))));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

/** Exactly the next `n` bytes of `fd` (fewer only at its end). */
export async function* bytesOf(fd: number, n: number): AsyncGenerator<Buffer> {
  for (let left = n; left > 0;) {
    const b = Buffer.allocUnsafe(Math.min(PIPE_CHUNK, left));
    const k = await readSome(fd, b, b.length);
    if (k === 0) return;
    left -= k;
    yield b.subarray(0, k);
  }
}
