/**
 * What the two layer unpackers (the native extractor, tvuntar.ts, and the JS one, unpack-js.ts) take and
 * give: unpack.ts picks one of them for each layer.
 */
import type { FileRegion } from './file-source.js';
import { TvctlError } from '../errors.js';

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

/** A layer stream (uncompressed, gzip or zstd), or an uncompressed layer that is a region of a file. */
export type LayerSource = LayerStream | FileRegion | PipeRest;

/** A layer's bytes as they come, compressed or not. */
export type LayerStream = AsyncIterable<Buffer> | Iterable<Buffer>;

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
