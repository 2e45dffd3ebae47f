/**
 * `image load`, staging what streams by: every file of the input is hashed once and kept in memory (small
 * JSON), in a staging file (a blob to keep), or not at all (a layer the store has; an uncompressed layer,
 * which its tar-split rebuilds); anything that looks like a layer is unpacked into staging at the same time.
 * Which of it an image uses is decided afterwards (load-plan.ts).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join, posix } from 'node:path';
import { ChunkChannel } from './chunk-channel.js';
import { looksLikeLayer, sniffCompression, type Compression } from './compression.js';
import { bytesOf } from './file-source.js';
import type { LayerSource, PipeRest } from './layer.js';
import type { ArchiveVisitor, FileAt } from './load-input.js';
import { LoadError, type ArchiveEntry, type PlanContext } from './load-plan.js';
import type { ImageStore, StagedLayer, Staging } from './store.js';

export interface LoadProgress {
  /** input bytes read so far, and the total when known */
  onBytes?(read: number, total: number | undefined): void;
  onLayer?(done: number, started: number): void;
}

export type LayerOutcome = { ok: true; staged: StagedLayer & { size: number } } | { ok: false; error: unknown };

/** A file of the input, and what was staged of it. */
export interface ArchiveFile extends ArchiveEntry {
  /** its bytes in a staging file */
  tmp?: string;
  /** its unpacking into staging, if it looked like a layer */
  layer?: Promise<LayerOutcome>;
  compression?: Compression;
}

/** A layer unpacking as an outcome, so that a bad layer fails only the image that uses it. */
export function outcomeOf(staging: Promise<StagedLayer & { size: number }>): Promise<LayerOutcome> {
  return staging.then(
    (staged): LayerOutcome => ({ ok: true, staged }),
    (error: unknown): LayerOutcome => ({ ok: false, error }),
  );
}

/** Files up to this size that do not look like a layer are kept in memory (manifests, configs, index). */
const SMALL = 4 << 20;
/** How much of a streamed layer may wait for the unpacker. */
const CHANNEL_LIMIT = 4 << 20;

/** A head of a file's body, and the whole body again (head first) without re-reading it. */
interface Peeked {
  head: Buffer;
  rest(): AsyncGenerator<Buffer>;
  /** stops reading the body (a layer that the extractor reads by itself) */
  close(): Promise<void>;
}

async function peek(body: AsyncIterable<Buffer>, n: number): Promise<Peeked> {
  const first: Buffer[] = [];
  let have = 0;
  const it = body[Symbol.asyncIterator]();
  while (have < n) {
    const r = await it.next();
    if (r.done) break;
    first.push(r.value);
    have += r.value.length;
  }
  const head = Buffer.concat(first);
  return {
    head,
    async *rest() {
      if (head.length) yield head;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    },
    close: async () => void (await it.return?.(undefined)),
  };
}

/**
 * The input's files as they are staged, by path (symlinks and hard links followed): the visitor of the
 * input walk, and the planning's context afterwards.
 */
export class ArchiveStager implements ArchiveVisitor, PlanContext<ArchiveFile> {
  private readonly files = new Map<string, ArchiveFile>();
  private readonly links = new Map<string, string>();
  private readonly pending: Promise<LayerOutcome>[] = [];
  private layersStarted = 0;
  private layersDone = 0;

  constructor(
    private readonly store: ImageStore,
    private readonly s: Staging,
    /** blob digest → diff ID of the layers in the store */
    private readonly known: Map<string, string>,
    private readonly progress: LoadProgress = {},
  ) {}

