import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageStore, uniqueLayers } from '../../../src/images/store.js';
import { makeTar, sha256 } from '../../fixtures/images/build.js';

let base: string;
let store: ImageStore;
const rootfs = makeTar([
  { path: 'bin/', type: 'Directory' },
  { path: 'bin/hello', data: 'hi', mode: 0o755 },
  { path: 'etc/os-release', data: 'ID=test\n' },
]);
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), 'tvctl-store-'));
  store = new ImageStore(join(base, 'data'));
  writeFileSync(join(base, 'rootfs.tar'), rootfs);
  writeFileSync(join(base, 'rootfs.tar.gz'), gzipSync(rootfs));
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

describe('ImageStore', () => {
  it('imports a rootfs tar as a one-layer, content-addressed image and resolves it every way', async () => {
    const rec = await store.importRootfs(join(base, 'rootfs.tar'), 'demo');
    expect(rec.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rec.repoTags).toEqual(['demo:latest']);
    expect(rec.size).toBe(2 + 8);
    // the id is the digest of the config blob; the layer blob is the tar itself
    const cfg = readFileSync(store.blobPath(rec.id));
    expect(sha256(cfg)).toBe(rec.id);
    expect(JSON.parse(cfg.toString()).rootfs.diff_ids).toEqual([sha256(rootfs)]);
    // the uncompressed layer blob is not stored twice: it is rebuilt, byte for byte, from the layer dir
    expect(existsSync(store.blobPath(sha256(rootfs)))).toBe(false);
    expect(Buffer.concat([...store.blobSource(sha256(rootfs)).chunks()])).toEqual(rootfs);
    for (const ref of ['demo', 'demo:latest', rec.id, rec.id.slice(7), rec.id.slice(7, 19), rec.id.slice(7, 10)]) {
      const r = await store.resolve(ref);
      expect(r.id, ref).toBe(rec.id);
    }
    const r = await store.resolve('demo');
    expect(r.layerDirs).toEqual([join(store.root, 'layers', sha256(rootfs).slice(7), 'fs')]);
    expect(readFileSync(join(r.layerDirs[0]!, 'bin/hello'), 'utf8')).toBe('hi');
    expect(r.config.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(r.config.cmd).toBeUndefined();
    expect(await store.list()).toHaveLength(1);
  });

  it('says how to fix an unknown image', async () => {
    await expect(store.resolve('nope')).rejects.toMatchObject({
      code: 'IMAGE_NOT_FOUND',
      exitCode: 125,
      message: 'image "nope" not found; run "tvctl images" or "tvctl image import FILE NAME"',
    });
  });

  it('shares the layer between two imports of the same rootfs (gzip or not)', async () => {
    const a = await store.importRootfs(join(base, 'rootfs.tar'), 'a:1');
    const b = await store.importRootfs(join(base, 'rootfs.tar.gz'), 'b:1');
    expect(readdirSync(join(store.root, 'layers'))).toEqual([sha256(rootfs).slice(7)]);
    expect((await store.resolve('a:1')).layerDirs).toEqual((await store.resolve('b:1')).layerDirs);
    expect(a.id === b.id).toBe(false); // different created time → different config
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  it('fails an import of a non-tar with one message and registers nothing', async () => {
    writeFileSync(join(base, 'junk'), 'this is not a tar archive at all'.repeat(40));
    await expect(store.importRootfs(join(base, 'junk'), 'x')).rejects.toThrow(/not a valid tar archive/);
    await expect(store.importRootfs(join(base, 'missing.tar'), 'x')).rejects.toThrow(/no such file/);
    await expect(store.importRootfs(join(base, 'rootfs.tar'), 'Bad Name')).rejects.toThrow(/invalid image name/);
    expect(await store.list()).toEqual([]);
    expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
    expect(readdirSync(store.blobsDir)).toEqual([]);
    expect(readdirSync(store.tmpDir)).toEqual([]);
  });

  it('tags, untags, refuses removal while in use, and garbage-collects layers', async () => {
    const rec = await store.importRootfs(join(base, 'rootfs.tar'), 'demo');
    await store.tag('demo', 'other:v1');
    expect((await store.resolve('other:v1')).id).toBe(rec.id);
    await expect(store.remove(rec.id)).rejects.toThrow(/referenced by 2 tags/);
    expect(await store.remove('other:v1')).toEqual({ untagged: ['other:v1'], deleted: [] });
    const used = new Set([rec.id]);
    const isInUse = async (id: string) => used.has(id);
    await expect(store.remove('demo', { isInUse })).rejects.toMatchObject({ code: 'IMAGE_IN_USE' });
    expect((await store.resolve('demo')).id).toBe(rec.id);
    used.clear();
    expect(await store.remove('demo', { isInUse })).toEqual({ untagged: ['demo:latest'], deleted: [rec.id] });
    expect(readdirSync(join(store.root, 'layers'))).toEqual([]);
    expect(readdirSync(store.blobsDir)).toEqual([]);
  });

  it('moves a tag to a newer import, leaving the old image dangling for prune', async () => {
    const old = await store.importRootfs(join(base, 'rootfs.tar'), 'demo');
    const neu = await store.importRootfs(join(base, 'rootfs.tar.gz'), 'demo');
    expect((await store.resolve('demo')).id).toBe(neu.id);
    expect((await store.list()).find((i) => i.id === old.id)?.repoTags).toEqual([]);
    const r = await store.prune();
    expect(r.deleted).toEqual([old.id]);
    expect(existsSync((await store.resolve('demo')).layerDirs[0]!)).toBe(true); // shared layer kept
    expect((await store.prune({ all: true, isInUse: async () => true })).deleted).toEqual([]);
    expect((await store.prune({ all: true })).deleted).toEqual([neu.id]);
  });
});

describe('uniqueLayers', () => {
  it('keeps the topmost occurrence of a repeated layer (overlayfs refuses repeated lowerdirs)', () => {
    expect(uniqueLayers(['a', 'b', 'a', 'c'])).toEqual(['b', 'a', 'c']);
    expect(uniqueLayers(['a', 'a'])).toEqual(['a']);
    expect(uniqueLayers([])).toEqual([]);
  });
});
