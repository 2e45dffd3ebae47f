import { EXIT_TVCTL, TvctlError } from '../errors.js';

/**
 * A streaming tar reader: header blocks (checksum, ustar prefix, base-256 numbers; decoded as npm tar's
 * Header does, without loading that package on the `image load` path), the framing and the pax / GNU
 * long-name records. npm tar's Parser is not used because it turns pax records into strings and keeps
 * only the keys it knows, so SCHILY.xattr.* values (binary, e.g. security.capability) would be lost.
 */
export interface TarEntry {
  path: string;
  type: string; // tar's type names: File, OldFile, ContiguousFile, Directory, SymbolicLink, Link, CharacterDevice, ...
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date | undefined;
  linkpath: string;
  devmajor: number;
  devminor: number;
  xattrs: Map<string, Buffer>;
}

/**
 * A malformed tar stream. Callers that know what the stream was (an image archive, a layer) rethrow it with
 * their own code; the code here is for the rare case that one reaches the user as it is.
 */
export class TarFormatError extends TvctlError {
  constructor(message: string) {
    super('BAD_TAR', message, EXIT_TVCTL);
    this.name = 'TarFormatError';
  }
}

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

const TYPE_NAMES = new Map([
  ['0', 'File'],
  ['', 'OldFile'],
  ['1', 'Link'],
  ['2', 'SymbolicLink'],
  ['3', 'CharacterDevice'],
  ['4', 'BlockDevice'],
  ['5', 'Directory'],
  ['6', 'FIFO'],
  ['7', 'ContiguousFile'],
  ['g', 'GlobalExtendedHeader'],
  ['x', 'ExtendedHeader'],
  ['A', 'SolarisACL'],
  ['D', 'GNUDumpDir'],
  ['I', 'Inode'],
  ['K', 'NextFileHasLongLinkpath'],
  ['L', 'NextFileHasLongPath'],
  ['M', 'ContinuationFile'],
  ['N', 'OldGnuLongPath'],
  ['S', 'SparseFile'],
  ['V', 'TapeVolumeHeader'],
  ['X', 'OldExtendedHeader'],
]);

export interface HeaderBlock {
  cksumValid: boolean;
  type: string;
  path: string;
  linkpath: string;
  mode: number | undefined;
  uid: number | undefined;
  gid: number | undefined;
  size: number | undefined;
  mtime: Date | undefined;
  devmaj: number;
  devmin: number;
}

/** Decodes one 512-byte header block. */
export function decodeHeader(b: Buffer): HeaderBlock {
  const str = (off: number, n: number): string => {
    const z = b.indexOf(0, off);
    return b.toString('utf8', off, z >= off && z < off + n ? z : off + n);
  };
  const num = (off: number, n: number): number | undefined => {
    if (b[off]! & 0x80) return base256(b.subarray(off, off + n));
    const v = parseInt(str(off, n).trim(), 8);
    return Number.isNaN(v) ? undefined : v;
  };
  const code = str(156, 1);
  let type = TYPE_NAMES.has(code) ? TYPE_NAMES.get(code || '0')! : 'Unsupported';
  let path = str(0, 100);
  if (type === 'File' && path.endsWith('/')) type = 'Directory'; // old tars: a directory as a file with a /
  let size = num(124, 12);
  if (size !== undefined && size < 0) size = undefined;
  if (type === 'Directory') size = 0;
  let devmaj = 0;
  let devmin = 0;
  if (b.toString('latin1', 257, 265) === 'ustar\u000000') {
    devmaj = num(329, 8) ?? 0;
    devmin = num(337, 8) ?? 0;
    const prefix = b[475] !== 0 ? str(345, 155) : str(345, 130);
    if (prefix) path = `${prefix}/${path}`;
  }
  let sum = 8 * 0x20;
  for (let i = 0; i < 148; i++) sum += b[i]!;
  for (let i = 156; i < 512; i++) sum += b[i]!;
  const mtime = num(136, 12);
  return {
    cksumValid: sum === num(148, 12),
    type,
    path,
    linkpath: str(157, 100),
    mode: num(100, 8),
    uid: num(108, 8),
    gid: num(116, 8),
    size,
    mtime: mtime === undefined ? undefined : new Date(mtime * 1000),
    devmaj,
    devmin,
  };
}

/** A base-256 number field (0x80 first byte: positive; 0xff: two's complement negative). */
function base256(f: Buffer): number | undefined {
  if (f[0] === 0x80) {
    let v = 0;
    for (let i = 1; i < f.length; i++) v = v * 256 + f[i]!;
    return Number.isSafeInteger(v) ? v : undefined;
  }
  if (f[0] === 0xff) {
    let v = 0;
    for (let i = 0; i < f.length; i++) v = v * 256 + (0xff - f[i]!);
    return -(v + 1);
  }
  return undefined;
}

