import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { TvctlError } from '../errors.js';
import { nativeBuildDir } from '../paths.js';
import { pipeCommandInto, runCommand, streamThroughCommand } from '../util/exec.js';
import { trace } from '../util/trace.js';
import { FileSource, bytesOf, isFileRegion, type FileRegion } from './file-source.js';
import { ByteReader, META_TOTAL_LIMIT, TarFormatError, readTar, type TarEntry } from './tar-reader.js';
import { TarSplitRecorder, type FileRef } from './tar-split.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/** Media types can lie; the first bytes do not. */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

/** True if the bytes look like the start of a (possibly compressed) tar stream. */
export function looksLikeLayer(head: Uint8Array): boolean {
  if (sniffCompression(head) !== 'none') return true;
  return head.length >= 263 && Buffer.from(head.subarray(257, 262)).toString('latin1') === 'ustar';
}

/**
 * Decompresses by sniffing. zstd goes through Debian's `zstd` binary: Node 20's zlib has no zstd, and the
 * C decoder is several times faster than the pure-JS ones (fzstd) on 100 MB layers.
 */
export async function* decompress(source: AsyncIterable<Buffer> | Iterable<Buffer>): AsyncGenerator<Buffer> {
  const r = new ByteReader(source);
  const kind = sniffCompression(await r.peek(4));
  const rest = restOf(r);
  if (kind === 'none') {
    yield* rest;
  } else if (kind === 'gzip') {
    const gz = createGunzip({ chunkSize: 256 * 1024 });
    const done = pipeline(Readable.from(rest), gz);
    done.catch(() => undefined);
    try {
      for await (const c of gz) yield c as Buffer;
    } catch (err) {
      throw new LayerError(`gzip data is corrupt: ${(err as Error).message}`);
    }
    await done.catch((err: Error) => {
      throw new LayerError(`gzip data is corrupt: ${err.message}`);
    });
  } else {
    try {
      yield* streamThroughCommand({ file: 'zstd', args: ['-d', '-c', '-q'] }, rest);
    } catch (err) {
      throw err instanceof TvctlError && err.code === 'COMMAND_FAILED' ? zstdCorrupt(err) : err;
    }
  }
}

async function* restOf(r: ByteReader): AsyncGenerator<Buffer> {
  for (;;) {
    const b = await r.readSome();
    if (!b) return;
    yield b;
  }
}

export class LayerError extends TvctlError {
  constructor(message: string) {
    super('BAD_LAYER', message);
  }
}

export interface LayerUnpackResult {
  /** sha256 of the uncompressed tar stream */
  diffId: string;
  /** bytes of regular-file content */
  size: number;
  whiteouts: number;
  /** bytes of the uncompressed tar stream */
  tarSize: number;
}

/** xattrs we carry over from archives. trusted.* (overlayfs's own controls) and others are dropped. */
export function allowedXattr(name: string): boolean {
  return name.startsWith('user.') || name === 'security.capability';
}

type Kind = 'dir' | 'file' | 'symlink' | 'special';
interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date | undefined;
}
interface Special extends Meta {
  type: 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  devmajor: number;
  devminor: number;
}

const NAME_MAX = 255;
const PATH_MAX = 4095;
const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';

/**
 * Normalizes an entry path to components relative to the layer root. Absolute paths are taken relative
 * to the root (as Docker does); `..` that would climb above the root is an error.
 */
export function cleanEntryPath(p: string, what = 'entry'): string[] {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) throw new LayerError(`${what} "${p}" points outside the layer`);
      parts.pop();
      continue;
    }
    if (Buffer.byteLength(c) > NAME_MAX)
      throw new LayerError(`${what} name too long (${Buffer.byteLength(c)} bytes): "${c.slice(0, 40)}..."`);
    parts.push(c);
  }
  if (Buffer.byteLength(parts.join('/')) > PATH_MAX)
    throw new LayerError(`${what} path too long: "${p.slice(0, 60)}..."`);
  return parts;
}

