/**
 * The few small-file operations on a container's start path, as direct syscalls behind promise-returning
 * functions (same signatures as node:fs/promises). State files are a few hundred bytes on tmpfs: the syscall
 * takes microseconds, the libuv thread-pool round trip of fs/promises costs more than the operation, and a
 * start makes dozens of them. Anything that may be large or slow (rm -rf of a layer) stays on fs/promises.
 */
import {
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  writeFileSync,
  type MakeDirectoryOptions,
  type WriteFileOptions,
} from 'node:fs';

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
