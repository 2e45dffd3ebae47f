import { describe, expect, it } from 'vitest';
import { formatRef, parseRef, splitRepoTag } from '../../../src/images/reference.js';
import { imageRows, matchesReference } from '../../../src/images/format.js';

describe('image references', () => {
  it('parses name[:tag] with latest as default and registry ports', () => {
    expect(parseRef('demo')).toEqual({ name: 'demo', tag: 'latest' });
    expect(parseRef('my/app:1.0')).toEqual({ name: 'my/app', tag: '1.0' });
    expect(parseRef('localhost:5000/x/y')).toEqual({ name: 'localhost:5000/x/y', tag: 'latest' });
    expect(formatRef(parseRef('localhost:5000/x:v2'))).toBe('localhost:5000/x:v2');
    expect(splitRepoTag('a/b:c')).toEqual({ name: 'a/b', tag: 'c' });
  });
  it('rejects invalid names and tags with a clear error', () => {
    expect(() => parseRef('UPPER')).toThrow(/invalid image name/);
    expect(() => parseRef('a:b:c')).toThrow(/invalid/);
    expect(() => parseRef('x:' + 't'.repeat(200))).toThrow(/invalid tag/);
    expect(() => parseRef('')).toThrow(/invalid image name/);
  });
});

describe('images table helpers', () => {
  const rows = imageRows([
    {
      id: 'sha256:' + 'a'.repeat(64),
      repoTags: ['demo:latest', 'my/app:1'],
      created: '2024-01-01T00:00:00Z',
      size: 1_982_449,
    },
    { id: 'sha256:' + 'b'.repeat(64), repoTags: [], created: '2024-01-01T00:00:00Z', size: 10 },
  ]);
  it('has one row per tag and a <none> row for dangling images', () => {
    expect(rows.map((r) => `${r.repository}:${r.tag}`)).toEqual(['demo:latest', 'my/app:1', '<none>:<none>']);
  });
  it('filters by reference glob like Docker (* does not cross /)', () => {
    expect(rows.filter((r) => matchesReference(r, 'demo')).length).toBe(1);
    expect(rows.filter((r) => matchesReference(r, '*')).map((r) => r.repository)).toEqual(['demo', '<none>']);
    expect(rows.filter((r) => matchesReference(r, 'my/*:1')).length).toBe(1);
  });
});
