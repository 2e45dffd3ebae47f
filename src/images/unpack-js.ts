import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { runCommand } from '../util/exec.js';
import { decompress } from './compression.js';
import { LayerError, type LayerStream, type LayerUnpackResult, type UnpackOptions } from './layer.js';
import { ByteReader } from './byte-reader.js';
import { META_TOTAL_LIMIT, TarFormatError, readTar, type TarEntry } from './tar-reader.js';
import { TarSplitRecorder, type FileRef } from './tar-split.js';

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
export async function unpackLayerJs(
  source: LayerStream,
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