/** Parses pax records ("LEN key=value\n"), keeping values as bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off < data.length) {
    if (data[off] === 0) break;
    const sp = data.indexOf(0x20, off);
    if (sp < 0) break;
    const len = Number(data.toString('latin1', off, sp));
    if (!Number.isInteger(len) || len <= 0 || off + len > data.length) throw new TarFormatError('malformed pax header');
    const rec = data.subarray(sp + 1, off + len - 1); // without trailing \n
    const eq = rec.indexOf(0x3d);
    if (eq > 0) out.set(rec.toString('utf8', 0, eq), rec.subarray(eq + 1));
    off += len;
  }
  return out;
}

const META_LIMIT = 1 << 20;
/**
 * Metadata that piles up in memory: the pax and long-name records before one entry, and the global pax
 * records of a whole archive. Real archives stay far below; a hostile one could otherwise make the
 * unpacker hold gigabytes (a few KB of zstd can expand to that).
 */
export const META_TOTAL_LIMIT = 16 << 20;

/**
 * Iterates the entries of a tar stream. The caller must consume (or ignore) `body` before asking for the
 * next entry; anything it leaves is skipped.
 */
export async function* readTar(reader: ByteReader): AsyncGenerator<{ entry: TarEntry; body: AsyncGenerator<Buffer> }> {
  let pax: Map<string, Buffer> | undefined;
  let globalPax = new Map<string, Buffer>();
  let longPath: string | undefined;
  let longLink: string | undefined;
  let sawEntry = false;
  let metaBytes = 0;
  let globalBytes = 0;
  for (;;) {
    const block = await reader.read(512);
    if (block.length === 0 && sawEntry) return; // no end-of-archive blocks: accept, as GNU tar does
    if (block.length < 512) throw new TarFormatError('unexpected end of archive (truncated file?)');
    if (isZero(block)) return;
    const h = decodeHeader(block);
    if (!h.cksumValid)
      throw new TarFormatError(`not a tar archive (bad header checksum at byte ${reader.position - 512})`);
    const type = h.type;
    let size = h.size ?? 0;
    const padded = (n: number) => Math.ceil(n / 512) * 512;
    if (
      type === 'ExtendedHeader' ||
      type === 'OldExtendedHeader' ||
      type === 'GlobalExtendedHeader' ||
      type === 'NextFileHasLongPath' ||
      type === 'OldGnuLongPath' ||
      type === 'NextFileHasLongLinkpath'
    ) {
      if (size > META_LIMIT) throw new TarFormatError(`tar metadata record too large (${size} bytes)`);
      if (
        type === 'GlobalExtendedHeader'
          ? (globalBytes += size) > META_TOTAL_LIMIT
          : (metaBytes += size) > META_TOTAL_LIMIT
      )
        throw new TarFormatError(`more than ${META_TOTAL_LIMIT >> 20} MiB of tar metadata records`);
      const data = await reader.read(size);
      if (data.length < size) throw new TarFormatError('unexpected end of archive (truncated file?)');
      const copy = Buffer.from(data);
      await reader.skip(padded(size) - size);
      if (type === 'GlobalExtendedHeader') globalPax = new Map([...globalPax, ...parsePax(copy)]);
      else if (type === 'ExtendedHeader' || type === 'OldExtendedHeader')
        pax = new Map([...(pax ?? []), ...parsePax(copy)]);
      else if (type === 'NextFileHasLongLinkpath') longLink = cString(copy);
      else longPath = cString(copy);
      continue;
    }
    metaBytes = 0;
    const px = new Map([...globalPax, ...(pax ?? [])]);
    const num = (k: string, d: number) => {
      const v = px.get(k);
      if (v === undefined) return d;
      const n = Number(v.toString('latin1'));
      if (!Number.isFinite(n)) throw new TarFormatError(`bad pax ${k}`);
      return n;
    };
    size = num('size', size);
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of px) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    const mtimeS = px.get('mtime');
    const entry: TarEntry = {
      path: px.get('path')?.toString('utf8') ?? longPath ?? h.path ?? '',
      type,
      mode: num('mode', h.mode ?? 0) & 0o7777,
      uid: num('uid', h.uid ?? 0),
      gid: num('gid', h.gid ?? 0),
      size,
      mtime: mtimeS ? new Date(Number(mtimeS.toString('latin1')) * 1000) : h.mtime,
      linkpath: px.get('linkpath')?.toString('utf8') ?? longLink ?? h.linkpath ?? '',
      devmajor: h.devmaj ?? 0,
      devminor: h.devmin ?? 0,
      xattrs,
    };
    pax = undefined;
    longPath = undefined;
    longLink = undefined;
    sawEntry = true;
    // Only these carry data; for links/dirs/devices a size field is ignored (as GNU tar does, except dirs).
    const hasData =
      type === 'File' ||
      type === 'OldFile' ||
      type === 'ContiguousFile' ||
      type === 'GNUDumpDir' ||
      !['Link', 'SymbolicLink', 'CharacterDevice', 'BlockDevice', 'Directory', 'FIFO'].includes(type);
    const dataLen = hasData ? size : 0;
    const start = reader.position;
    yield { entry, body: reader.chunks(dataLen) };
    // Skip whatever the consumer left (it may have stopped early).
    await reader.skip(start + padded(dataLen) - reader.position);
  }
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString('utf8', 0, z < 0 ? b.length : z);
}
