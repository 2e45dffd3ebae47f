/**
 * `image load`, reading the input: an OCI layout directory, or an archive (tar, possibly gzip/zstd) in a
 * file, on a pipe or in a stream. Every file is handed to the visitor once, in archive order, with where
 * its bytes lie when they lie there as they are (so that the extractor can read a layer by itself).
 */
import { promises as fsp } from 'node:fs';
import { join, posix } from 'node:path';
import { TvctlError, isErrno } from '../errors.js';
import { decompress, sniffCompression } from './compression.js';
import { FileSource, PipeSource, stdinAsFile, stdinIsPipe } from './file-source.js';
import { LoadError } from './load-plan.js';
import { ByteReader, restOf } from './byte-reader.js';
import { TarFormatError, readTar } from './tar-reader.js';

export interface LoadInput {
  /** an archive file or an OCI layout directory */
  file?: string;
  stream?: NodeJS.ReadableStream;
  /** a pipe read with our own bounded reads (see PipeSource), so that the extractor can go on reading it */
  pipeFd?: number;
}

/** Standard input, as the fastest way to read it: as a file if it is one, else as a pipe or a stream. */
export function stdinInput(): LoadInput {
  const file = stdinAsFile();
  return file !== undefined ? { file } : stdinIsPipe() ? { pipeFd: 0 } : { stream: process.stdin };
}

/**
 * Where a file's bytes lie as they are: at an offset of a file (an uncompressed archive, or a layout's
 * blob file), or next on the pipe behind what `reader` has buffered.
 */
export type FileAt = { file: string; offset: number } | { pipe: PipeSource; reader: ByteReader };

export interface ArchiveVisitor {
  file(path: string, size: number, body: AsyncIterable<Buffer>, at: FileAt | undefined): Promise<void>;
  /** a symbolic or hard link: `path` stands for `target` (both relative to the archive root) */
  link(path: string, target: string): void;
}

/** Hands every file and link of the input to `visitor`; `onBytes` sees the input bytes read so far. */
export async function walkInput(
  input: LoadInput,
  visitor: ArchiveVisitor,
  onBytes?: (read: number, total: number | undefined) => void,
): Promise<void> {
  if (input.file !== undefined && (await isDir(input.file))) await walkDir(input.file, '', visitor);
  else await walkArchive(input, visitor, onBytes);
}

async function walkArchive(
  input: LoadInput,
  visitor: ArchiveVisitor,
  onBytes?: (read: number, total: number | undefined) => void,
): Promise<void> {
  const total = input.file !== undefined ? (await fsp.stat(input.file)).size : undefined;
  const progress = (n: number) => onBytes?.(n, total);
  const file = input.file !== undefined ? new FileSource(input.file, 0, Infinity, progress) : undefined;
  const pipe = input.pipeFd !== undefined ? new PipeSource(input.pipeFd, progress) : undefined;
  try {
    const raw = new ByteReader(file ?? pipe ?? counted(input.stream! as AsyncIterable<Buffer>, progress));
    const head = await raw.peek(512);
    if (head.length === 0) throw new LoadError('the input is empty');
    const reader = sniffCompression(head) === 'none' ? raw : new ByteReader(decompress(restOf(raw)));
    for await (const { entry, body } of readTar(reader)) {
      const path = archivePath(entry.path);
      if (path === undefined) continue;
      if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
        const at: FileAt | undefined =
          reader !== raw
            ? undefined
            : file
              ? { file: file.path, offset: reader.position }
              : pipe
                ? { pipe, reader: raw }
                : undefined;
        await visitor.file(path, entry.size, body, at);
      } else if (entry.type === 'SymbolicLink') visitor.link(path, posix.join(posix.dirname(path), entry.linkpath));
      else if (entry.type === 'Link') visitor.link(path, archivePath(entry.linkpath) ?? '');
    }
  } catch (err) {
    if (err instanceof TarFormatError) throw new LoadError(`input is not a valid image archive: ${err.message}`);
    throw err;
  } finally {
    file?.close();
  }
}

async function walkDir(root: string, rel: string, visitor: ArchiveVisitor): Promise<void> {
  for (const d of await fsp.readdir(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) await walkDir(root, r, visitor);
    else if (d.isFile()) {
      const p = join(root, r);
      await visitor.file(r, (await fsp.stat(p)).size, new FileSource(p), { file: p, offset: 0 });
    } else if (d.isSymbolicLink()) visitor.link(r, posix.join(posix.dirname(r), await fsp.readlink(join(root, r))));
  }
}

/** An entry's path relative to the archive root; undefined for the root itself or a path that climbs out. */
function archivePath(p: string): string | undefined {
  const parts: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (!parts.length) return undefined;
      parts.pop();
    } else parts.push(c);
  }
  return parts.length ? parts.join('/') : undefined;
}

async function* counted(src: AsyncIterable<Buffer>, on: (n: number) => void): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of src) {
    n += c.length;
    on(n);
    yield c;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new TvctlError('FILE_NOT_FOUND', `"${p}": no such file or directory`);
    throw err;
  }
}
