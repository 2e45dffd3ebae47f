/**
 * One producer, one consumer: chunks handed over as they are, with back-pressure. (A PassThrough would
 * concatenate whatever is buffered into one new Buffer on each read: a copy of every layer byte.)
 */
export class ChunkChannel implements AsyncIterable<Buffer> {
  private q: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private closed = false;
  private wakeReader: (() => void) | undefined;
  private wakeWriter: (() => void) | undefined;

  constructor(private readonly limit: number) {}

  /** Queues a chunk; resolves once the queue is below the limit again (or the reader is gone). */
  async write(c: Buffer): Promise<void> {
    if (this.closed) return;
    this.q.push(c);
    this.queued += c.length;
    this.wake('reader');
    while (this.queued >= this.limit && !this.closed) await new Promise<void>((r) => (this.wakeWriter = r));
  }

  end(): void {
    this.ended = true;
    this.wake('reader');
  }

  /** The reader is done (or failed): drop what is queued and anything written later. */
  close(): void {
    this.closed = true;
    this.q = [];
    this.queued = 0;
    this.wake('writer');
  }

  private wake(who: 'reader' | 'writer'): void {
    const w = who === 'reader' ? this.wakeReader : this.wakeWriter;
    if (who === 'reader') this.wakeReader = undefined;
    else this.wakeWriter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      while (this.q.length) {
        const c = this.q.shift()!;
        this.queued -= c.length;
        if (this.queued < this.limit) this.wake('writer');
        yield c;
      }
      if (this.ended || this.closed) return;
      await new Promise<void>((r) => (this.wakeReader = r));
    }
  }
}
