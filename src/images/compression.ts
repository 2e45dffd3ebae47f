import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TvctlError } from '../errors.js';
import { streamThroughCommand } from '../util/exec.js';
import { LayerError } from './layer.js';
import { ByteReader, restOf } from './byte-reader.js';

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
      yield* streamThroughCommand(ZSTD_DECOMPRESS, rest);
    } catch (err) {
      throw err instanceof TvctlError && err.code === 'COMMAND_FAILED' ? zstdCorrupt(err) : err;
    }
  }
}

/** `zstd -dc`: the decompressor of zstd layers, here and when its output goes straight to the extractor. */
export const ZSTD_DECOMPRESS = { file: 'zstd', args: ['-d', '-c', '-q'] };

/** A failed `zstd -d` as the layer error it means (a missing zstd binary stays what it is). */
export const zstdCorrupt = (err: Error): Error =>
  err instanceof TvctlError && err.code === 'ENOENT'
    ? err
    : new LayerError(`zstd data is corrupt: ${err.message.replace(/^.*?failed \(exit \S+\): /, '')}`);
