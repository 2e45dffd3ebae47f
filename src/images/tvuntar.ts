/**
 * The native extractor, native/untar (`tvuntar`): where it is, how it is started, how the layer's bytes reach
 * it (a pipe it hands over, a file region it reads by itself, or the rest of our stdin), and its result line.
 * native/untar documents the protocol from its side; here are its command line, its hand-over and the lines it
 * prints, for the unpackers and for prefetch.ts (the launcher's tvuntar child).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { nativeBuildDir } from '../paths.js';
import { pipeCommandInto, runCommand, streamThroughCommand } from '../util/exec.js';
import { trace } from '../util/trace.js';
import { ZSTD_DECOMPRESS, decompress, sniffCompression, zstdCorrupt } from './compression.js';
import type { FileRegion } from './file-source.js';
import { LayerError, type LayerStream, type LayerUnpackResult, type PipeRest, type UnpackOptions } from './layer.js';
import { ByteReader, restOf } from './byte-reader.js';
import { TarFormatError } from './tar-reader.js';

/** The native extractor's path if it is built and not switched off (TVCTL_UNTAR=js). */
export function untarHelper(): string | undefined {
  if (process.env.TVCTL_UNTAR === 'js') return undefined;
  const p = join(nativeBuildDir(), 'tvuntar');
  return fs.existsSync(p) ? p : undefined;
}

/** How the layer's bytes reach the extractor; see native/untar for each mode. */
export type UntarInput =
  /** a pipe of its own, handed over by a hand-shake (runUntar) */
  | { kind: 'pipe' }
  /** a region of a file, which it reads by itself */
  | { kind: 'file'; region: FileRegion }
  /** `prefixFile` first, then the next `rest` bytes of its stdin (Infinity: all of it) */
  | { kind: 'pipe-rest'; prefixFile: string; rest: number };

/** tvuntar's command line: DEST SPLITDIR|- MODE…, for a layer unpacked into `dest` (its tar-split into `splitDir`). */
export function buildUntarArgs(dest: string, splitDir: string | undefined, input: UntarInput): string[] {
  const head = [dest, splitDir ?? '-'];
  switch (input.kind) {
    case 'pipe':
      return [...head, '--pipe'];
    case 'file':
      return [...head, '--file', input.region.file, String(input.region.offset), String(input.region.length)];
    case 'pipe-rest':
      return [...head, '--pipe-rest', input.prefixFile, Number.isFinite(input.rest) ? String(input.rest) : '-'];
  }
}

/** Splits a child's output into lines as it comes (the extractor's protocol is line-based). */
export class LineSplitter {
  private text = '';

  /** The lines that `chunk` completes, without their newlines. */
  push(chunk: string): string[] {
    this.text += chunk;
    const lines = this.text.split('\n');
    this.text = lines.pop()!;
    return lines;
  }
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
    const lines = new LineSplitter();
    for await (const c of streamThroughCommand({ file: helper, args }, control())) {
      for (const line of lines.push(c.toString('utf8'))) {
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
export async function unpackStreamWithHelper(
  helper: string,
  source: LayerStream,
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
      await pipeCommandInto(ZSTD_DECOMPRESS, input, fd).catch((err: Error) => {
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
      r = await runUntar(helper, buildUntarArgs(dest, opts.splitDir, { kind: 'pipe' }), feed);
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

/**
 * An uncompressed layer in a file: the helper reads it by itself and computes its digest over exactly the
 * bytes it unpacked (even if the file changed meanwhile: see native/untar's open_file_input).
 */
export async function unpackRegionWithHelper(
  helper: string,
  region: FileRegion,
  dest: string,
  opts: UnpackOptions,
): Promise<LayerUnpackResult> {
  const args = buildUntarArgs(dest, opts.splitDir, { kind: 'file', region });
  trace('tvuntar: start (in place)');
  return resultOfLength(region.length, await runUntar(helper, args));
}

/**
 * An uncompressed layer on a pipe: the helper reads the prefix from a file, then exactly the rest from the
 * pipe itself (its stdin is ours), so that the layer's bytes do not pass through this process.
 */
export async function unpackPipeRestWithHelper(
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
        args: buildUntarArgs(dest, opts.splitDir, { kind: 'pipe-rest', prefixFile, rest: src.rest }),
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
 * `tvuntar --prefetch` (started by the launcher before Node, see prefetch.ts) first says which layer it is
 * unpacking, and where.
 */
export interface PrefetchHello {
  pid: number;
  dev: bigint;
  ino: bigint;
  offset: number;
  length: number;
  /** the staging dir; the layer is DIR/layer (fs/ and tar-split, as stageLayer makes it) */
  dir: string;
}

/**
 * The child's first line: undefined for "none" or anything unexpected (then there is nothing to adopt).
 * Its directory must be one of our own staging dirs (images/tmp/OURPID-RANDOM), and it must be the child
 * the launcher told us about: nothing from the pipe makes us kill or remove anything else.
 */
export function parseHello(
  line: string | undefined,
  expect: { self: number; child: number },
): PrefetchHello | undefined {
  const m = /^prefetch (\d+) (\d+) (\d+) (\d+) (\d+) (\/.*)$/.exec(line ?? '');
  if (!m || Number(m[1]) !== expect.child) return undefined;
  if (!new RegExp(`/images/tmp/${expect.self}-[0-9a-f]{12}$`).test(m[6]!)) return undefined;
  return {
    pid: Number(m[1]),
    dev: BigInt(m[2]!),
    ino: BigInt(m[3]!),
    offset: Number(m[4]),
    length: Number(m[5]),
    dir: m[6]!,
  };
}
