import { TarFormatError } from './tar-reader.js';

/** Pulls exact byte counts out of an async chunk source, without copying where it can. */
export class ByteReader {
  private readonly it: AsyncIterator<Buffer>;
  private q: Buffer[] = [];
  private avail = 0;
  private done = false;
  /** bytes handed out so far */
  position = 0;
  /** sees every byte handed out, in order */
  tap: ((b: Buffer) => void) | undefined;

  /** set when the source can move on without reading (a file): skip() then costs no reads */
  private readonly skipper: { skip(n: number): number } | undefined;

  constructor(source: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer>) {
    const s = source as { skip?: unknown };
    this.skipper = typeof s.skip === 'function' ? (source as unknown as { skip(n: number): number }) : undefined;
    const inner =
      Symbol.asyncIterator in source
        ? source[Symbol.asyncIterator]()
        : (async function* () {
            yield* source;
          })();
    this.it = {
      next: async () => {
        const r = await inner.next();
        if (r.done) return r;
        const v = r.value;
        return {
          done: false,
          value:
            typeof v === 'string'
              ? Buffer.from(v)
              : Buffer.isBuffer(v)
                ? v
                : Buffer.from(v.buffer, v.byteOffset, v.byteLength),
        };
      },
      ...(inner.return
        ? { return: async () => (await inner.return!(), { done: true as const, value: undefined }) }
        : {}),
    };
  }

  /** Pulls the next input chunk into the queue. */
  private async fill(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done) {
      this.done = true;
      return false;
    }
    if (r.value.length) this.q.push(r.value);
    this.avail += r.value.length;
    return true;
  }

  /**
   * Makes the first queued buffer hold at least n bytes (or all that is left), copying only those n bytes
   * when they span chunks (never a whole 1 MB chunk).
   */
  private async front(n: number): Promise<void> {
    while (this.avail < n) if (!(await this.fill())) break;
    const first = this.q[0];
    if (!first || first.length >= n || this.q.length === 1) return;
    const want = Math.min(n, this.avail);
    const out = Buffer.allocUnsafe(want);
    let have = 0;
    while (have < want) {
      const c = this.q[0]!;
      const take = Math.min(c.length, want - have);
      c.copy(out, have, 0, take);
      have += take;
      if (take === c.length) this.q.shift();
      else this.q[0] = c.subarray(take);
    }
    this.q.unshift(out);
  }

  private take(n: number): Buffer {
    const c = this.q[0]!;
    const out = c.length === n ? c : c.subarray(0, n);
    if (c.length === n) this.q.shift();
    else this.q[0] = c.subarray(n);
    this.avail -= n;
    this.position += n;
    this.tap?.(out);
    return out;
  }

  /** Exactly n bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    await this.front(n);
    if (this.q.length === 0) return Buffer.alloc(0);
    return this.take(Math.min(n, this.q[0]!.length));
  }

  /** Whatever is next, as it came (no copying); undefined at the end. */
  async readSome(): Promise<Buffer | undefined> {
    if (this.q.length === 0 && !(await this.fill())) return undefined;
    if (this.q.length === 0) return this.readSome();
    return this.take(this.q[0]!.length);
  }

  /** Peeks up to n bytes without consuming them. */
  async peek(n: number): Promise<Buffer> {
    await this.front(n);
    return this.q.length ? this.q[0]!.subarray(0, Math.min(n, this.q[0]!.length)) : Buffer.alloc(0);
  }

  /** Yields the next n bytes in chunks (views, no copies); throws on early end. */
  async *chunks(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.q.length === 0 && !(await this.fill()))
        throw new TarFormatError('unexpected end of archive (truncated file?)');
      if (this.q.length === 0) continue;
      const out = this.take(Math.min(left, this.q[0]!.length));
      left -= out.length;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    if (this.skipper && !this.tap) {
      let left = n;
      while (left > 0 && this.q.length) left -= this.take(Math.min(left, this.q[0]!.length)).length;
      if (left > 0) {
        if (this.skipper.skip(left) < left) throw new TarFormatError('unexpected end of archive (truncated file?)');
        this.position += left;
      }
      return;
    }
    for await (const _ of this.chunks(n)) void _;
  }

  /**
   * Hands out what is already buffered of the next `max` bytes (reading nothing), for a helper that goes on
   * reading the source's descriptor by itself; `consumedElsewhere` then counts what it read.
   */
  takeBuffered(max: number): Buffer[] {
    const out: Buffer[] = [];
    for (let left = max; left > 0 && this.q.length;) {
      const c = this.take(Math.min(left, this.q[0]!.length));
      out.push(c);
      left -= c.length;
    }
    return out;
  }

  /** `n` bytes of the source were read by someone else (see takeBuffered): the position moves on. */
  consumedElsewhere(n: number): void {
    if (this.q.length) throw new Error('ByteReader: bytes consumed elsewhere while some are buffered');
    this.position += n;
  }

  /** Consumes everything left (e.g. so a digest covers the whole stream). */
  async drain(onChunk?: (b: Buffer) => void): Promise<void> {
    for (;;) {
      while (this.q.length) {
        const c = this.take(this.q[0]!.length);
        onChunk?.(c);
      }
      if (!(await this.fill())) return;
    }
  }
}

/** Everything a reader has left, chunk by chunk as it comes (no copies). */
export async function* restOf(r: ByteReader): AsyncGenerator<Buffer> {
  for (;;) {
    const b = await r.readSome();
    if (!b) return;
    yield b;
  }
}
