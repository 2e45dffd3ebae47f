import { TvctlError } from '../errors.js';
import type { ByteReader } from './byte-reader.js';

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
    super('BAD_TAR', message);
    this.name = 'TarFormatError';
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
