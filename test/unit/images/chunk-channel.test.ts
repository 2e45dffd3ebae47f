import { describe, expect, it } from 'vitest';
import { ChunkChannel } from '../../../src/images/chunk-channel.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('ChunkChannel', () => {
  it('hands the very chunks over, in order, and ends', async () => {
    const ch = new ChunkChannel(1 << 20);
    const chunks = [Buffer.from('a'), Buffer.from('bc')];
    const got: Buffer[] = [];
    const reader = (async () => {
      for await (const c of ch) got.push(c);
    })();
    for (const c of chunks) await ch.write(c);
    ch.end();
    await reader;
    expect(got).toHaveLength(2);
    expect(got[0]).toBe(chunks[0]); // the same Buffer: no copy
    expect(got[1]).toBe(chunks[1]);
  });

  it('holds the writer while the queue is at its limit, until the reader takes some', async () => {
    const ch = new ChunkChannel(4);
    let written = false;
    const w = ch.write(Buffer.alloc(4)).then(() => (written = true));
    await tick();
    expect(written).toBe(false);
    const it = ch[Symbol.asyncIterator]();
    expect((await it.next()).value).toHaveLength(4);
    await w;
    expect(written).toBe(true);
  });

  it('once the reader closes it, drops what is queued and lets the writer go on', async () => {
    const ch = new ChunkChannel(4);
    const w = ch.write(Buffer.alloc(8));
    ch.close();
    await w;
    await ch.write(Buffer.alloc(8)); // returns at once
    const it = ch[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(true);
  });
});