/**
 * Unpacks one layer tar (uncompressed, gzip or zstd) into `dest`, an empty directory of its own.
 *
 * The work is done by the native extractor (native/untar, `tvuntar`) when it is built: it applies the
 * rules below with a few system calls per entry and computes the diff ID on a second thread, while this
 * process decompresses and feeds it (or it reads a layer that lies in a file by itself). Without it (or
 * with TVCTL_UNTAR=js) the same rules run here in JS.
 */
export async function unpackLayer(
  source: LayerSource,
  dest: string,
  scratchDir: string,
  opts: UnpackOptions = {},
): Promise<LayerUnpackResult> {
  const helper = untarHelper();
  if (isFileRegion(source)) {
    if (helper) return unpackRegionWithHelper(helper, source, dest, opts);
    source = new FileSource(source.file, source.offset, source.length);
  }
  if (isPipeRest(source)) {
    if (helper) return unpackPipeRestWithHelper(helper, source, dest, scratchDir, opts);
    const src = source;
    source = (async function* () {
      src.consumed = 0;
      yield src.prefix;
      for await (const c of bytesOf(src.fd, src.rest)) {
        src.consumed += c.length;
        yield c;
      }
      if (src.consumed < src.rest && Number.isFinite(src.rest))
        throw new TarFormatError('unexpected end of archive (truncated input?)');
    })();
  }
  return helper ? unpackWithHelper(helper, source, dest, opts) : unpackLayerJs(source, dest, scratchDir, opts);
}

/** A layer stream (uncompressed, gzip or zstd), or an uncompressed layer that is a region of a file. */
export type LayerSource = AsyncIterable<Buffer> | Iterable<Buffer> | FileRegion | PipeRest;

/**
 * An uncompressed layer on a pipe: `prefix` (what tvctl had already read of it), then the next `rest` bytes of
 * `fd` (Infinity: all of it, as for a root file system on stdin).
 */
export interface PipeRest {
  fd: number;
  prefix: Buffer;
  rest: number;
  /** set by the unpacker: how many of the `rest` bytes it read, when that is known (also after a failure) */
  consumed?: number;
}

export function isPipeRest(x: unknown): x is PipeRest {
  return typeof x === 'object' && x !== null && 'fd' in x && 'prefix' in x && 'rest' in x;
}

export interface UnpackOptions {
  /** record a tar-split here (the layer dir; `dest` must be its fs/) so the tar can be rebuilt */
  splitDir?: string;
}

/** The native extractor's path if it is built and not switched off (TVCTL_UNTAR=js). */
export function untarHelper(): string | undefined {
  if (process.env.TVCTL_UNTAR === 'js') return undefined;
  const p = join(nativeBuildDir(), 'tvuntar');
  return fs.existsSync(p) ? p : undefined;
}

/**
 * Runs tvuntar. With --pipe it does a hand-shake (see native/untar): it prints "pipe PID FD", we open
 * /proc/PID/fd/FD for writing, send one byte on its stdin, and once it says "go", `work` writes the layer
 * into it. The pipe is a real one: a child's stdin from Node is a unix socket, several times dearer to
 * write into. Returns the helper's result line.
 */
