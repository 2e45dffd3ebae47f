import { describe, expect, it } from 'vitest';
import { imageFormatFields, imageIds, imageTable, listImageRows } from '../../../src/images/list.js';

const id = (c: string) => `sha256:${c.repeat(64)}`;
const images = [
  { id: id('a'), repoTags: ['busybox:latest', 'busybox:1'], created: '2024-01-01T00:00:00Z', size: 4_300_000 },
  { id: id('b'), repoTags: [], created: '2024-01-02T00:00:00Z', size: 10 },
];

describe('tvctl images listing', () => {
  it('filters by reference and dangling; refuses other filters', () => {
    expect(listImageRows(images, ['reference=busy*']).map((r) => r.tag)).toEqual(['latest', '1']);
    expect(listImageRows(images, ['reference=busybox:1', 'dangling=false']).map((r) => r.tag)).toEqual(['1']);
    expect(listImageRows(images, ['dangling=true']).map((r) => r.id)).toEqual([id('b')]);
    expect(() => listImageRows(images, ['label=x'])).toThrow(expect.objectContaining({ code: 'BAD_USAGE' }));
  });

  it('-q lists each image once; --no-trunc keeps the whole id', () => {
    const rows = listImageRows(images, []);
    expect(imageIds(rows, false)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
    expect(imageIds(rows, true)).toEqual([id('a'), id('b')]);
  });

  it("gives templates Docker's fields, and prints Docker's table", () => {
    const [row] = listImageRows(images, []);
    const now = Date.parse('2024-01-01T00:00:30Z');
    expect(imageFormatFields(row!, false, now)).toEqual({
      ID: 'aaaaaaaaaaaa',
      Repository: 'busybox',
      Tag: 'latest',
      Digest: '<none>',
      CreatedSince: '30 seconds ago',
      CreatedAt: '2024-01-01 00:00:00 +0000 UTC',
      Size: '4.3MB',
    });
    const later = Date.parse('2024-01-02T01:00:00Z');
    expect(imageTable(listImageRows(images, ['dangling=true']), false, later).split('\n')).toEqual([
      'REPOSITORY   TAG      IMAGE ID       CREATED             SIZE',
      '<none>       <none>   bbbbbbbbbbbb   About an hour ago   10B',
    ]);
  });
});
