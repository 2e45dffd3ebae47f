import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';

/**
 * tar-split: everything of an uncompressed layer tar except the file contents (headers, pax records,
 * padding, end blocks), with references to the unpacked files for the contents. The exact layer blob can
 * be rebuilt from the unpacked dir, so uncompressed layers are not stored twice (the idea of Docker's
 * tar-split). Files a later entry replaced are moved to split-data/ instead of being deleted.
 *
 * Format: "TVSPLIT1\n", then records: 'R' u32 length + raw bytes | 'F' u64 size + u32 length + path
 * (relative to the layer dir).
 */
export interface FileRef {
  path: string;
}

const MAGIC = Buffer.from('TVSPLIT1\n');

export class TarSplitRecorder {
  private out: Buffer[] = [MAGIC];
  private raw: Buffer[] = [];
  private rawLen = 0;
  private refs: { size: number; ref: FileRef }[] = [];
  private order: ({ raw: Buffer } | { file: number })[] = [];
  private preserved = 0;

  constructor(private readonly layerDir: string) {}

  addRaw(b: Buffer): void {
    // copy: the chunk may be a view into a 1 MB input buffer we must not retain
    this.raw.push(Buffer.from(b));
    this.rawLen += b.length;
  }

  addFile(size: number, ref: FileRef): void {
    this.flushRaw();
    this.refs.push({ size, ref });
    this.order.push({ file: this.refs.length - 1 });
  }

  /** The file at `ref` is about to be replaced: keep its content for the rebuild. */
  preserve(ref: FileRef): void {
    const dir = join(this.layerDir, 'split-data');
    if (this.preserved === 0) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const to = `split-data/${this.preserved++}`;
    fs.renameSync(join(this.layerDir, ref.path), join(this.layerDir, to));
    ref.path = to;
  }

  private flushRaw(): void {
    if (this.rawLen === 0) return;
    this.order.push({ raw: Buffer.concat(this.raw, this.rawLen) });
    this.raw = [];
    this.rawLen = 0;
  }

  write(): void {
    this.flushRaw();
    for (const o of this.order) {
      if ('raw' in o) {
        const h = Buffer.alloc(5);
        h.write('R', 0);
        h.writeUInt32BE(o.raw.length, 1);
        this.out.push(h, o.raw);
      } else {
        const r = this.refs[o.file]!;
        const p = Buffer.from(r.ref.path);
        const h = Buffer.alloc(13);
        h.write('F', 0);
        h.writeBigUInt64BE(BigInt(r.size), 1);
        h.writeUInt32BE(p.length, 9);
        this.out.push(h, p);
      }
    }
    fs.writeFileSync(join(this.layerDir, 'tar-split'), Buffer.concat(this.out), { mode: 0o600 });
  }
}

export function hasTarSplit(layerDir: string): boolean {
  return fs.existsSync(join(layerDir, 'tar-split'));
}

/** Rebuilds the layer tar, chunk by chunk, and checks it against `diffId` at the end. */
export function* rebuildLayerTar(layerDir: string, diffId: string): Generator<Buffer> {
  const data = fs.readFileSync(join(layerDir, 'tar-split'));
  if (!data.subarray(0, MAGIC.length).equals(MAGIC)) throw corrupt(layerDir, 'bad tar-split header');
  const hash = createHash('sha256');
  let off = MAGIC.length;
  const buf = Buffer.allocUnsafe(1 << 20);
  while (off < data.length) {
    const kind = String.fromCharCode(data[off]!);
    if (kind === 'R') {
      const len = data.readUInt32BE(off + 1);
      const raw = data.subarray(off + 5, off + 5 + len);
      off += 5 + len;
      hash.update(raw);
      yield raw;
    } else if (kind === 'F') {
      const size = Number(data.readBigUInt64BE(off + 1));
      const plen = data.readUInt32BE(off + 9);
      const path = data.toString('utf8', off + 13, off + 13 + plen);
      off += 13 + plen;
      const fd = fs.openSync(join(layerDir, path), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
      try {
        let left = size;
        while (left > 0) {
          const n = fs.readSync(fd, buf, 0, Math.min(buf.length, left), null);
          if (n === 0) throw corrupt(layerDir, `${path} is shorter than recorded`);
          const c = Buffer.from(buf.subarray(0, n));
          hash.update(c);
          left -= n;
          yield c;
        }
      } finally {
        fs.closeSync(fd);
      }
    } else throw corrupt(layerDir, 'bad tar-split record');
  }
  if (`sha256:${hash.digest('hex')}` !== diffId)
    throw corrupt(layerDir, 'rebuilt layer does not match its diff ID (was the layer dir modified?)');
}

export function rebuiltSize(layerDir: string): number {
  const data = fs.readFileSync(join(layerDir, 'tar-split'));
  let off = MAGIC.length;
  let n = 0;
  while (off < data.length) {
    if (data[off] === 0x52) {
      const len = data.readUInt32BE(off + 1);
      n += len;
      off += 5 + len;
    } else {
      n += Number(data.readBigUInt64BE(off + 1));
      off += 13 + data.readUInt32BE(off + 9);
    }
  }
  return n;
}

function corrupt(layerDir: string, why: string): TvctlError {
  return new TvctlError('STORE_CORRUPT', `layer ${layerDir}: ${why}`);
}