async function runUntar(helper: string, args: string[], work?: (fd: number) => Promise<void>): Promise<UntarResult> {
  let ack!: () => void;
  let finish!: () => void;
  const acked = new Promise<void>((r) => (ack = r));
  const finished = new Promise<void>((r) => (finish = r));
  async function* control(): AsyncGenerator<Buffer> {
    if (!work) return; // --file: no hand-shake, stdin unused
    await acked;
    yield Buffer.from('x');
    await finished;
  }
  let fd = -1;
  let result = '';
  try {
    let text = '';
    for await (const c of streamThroughCommand({ file: helper, args }, control())) {
      text += c.toString('utf8');
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        const p = work && /^pipe (\d+) (\d+)$/.exec(line);
        if (p) {
          trace('tvuntar: started');
          fd = fs.openSync(`/proc/${p[1]}/fd/${p[2]}`, fs.constants.O_WRONLY);
          ack();
        } else if (work && line === 'go' && fd >= 0) {
          try {
            await work(fd);
            trace('tvuntar: all bytes passed');
          } finally {
            fs.closeSync(fd);
            fd = -1;
          }
        } else result = line;
      }
    }
  } catch (err) {
    if (err instanceof LayerError || err instanceof TarFormatError) throw err;
    if (err instanceof TvctlError && err.code !== 'COMMAND_FAILED') throw err;
    throw new LayerError(`unpacking layer failed: ${(err as Error).message}`);
  } finally {
    finish();
    if (fd >= 0) fs.closeSync(fd);
  }
  trace('tvuntar: done');
  return parseUntarResult(result, helper);
}

export interface UntarResult {
  size: number;
  whiteouts: number;
  tarSize: number;
  digest: string;
}

/** tvuntar's result line: "ok SIZE WHITEOUTS TARSIZE DIGEST", or "error CODE MESSAGE", which is thrown. */
export function parseUntarResult(line: string, helper = 'tvuntar'): UntarResult {
  const ok = /^ok (\d+) (\d+) (\d+) (sha256:[0-9a-f]{64})$/.exec(line);
  if (!ok) {
    const m = /^error (\w+) (.*)$/.exec(line);
    if (m?.[1] === 'NO_SPACE') throw new TvctlError('NO_SPACE', m[2]!);
    throw new LayerError(
      m ? m[2]! : `unpacking layer failed: unexpected output from ${helper}: "${line.slice(0, 80)}"`,
    );
  }
  return { size: Number(ok[1]), whiteouts: Number(ok[2]), tarSize: Number(ok[3]), digest: ok[4]! };
}

/**
 * The result of unpacking a layer of a known length (a region of a file, or a piped layer; Infinity: to the
 * end of the input), checked against that length.
 */
export function resultOfLength(length: number, r: UntarResult, input: 'file' | 'input' = 'file'): LayerUnpackResult {
  if (Number.isFinite(length) && r.tarSize !== length)
    throw new LayerError(
      `layer is not a valid tar archive: unexpected end of archive (truncated ${input}?): ${r.tarSize} of ${length} bytes`,
    );
  return { diffId: r.digest, size: r.size, whiteouts: r.whiteouts, tarSize: r.tarSize };
}

/**
 * A stream, written into the helper's pipe: as it is, gunzipped here, or for zstd by a `zstd -dc` whose
 * output goes straight into that pipe. The helper hashes what it reads.
 */
async function unpackWithHelper(
  helper: string,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  dest: string,
  opts: UnpackOptions,
): Promise<LayerUnpackResult> {
  const reader = new ByteReader(source);
  const isZstd = sniffCompression(await reader.peek(4)) === 'zstd';
  let tarBytes = 0;
  let inputDone = false;
  let zstdError: Error | undefined;
  const input = isZstd ? restOf(reader) : decompress(restOf(reader));
  const feed = async (fd: number): Promise<void> => {
    if (isZstd) {
      // tvuntar's byte count and digest cover what zstd wrote; zstd's exit status says if that was all
      await pipeCommandInto({ file: 'zstd', args: ['-d', '-c', '-q'] }, input, fd).catch((err: Error) => {
        zstdError = err;
      });
      inputDone = true;
      return;
    }
    try {
      for await (const c of input) {
        tarBytes += c.length;
        let off = 0;
        while (off < c.length) off += fs.writeSync(fd, c, off);
      }
      inputDone = true;
    } catch (err) {
      // EPIPE: the helper stopped early and says why on stdout; anything else is the input's own error
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    }
  };
  try {
    let r;
    try {
      r = await runUntar(helper, [dest, opts.splitDir ?? '-', '--pipe'], feed);
    } catch (err) {
      // A tar cut short or garbled behind a failed zstd: the zstd data is what was wrong. Any other error is
      // the unpacker's own (zstd then only failed because the unpacker stopped reading).
      if (zstdError && err instanceof LayerError && /unexpected end of archive|bad header checksum/.test(err.message))
        throw zstdCorrupt(zstdError);
      throw err;
    }
    if (zstdError) throw zstdCorrupt(zstdError);
    if (isZstd) tarBytes = r.tarSize;
    // The helper reads to the end of its input, so its digest covers the whole stream.
    if (!inputDone || r.tarSize !== tarBytes)
      throw new LayerError(`unpacking layer failed: the extractor read ${r.tarSize} bytes of ${tarBytes}`);
    return { diffId: r.digest, size: r.size, whiteouts: r.whiteouts, tarSize: tarBytes };
  } finally {
    if (!inputDone) void input.return(undefined).catch(() => undefined); // e.g. stop a zstd child
  }
}

