import { describe, expect, it } from 'vitest';
import { findImage, moveTag, type RepositoriesDb } from '../../../src/images/store-db.js';
import { pruneImages, removeImage } from '../../../src/images/store-prune.js';
import type { StoredImage } from '../../../src/images/store.js';

const id = (c: string) => `sha256:${c.repeat(64)}`;
const image = (c: string, repoTags: string[]): StoredImage => ({
  id: id(c),
  repoTags,
  created: '2024-01-01T00:00:00Z',
  size: 1,
  manifestDigest: id('e'),
  configDigest: id(c),
  diffIds: [],
  layers: [],
  loaded: '2024-01-02T00:00:00Z',
});
const db = (...images: StoredImage[]): RepositoriesDb => ({
  version: 1,
  images: Object.fromEntries(images.map((i) => [i.id, i])),
});

describe('repositories db', () => {
  it('finds an image by tag (latest by default), full id, short id or a unique prefix', () => {
    const d = db(image('a', ['busybox:latest']), image('b', ['app:1']));
    expect(findImage(d, 'busybox').id).toBe(id('a'));
    expect(findImage(d, 'app:1').id).toBe(id('b'));
    expect(findImage(d, id('b')).id).toBe(id('b'));
    expect(findImage(d, 'aaaa').id).toBe(id('a'));
    expect(() => findImage(d, 'app:2')).toThrow(expect.objectContaining({ code: 'IMAGE_NOT_FOUND' }));
  });

  it('says when an id prefix is ambiguous', () => {
    const d = db(image('a', []), { ...image('b', []), id: `sha256:a${'b'.repeat(63)}` });
    expect(() => findImage(d, 'a')).toThrow(expect.objectContaining({ code: 'IMAGE_AMBIGUOUS' }));
  });

  it('moves a tag off the image that had it', () => {
    const d = db(image('a', ['app:1', 'app:latest']), image('b', []));
    moveTag(d, 'app:1', id('b'));
    moveTag(d, 'app:1', id('b'));
    expect(d.images[id('a')]!.repoTags).toEqual(['app:latest']);
    expect(d.images[id('b')]!.repoTags).toEqual(['app:1']);
  });
});

describe('removeImage and pruneImages', () => {
  it('a shared tag goes alone; the last tag takes the image with it', async () => {
    const d = db(image('a', ['app:1', 'app:2']));
    expect(await removeImage(d, id('a'), 'app:1', {})).toEqual({ untagged: ['app:1'], deleted: [] });
    expect(await removeImage(d, id('a'), 'app:2', {})).toEqual({ untagged: ['app:2'], deleted: [id('a')] });
    expect(d.images).toEqual({});
  });

  it('an id with several tags needs force; an image in use stays', async () => {
    const d = db(image('a', ['app:1', 'app:2']));
    await expect(removeImage(d, id('a'), 'aaaa', {})).rejects.toMatchObject({ code: 'IMAGE_CONFLICT' });
    const inUse = async () => true;
    await expect(removeImage(d, id('a'), 'aaaa', { force: true, isInUse: inUse })).rejects.toMatchObject({
      code: 'IMAGE_IN_USE',
    });
    expect(Object.keys(d.images)).toEqual([id('a')]);
    expect((await removeImage(d, id('a'), 'aaaa', { force: true })).deleted).toEqual([id('a')]);
  });

  it('prunes dangling images, or with all every image not in use', async () => {
    const d = db(image('a', []), image('b', ['app:1']), image('c', ['app:2']));
    expect(await pruneImages(d, {})).toEqual({ deleted: [id('a')], untagged: [] });
    const used = async (i: string) => i === id('c');
    expect(await pruneImages(d, { all: true, isInUse: used })).toEqual({ deleted: [id('b')], untagged: ['app:1'] });
    expect(Object.keys(d.images)).toEqual([id('c')]);
  });
});
