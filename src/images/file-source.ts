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