const zstdCorrupt = (err: Error) =>
  err instanceof TvctlError && err.code === 'ENOENT'
    ? err
    : new LayerError(`zstd data is corrupt: ${err.message.replace(/^.*?failed \(exit \S+\): /, '')}`);

/**
 * An uncompressed layer in a file: the helper reads it by itself and computes its digest over exactly the
 * bytes it unpacked (even if the file changed meanwhile: see native/untar's open_file_input).
 */
async function unpackRegionWithHelper(
  helper: string,
  region: FileRegion,
  dest: string,
  opts: UnpackOptions,
): Promise<LayerUnpackResult> {
  const args = [dest, opts.splitDir ?? '-', '--file', region.file, String(region.offset), String(region.length)];
  trace('tvuntar: start (in place)');
  return resultOfLength(region.length, await runUntar(helper, args));
}

/**
 * An uncompressed layer on a pipe: the helper reads the prefix from a file, then exactly the rest from the
 * pipe itself (its stdin is ours), so that the layer's bytes do not pass through this process.
 */
async function unpackPipeRestWithHelper(
  helper: string,
  src: PipeRest,
  dest: string,
  scratchDir: string,
  opts: UnpackOptions,
): Promise<LayerUnpackResult> {
  const prefixFile = join(scratchDir, `prefix-${randomBytes(6).toString('hex')}`);
  fs.writeFileSync(prefixFile, src.prefix, { mode: 0o600 });
  trace('tvuntar: start (rest of the layer from stdin)');
  let out;
  try {
    out = await runCommand(
      {
        file: helper,
        args: [
          dest,
          opts.splitDir ?? '-',
          '--pipe-rest',
          prefixFile,
          Number.isFinite(src.rest) ? String(src.rest) : '-',
        ],
      },
      { stdinFd: src.fd, allowFailure: true },
    );
  } finally {
    fs.rmSync(prefixFile, { force: true });
  }
  trace('tvuntar: done');
  const line = out.stdout.trim().split('\n').pop() ?? '';
  if (out.exitCode !== 0 || !/^(ok|error) /.test(line))
    throw new LayerError(
      `unpacking layer failed: the extractor stopped unexpectedly (exit status ${out.exitCode})${out.stderr ? `: ${out.stderr.trim().split('\n').pop()}` : ''}`,
    );
  // It printed a result: it read all of the layer, also when the layer was bad, unless the input ended first
  // (CUT, see native/untar): then where the pipe stands is not known.
  if (!line.startsWith('error CUT ')) src.consumed = src.rest;
  return resultOfLength(src.prefix.length + src.rest, parseUntarResult(line, helper), 'input');
}

