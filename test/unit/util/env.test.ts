import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_ENV, mergeEnv, parseEnvFile, resolveEnvArgs } from '../../../src/util/env.js';

describe('the process environment (containers and VM guests alike)', () => {
  it('PATH and HOSTNAME are defaults, the image overrides them, -e overrides the image', () => {
    expect(mergeEnv([], [], { hostname: 'h1' })).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=h1']);
    expect(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=x=y'])).toEqual(['PATH=/bin', 'A=2', 'B=x=y']);
    expect(mergeEnv(['A=1'], ['HOSTNAME=mine'], { hostname: 'h1' })).toEqual([
      DEFAULT_PATH_ENV,
      'HOSTNAME=mine',
      'A=1',
    ]);
  });

  it('an entry without KEY= is refused, wherever it comes from', () => {
    expect(() => mergeEnv(['BROKEN'], [])).toThrow(/expected KEY=VALUE/);
    expect(() => mergeEnv([], ['=v'])).toThrow(/expected KEY=VALUE/);
  });

  it('a bare -e KEY takes the caller value or is dropped; env files skip blanks and comments', () => {
    expect(resolveEnvArgs(['A', 'B', 'C=3'], { A: '1' })).toEqual(['A=1', 'C=3']);
    expect(parseEnvFile('A=1\r\n\n# note\n  # indented\nB\n')).toEqual(['A=1', 'B']);
  });
});