  get(p: string): ArchiveFile | undefined {
    let path = posix.normalize(p).replace(/^\.?\//, '');
    for (let i = 0; i < 8 && !this.files.has(path) && this.links.has(path); i++)
      path = posix.normalize(this.links.get(path)!).replace(/^\.?\//, '');
    return this.files.get(path);
  }

  link(path: string, target: string): void {
    this.links.set(path, target);
  }

  /** Every layer unpacking started so far has succeeded or failed. */
  async unpacked(): Promise<void> {
    await Promise.allSettled(this.pending);
  }

  /** One file of the input, staged in one of the ways below and checked against its blob name. */
  async file(path: string, size: number, body: AsyncIterable<Buffer>, at: FileAt | undefined): Promise<void> {
    const peeked = await peek(body, 512);
    const { head } = peeked;
    const rec: ArchiveFile = { path, size, digest: '' };
    const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(path);
    const named = m ? `sha256:${m[1]}` : undefined;
    const layer = looksLikeLayer(head);
    const plainLayer = layer && sniffCompression(head) === 'none';
    // the content's sha256, or undefined when it is the layer's diff ID, which the unpacker computes
    let hashed: string | undefined;
    if (size <= SMALL && !layer) hashed = await this.keepInMemory(rec, peeked);
    else if (named && (await this.inStore(named))) hashed = await hashOf(peeked.rest());
    else if (at && 'file' in at && plainLayer) await this.layerInPlace(rec, peeked, at);
    else if (at && 'pipe' in at && plainLayer && size > head.length) await this.layerRestOfPipe(rec, peeked, at);
    else hashed = await this.streamToStaging(rec, peeked);
    if (hashed === undefined) {
      const outcome = await rec.layer!;
      if (!outcome.ok) {
        // Not a usable layer. Record it unverified; if the image references it, the unpack error is reported.
        rec.digest = named ?? 'unverified';
        this.files.set(path, rec);
        return;
      }
      rec.digest = outcome.staged.diffId;
    } else rec.digest = hashed;
    if (named && rec.digest !== named)
      throw new LoadError(
        `blob ${path} does not match its digest (content is sha256:${rec.digest.slice(7, 19)}…): the archive is corrupt`,
      );
    this.files.set(path, rec);
  }

  /** Unpacks a layer into staging, counted for the progress bar; `settled` runs once it is done either way. */
  private startLayer(source: LayerSource, settled?: () => void): Promise<LayerOutcome> {
    this.layersStarted++;
    this.progress.onLayer?.(this.layersDone, this.layersStarted);
    const p = outcomeOf(this.store.stageLayer(this.s, source));
    void p.then(() => {
      settled?.();
      this.progress.onLayer?.(++this.layersDone, this.layersStarted);
    });
    this.pending.push(p);
    return p;
  }

  private async keepInMemory(rec: ArchiveFile, peeked: Peeked): Promise<string> {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    for await (const c of peeked.rest()) {
      hash.update(c);
      chunks.push(c);
    }
    rec.data = Buffer.concat(chunks);
    return `sha256:${hash.digest('hex')}`;
  }

  /** A layer blob the store has, unpacked, from a blob it knows: verify the bytes, keep nothing. */
  private async inStore(digest: string): Promise<boolean> {
    const diffId = this.known.get(digest);
    return !!diffId && (await this.store.hasLayer(diffId)) && (await this.store.blobAvailable(digest));
  }

  /**
   * An uncompressed layer lying in a file: the extractor reads it from there by itself (the archive reader
   * skips it) and hashes what it read; no blob is kept (its tar-split rebuilds it).
   */
  private async layerInPlace(rec: ArchiveFile, peeked: Peeked, at: { file: string; offset: number }): Promise<void> {
    rec.compression = 'none';
    await peeked.close(); // not read here (closes a blob file of a layout directory)
    rec.layer = this.startLayer({ file: at.file, offset: at.offset, length: rec.size });
  }

  /**
   * An uncompressed layer on a pipe: what was already read of it goes to the extractor first, and it reads
   * exactly the rest from the pipe itself, so that the layer is not copied through here.
   */
  private async layerRestOfPipe(
    rec: ArchiveFile,
    peeked: Peeked,
    at: Extract<FileAt, { pipe: unknown }>,
  ): Promise<void> {
    rec.compression = 'none';
    await peeked.close();
    const prefix = Buffer.concat([peeked.head, ...at.reader.takeBuffered(rec.size - peeked.head.length)]);
    const rest = rec.size - prefix.length;
    const source: PipeRest = { fd: at.pipe.fd, prefix, rest };
    rec.layer = this.startLayer(source);
    const outcome = await rec.layer;
    if (!outcome.ok) {
      // A bad layer is an error only if an image uses it, but the archive can be read on only if we know
      // where the pipe stands: the unpacker says how much of the layer it read; skip the rest.
      if (source.consumed === undefined) throw outcome.error;
      for await (const _ of bytesOf(at.pipe.fd, rest - source.consumed)) void _;
    }
    at.reader.consumedElsewhere(rest);
    at.pipe.counted(rest);
  }

  /**
   * Anything else passes through here: into a staging file (unless it is an uncompressed layer, which its
   * tar-split rebuilds: see tar-split.ts), and into the unpacker if it looks like a layer. Returns the
   * content's digest, or undefined when that is the layer's diff ID.
   */
  private async streamToStaging(rec: ArchiveFile, peeked: Peeked): Promise<string | undefined> {
    rec.compression = sniffCompression(peeked.head);
    const layer = looksLikeLayer(peeked.head);
    const keepBlob = !(layer && rec.compression === 'none');
    const hash = createHash('sha256');
    const tmp = join(
      this.s.dir,
      `in-${this.files.size}-${posix
        .basename(rec.path)
        .slice(0, 40)
        .replace(/[^\w.-]/g, '_')}`,
    );
    const fd = keepBlob ? fs.openSync(tmp, 'wx', 0o600) : -1;
    if (keepBlob) rec.tmp = tmp;
    let ch: ChunkChannel | undefined;
    if (layer) {
      const channel = new ChunkChannel(CHANNEL_LIMIT);
      ch = channel;
      rec.layer = this.startLayer(channel, () => channel.close()); // (on failure: keeps the writer from blocking)
    }
    try {
      for await (const c of peeked.rest()) {
        if (keepBlob) hash.update(c);
        let off = 0;
        if (fd >= 0) while (off < c.length) off += fs.writeSync(fd, c, off);
        if (ch) await ch.write(c);
      }
    } finally {
      if (fd >= 0) fs.closeSync(fd);
      ch?.end();
    }
    return keepBlob ? `sha256:${hash.digest('hex')}` : undefined;
  }
}

async function hashOf(chunks: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const c of chunks) hash.update(c);
  return `sha256:${hash.digest('hex')}`;
}