/**
 * The JS unpacker (used when native/untar is not built).
 *
 * Safety: every path is resolved lexically against the layer root; since the directory starts empty and
 * we record the kind of everything we create, a path whose parent is a symlink (or a file) is refused
 * before any system call, so nothing is ever written through a symlink or outside `dest`. Hard links may
 * only point at files earlier in the same layer. Files are created with O_EXCL|O_NOFOLLOW as a backstop.
 *
 * Whiteouts become overlayfs whiteouts: `.wh.NAME` → a 0:0 character device NAME; `.wh..wh..opq` →
 * xattr trusted.overlay.opaque=y on the directory. Device nodes, whiteouts, opaque markers and files with
 * xattrs are written afterwards in one GNU tar run over a small archive we generate (Node can neither
 * mknod nor setxattr), with paths we already validated.
 */
async function unpackLayerJs(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  dest: string,
  scratchDir: string,
  opts: UnpackOptions,
): Promise<LayerUnpackResult> {
  const split = opts.splitDir !== undefined ? new TarSplitRecorder(opts.splitDir) : undefined;
  const refs = new Map<string, FileRef>();
  let inBody = false;
  const privileged = process.getuid?.() === 0;
  const hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const c of decompress(source)) {
      hash.update(c);
      yield c;
    }
  }
  const reader = new ByteReader(hashed());
  let tarBytes = 0;
  reader.tap = (b) => {
    tarBytes += b.length;
    if (split && !inBody) split.addRaw(b);
  };
  const nodes = new Map<string, Kind>([['', 'dir']]);
  const dirMeta = new Map<string, Meta>();
  const specials = new Map<string, Special>();
  const opaque = new Set<string>();
  const xattrFiles = new Map<string, Meta & { xattrs: Map<string, Buffer> }>();
  const dirXattrs = new Map<string, Map<string, Buffer>>();
  const sideLinks: { path: string; target: string }[] = [];
  let size = 0;
  let whiteouts = 0;
  let lastParent = '';

  const abs = (rel: string) => (rel === '' ? dest : join(dest, rel));

  const ensureParents = (parts: string[], entryPath: string): void => {
    const parentKey = parts.slice(0, -1).join('/');
    if (parentKey === lastParent && nodes.get(parentKey) === 'dir') return;
    let key = '';
    for (let i = 0; i < parts.length - 1; i++) {
      key = key === '' ? parts[i]! : `${key}/${parts[i]!}`;
      const kind = nodes.get(key);
      if (kind === undefined) {
        fs.mkdirSync(abs(key), 0o755);
        nodes.set(key, 'dir');
      } else if (kind !== 'dir') {
        throw new LayerError(
          `entry "${entryPath}" would be written through ${kind === 'symlink' ? 'the symbolic link' : 'the non-directory'} "${key}"; refusing`,
        );
      }
    }
    lastParent = parentKey;
  };

  const keepContent = (rel: string): void => {
    const ref = refs.get(rel);
    if (!ref || !split) return;
    split.preserve(ref);
    refs.delete(rel);
  };

  const remove = (rel: string): void => {
    const kind = nodes.get(rel);
    if (kind === undefined) return;
    nodes.delete(rel);
    specials.delete(rel);
    xattrFiles.delete(rel);
    if (kind === 'special') return; // not on disk yet
    if (kind === 'dir') {
      const prefix = rel + '/';
      for (const k of [...refs.keys()]) if (k.startsWith(prefix)) keepContent(k);
      fs.rmSync(abs(rel), { recursive: true, force: true });
      for (const k of [...nodes.keys()]) if (k.startsWith(prefix)) nodes.delete(k);
      for (const m of [specials, xattrFiles, dirMeta, dirXattrs] as Map<string, unknown>[])
        for (const k of [...m.keys()]) if (k.startsWith(prefix)) m.delete(k);
      for (const k of [...opaque]) if (k === rel || k.startsWith(prefix)) opaque.delete(k);
      dirMeta.delete(rel);
      opaque.delete(rel);
      lastParent = '\0';
    } else if (refs.has(rel)) {
      keepContent(rel);
    } else {
      fs.unlinkSync(abs(rel));
    }
  };

  const setOwnerMode = (fd: number, e: TarEntry): void => {
    if (privileged) fs.fchownSync(fd, e.uid, e.gid);
    fs.fchmodSync(fd, e.mode); // after chown, which clears setuid/setgid
  };

  try {
    for await (const { entry: e, body } of readTar(reader)) {
      const parts = cleanEntryPath(e.path);
      const base = parts[parts.length - 1] ?? '';
      if (base.startsWith(WH)) {
        if (base === OPAQUE) {
          ensureParents(parts, e.path);
          opaque.add(parts.slice(0, -1).join('/'));
        } else if (base.startsWith(WH + WH)) {
          // aufs metadata (.wh..wh.plnk etc.): not part of the image content
        } else {
          const name = base.slice(WH.length);
          if (name === '' || name === '.' || name === '..')
            throw new LayerError(`whiteout "${e.path}" points outside its directory`);
          const target = [...parts.slice(0, -1), name];
          ensureParents(target, e.path);
          const rel = target.join('/');
          remove(rel);
          nodes.set(rel, 'special');
          specials.set(rel, {
            type: 'CharacterDevice',
            devmajor: 0,
            devminor: 0,
            mode: 0,
            uid: 0,
            gid: 0,
            mtime: e.mtime,
          });
          whiteouts++;
        }
        continue;
      }
      const rel = parts.join('/');
      if (rel === '') {
        // the layer root itself ("./"): keep its metadata
        if (e.type === 'Directory') dirMeta.set('', e);
        continue;
      }
      ensureParents(parts, e.path);
      const xattrs = new Map([...e.xattrs].filter(([k]) => allowedXattr(k)));
      switch (e.type) {
        case 'Directory': {
          if (nodes.get(rel) !== 'dir') {
            remove(rel);
            fs.mkdirSync(abs(rel), 0o755);
            nodes.set(rel, 'dir');
          }
          dirMeta.set(rel, e);
          if (xattrs.size) dirXattrs.set(rel, xattrs);
          break;
        }
        case 'File':
        case 'OldFile':
        case 'ContiguousFile': {
          remove(rel);
          const fd = fs.openSync(
            abs(rel),
            fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
            0o600,
          );
          if (split) {
            const ref = { path: `fs/${rel}` };
            split.addFile(e.size, ref);
            refs.set(rel, ref);
          }
          inBody = true;
          try {
            for await (const chunk of body) {
              let off = 0;
              while (off < chunk.length) off += fs.writeSync(fd, chunk, off);
            }
            inBody = false;
            setOwnerMode(fd, e);
            if (e.mtime) fs.futimesSync(fd, e.mtime, e.mtime);
          } finally {
            fs.closeSync(fd);
          }
          nodes.set(rel, 'file');
          size += e.size;
          if (xattrs.size) xattrFiles.set(rel, { ...metaOf(e), xattrs });
          break;
        }
        case 'SymbolicLink': {
          remove(rel);
          fs.symlinkSync(e.linkpath, abs(rel));
          if (privileged) fs.lchownSync(abs(rel), e.uid, e.gid);
          if (e.mtime) fs.lutimesSync(abs(rel), e.mtime, e.mtime);
          nodes.set(rel, 'symlink');
          break;
        }
        case 'Link': {
          const tparts = cleanEntryPath(e.linkpath, 'hard link target');
          const target = tparts.join('/');
          const tkind = nodes.get(target);
          if (tkind === undefined || tkind === 'dir') {
            throw new LayerError(
              `hard link "${e.path}" points at "${e.linkpath}", which is not a file earlier in this layer`,
            );
          }
          if (target === rel) break;
          remove(rel);
          if (tkind === 'special' || xattrFiles.has(target)) {
            // the target is (re)created by the GNU tar pass; link there too
            sideLinks.push({ path: rel, target });
            nodes.set(rel, 'special');
          } else {
            fs.linkSync(abs(target), abs(rel));
            nodes.set(rel, tkind);
          }
          break;
        }
        case 'CharacterDevice':
        case 'BlockDevice':
        case 'FIFO': {
          remove(rel);
          nodes.set(rel, 'special');
          specials.set(rel, { type: e.type, devmajor: e.devmajor, devminor: e.devminor, ...metaOf(e) });
          break;
        }
        default:
          throw new LayerError(`entry "${e.path}" has an unsupported type (${e.type})`);
      }
    }
    // What follows the end-of-archive blocks is kept for the tar-split, in memory: bounded.
    let trailing = 0;
    await reader.drain((b) => {
      if ((trailing += b.length) > META_TOTAL_LIMIT)
        throw new TarFormatError(`more than ${META_TOTAL_LIMIT >> 20} MiB of data after the end of the archive`);
    });
  } catch (err) {
    if (err instanceof TarFormatError) throw new LayerError(`layer is not a valid tar archive: ${err.message}`);
    if (err instanceof TvctlError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC') throw new TvctlError('NO_SPACE', 'no space left on device while unpacking a layer');
    throw new LayerError(`unpacking layer failed: ${(err as Error).message}`);
  }

  // Second pass: what Node cannot create, by GNU tar from an archive of already-validated paths.
  const sideCount = specials.size + opaque.size + xattrFiles.size + dirXattrs.size + sideLinks.length;
  if (sideCount > 0) {
    const sidePath = join(scratchDir, `side-${process.pid}-${Math.random().toString(36).slice(2)}.tar`);
    const { SideTarWriter, buildSideTarArgv } = await import('./tar-writer.js');
    const fd = fs.openSync(sidePath, 'wx', 0o600);
    try {
      const w = new SideTarWriter(fd);
      for (const [rel, s] of specials) w.add({ path: rel, ...s, size: 0 });
      for (const rel of new Set([...opaque, ...dirXattrs.keys()])) {
        const m = dirMeta.get(rel) ?? { mode: 0o755, uid: 0, gid: 0, mtime: undefined };
        const x = new Map(dirXattrs.get(rel) ?? []);
        if (opaque.has(rel)) x.set('trusted.overlay.opaque', Buffer.from('y'));
        w.add({ path: rel === '' ? '.' : rel, type: 'Directory', ...metaOnly(m), size: 0, xattrs: x });
      }
      for (const [rel, m] of xattrFiles) {
        const data = fs.readFileSync(abs(rel));
        w.add({ path: rel, type: 'File', ...metaOnly(m), size: data.length, xattrs: m.xattrs }, data);
      }
      for (const l of sideLinks)
        w.add({ path: l.path, type: 'Link', linkpath: l.target, mode: 0, uid: 0, gid: 0, mtime: undefined, size: 0 });
      w.end();
    } finally {
      fs.closeSync(fd);
    }
    try {
      if (!privileged && (specials.size > 0 || opaque.size > 0)) {
        throw new LayerError('this layer has whiteouts or device nodes, which only root can create; run as root');
      }
      await runCommand({ file: 'tar', args: buildSideTarArgv(sidePath, dest, privileged) });
    } finally {
      fs.rmSync(sidePath, { force: true });
    }
  }

  // Directory times last, deepest first, so creating children does not disturb them.
  const dirs = [...dirMeta.keys()].sort((a, b) => b.length - a.length);
  for (const rel of dirs) {
    const m = dirMeta.get(rel)!;
    const p = abs(rel);
    if (privileged) fs.lchownSync(p, m.uid, m.gid);
    fs.chmodSync(p, m.mode);
    if (m.mtime) fs.utimesSync(p, m.mtime, m.mtime);
  }
  split?.write();
  return { diffId: `sha256:${hash.digest('hex')}`, size, whiteouts, tarSize: tarBytes };
}

function metaOf(e: TarEntry): Meta {
  return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime };
}
function metaOnly(m: Meta): Meta {
  return { mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime };
}
