import { describe, expect, it } from 'vitest';
import { LineSplitter, buildUntarArgs, parseUntarResult, resultOfLength } from '../../../src/images/tvuntar.js';

const digest = `sha256:${'ab'.repeat(32)}`;

describe("tvuntar's command line", () => {
  it('names the layer dir, the tar-split dir (or -) and how the bytes come', () => {
    expect(buildUntarArgs('/s/l/fs', '/s/l', { kind: 'pipe' })).toEqual(['/s/l/fs', '/s/l', '--pipe']);
    expect(
      buildUntarArgs('/d', undefined, { kind: 'file', region: { file: '/a.tar', offset: 1536, length: 10 } }),
    ).toEqual(['/d', '-', '--file', '/a.tar', '1536', '10']);
    expect(buildUntarArgs('/d', '/s', { kind: 'pipe-rest', prefixFile: '/s/p', rest: 4096 })).toEqual([
      '/d',
      '/s',
      '--pipe-rest',
      '/s/p',
      '4096',
    ]);
    // a root file system on stdin: read to the end
    expect(buildUntarArgs('/d', '/s', { kind: 'pipe-rest', prefixFile: '/s/p', rest: Infinity }).at(-1)).toBe('-');
  });
});

describe("tvuntar's output", () => {
  it('splits lines across chunks and keeps an unfinished one for later', () => {
    const s = new LineSplitter();
    expect(s.push('pipe 12')).toEqual([]);
    expect(s.push('3 4\ngo\nok 1')).toEqual(['pipe 123 4', 'go']);
    expect(s.push(' 2\n')).toEqual(['ok 1 2']);
  });

  it('reads the result line, and throws what an error line says', () => {
    expect(parseUntarResult(`ok 10 2 3072 ${digest}`)).toEqual({ size: 10, whiteouts: 2, tarSize: 3072, digest });
    expect(() => parseUntarResult('error PATH entry "../x" points outside the layer')).toThrow(
      expect.objectContaining({ code: 'BAD_LAYER', message: 'entry "../x" points outside the layer' }),
    );
    expect(() => parseUntarResult('error NO_SPACE no space left')).toThrow(
      expect.objectContaining({ code: 'NO_SPACE' }),
    );
    expect(() => parseUntarResult('Segmentation fault', '/x/tvuntar')).toThrow(
      /unexpected output from \/x\/tvuntar: "Segmentation fault"/,
    );
  });

  it('checks a result against the length of the layer it was given', () => {
    const r = parseUntarResult(`ok 10 0 3072 ${digest}`);
    expect(resultOfLength(3072, r)).toEqual({ diffId: digest, size: 10, whiteouts: 0, tarSize: 3072 });
    expect(resultOfLength(Infinity, r).tarSize).toBe(3072);
    expect(() => resultOfLength(4096, r, 'input')).toThrow(/truncated input\?\): 3072 of 4096 bytes/);
  });
});
