import { bytesOf, FileSource, isFileRegion } from './file-source.js';
import { isPipeRest, type LayerSource, type LayerUnpackResult, type PipeRest, type UnpackOptions } from './layer.js';
import { TarFormatError } from './tar-reader.js';
import { unpackPipeRestWithHelper, unpackRegionWithHelper, unpackStreamWithHelper, untarHelper } from './tvuntar.js';
import { unpackLayerJs } from './unpack-js.js';

/**
 * Unpacks one layer tar (uncompressed, gzip or zstd) into `dest`, an empty directory of its own.
 *
 * The work is done by the native extractor (native/untar, `tvuntar`) when it is built: it applies the
 * rules written down in unpack-js.ts with a few system calls per entry and computes the diff ID on a second
 * thread, while this process decompresses and feeds it (or it reads a layer that lies in a file, or the rest
 * of a pipe, by itself). Without it (or with TVCTL_UNTAR=js) the same rules run in JS; the unpack unit tests
 * run every rule against both.
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
    source = pipeRestStream(source);
  }
  return helper ? unpackStreamWithHelper(helper, source, dest, opts) : unpackLayerJs(source, dest, scratchDir, opts);
}

/** A piped layer read here (for the JS unpacker), counting in `consumed` what it took of the pipe. */
async function* pipeRestStream(src: PipeRest): AsyncGenerator<Buffer> {
  src.consumed = 0;
  yield src.prefix;
  for await (const c of bytesOf(src.fd, src.rest)) {
    src.consumed += c.length;
    yield c;
  }
  if (src.consumed < src.rest && Number.isFinite(src.rest))
    throw new TarFormatError('unexpected end of archive (truncated input?)');
}
