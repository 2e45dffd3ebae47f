import { describe, expect, it } from 'vitest';
import { matchRegion } from '../../../src/images/prefetch.js';
import { parseHello } from '../../../src/images/tvuntar.js';

describe("parseHello: the launcher's extractor's first line", () => {
  const who = { self: 41, child: 42 };
  it('reads pid, file identity, region and directory (which may hold spaces)', () => {
    expect(
      parseHello('prefetch 42 65024 15343627 5120 261468160 /var/lib/my data/images/tmp/41-00aabbccddee', who),
    ).toEqual({
      pid: 42,
      dev: 65024n,
      ino: 15343627n,
      offset: 5120,
      length: 261468160,
      dir: '/var/lib/my data/images/tmp/41-00aabbccddee',
    });
  });
  it('nothing to adopt: "none", an error line, an early end, a relative dir, a bad number', () => {
    expect(parseHello('none', who)).toBeUndefined();
    expect(parseHello('error BAD_TAR layer is not a valid tar archive', who)).toBeUndefined();
    expect(parseHello(undefined, who)).toBeUndefined();
    expect(parseHello('prefetch 42 1 2 3 4 relative/images/tmp/41-00aabbccddee', who)).toBeUndefined();
    expect(parseHello('prefetch 42 1 2 x 4 /d/images/tmp/41-00aabbccddee', who)).toBeUndefined();
  });
  it('nothing to kill or remove but our own child and our own staging dir', () => {
    expect(parseHello('prefetch 43 1 2 3 4 /d/images/tmp/41-00aabbccddee', who)).toBeUndefined(); // another pid
    expect(parseHello('prefetch 42 1 2 3 4 /d/images/tmp/40-00aabbccddee', who)).toBeUndefined(); // another's dir
    expect(parseHello('prefetch 42 1 2 3 4 /home/user', who)).toBeUndefined();
    expect(parseHello('prefetch 42 1 2 3 4 /d/images/tmp/41-00aabbccddee/..', who)).toBeUndefined();
    expect(parseHello('prefetch 42 1 2 3 4 /d/images/tmp/41-00aabbccddee', who)?.dir).toBe(
      '/d/images/tmp/41-00aabbccddee',
    );
  });
});

describe('matchRegion: only the region tvctl would unpack itself, of the same file', () => {
  const hello = parseHello('prefetch 42 7 99 5120 2000000 /s/images/tmp/1-00aabbccddee', { self: 1, child: 42 })!;
  const same = { dev: 7n, ino: 99n };
  it('same file, offset and length: adopt', () => {
    expect(matchRegion(hello, same, { offset: 5120, length: 2000000 })).toBe('yes');
  });
  it('another file (or one that could not be looked at): release', () => {
    expect(matchRegion(hello, { dev: 7n, ino: 98n }, { offset: 5120, length: 2000000 })).toBe('no');
    expect(matchRegion(hello, { dev: 8n, ino: 99n }, { offset: 5120, length: 2000000 })).toBe('no');
    expect(matchRegion(hello, undefined, { offset: 5120, length: 2000000 })).toBe('no');
  });
  it('an earlier (smaller) layer: keep waiting; a later one or another length: release', () => {
    expect(matchRegion(hello, same, { offset: 1024, length: 3000 })).toBe('later');
    expect(matchRegion(hello, same, { offset: 9_000_000, length: 2000000 })).toBe('no');
    expect(matchRegion(hello, same, { offset: 5120, length: 1999488 })).toBe('no');
  });
});
