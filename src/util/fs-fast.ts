/**
 * The few small-file operations on a container's start path, as direct syscalls behind promise-returning
 * functions (same signatures as node:fs/promises). State files are a few hundred bytes on tmpfs: the syscall
 * takes microseconds, the libuv thread-pool round trip of fs/promises costs more than the operation, and a
 * start makes dozens of them. Anything that may be large or slow (rm -rf of a big layer) goes to fs/promises.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  type Dirent,
  type MakeDirectoryOptions,
  type WriteFileOptions,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { isErrno } from '../errors.js';

export async function readFile(path: string, encoding: 'utf8'): Promise<string> {
  return readFileSync(path, encoding);
}

export async function writeFile(path: string, data: string | Uint8Array, options?: WriteFileOptions): Promise<void> {
  writeFileSync(path, data, options);
}

export async function mkdir(path: string, options?: MakeDirectoryOptions): Promise<void> {
  mkdirSync(path, options);
}

export async function rename(from: string, to: string): Promise<void> {
  renameSync(from, to);
}

export async function readdir(path: string): Promise<string[]> {
  return readdirSync(path);
}

export async function unlink(path: string): Promise<void> {
  unlinkSync(path);
}

/** Creates `path` exclusively (O_CREAT|O_EXCL, like open(path, 'wx')) holding `data`; EEXIST when it exists. */
export async function createExclusive(path: string, data: string, mode: number): Promise<void> {
  const fd = openSync(path, 'wx', mode);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * rm -rf of a container's writable layer or state dir. The usual case is a handful of small files and
 * empty dirs (a container that wrote little): removed directly, synchronously, as rm does. A tree that
 * turns out to be big (more than `budget` entries) is handed to fs/promises' rm, which works in the
 * background and keeps the event loop free for a program using the typed API.
 */
export async function removeTreeFast(dir: string, budget = 64): Promise<void> {
  const entries: { path: string; dir: boolean }[] = [];
  const walk = (d: string): boolean => {
    let names: Dirent[];
    try {
      names = readdirSync(d, { withFileTypes: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') && d === dir) return true;
      throw err;
    }
    for (const e of names) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory()) {
        if (!walk(p)) return false;
      } else entries.push({ path: p, dir: false });
      if (entries.length > budget) return false;
    }
    entries.push({ path: d, dir: true });
    return true;
  };
  if (!walk(dir)) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  for (const e of entries) {
    try {
      if (e.dir) rmdirSync(e.path);
      else unlinkSync(e.path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
}
