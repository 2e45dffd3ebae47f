import { describe, expect, it } from 'vitest';
import { parseLabels, parseRestart, parseVolume } from '../../../src/cli/run-flags.js';

describe('run flag parsers', () => {
  it('parses volumes as Docker does', () => {
    expect(parseVolume('/srv:/data')).toEqual({ source: '/srv', destination: '/data', readonly: false });
    expect(parseVolume('/srv:/data:ro')).toEqual({ source: '/srv', destination: '/data', readonly: true });
    expect(() => parseVolume('/srv')).toThrow(/expected HOST:CONTAINER/);
    expect(() => parseVolume('/a:/b:rx')).toThrow(/invalid volume mode "rx"/);
  });

  it('parses restart policies', () => {
    expect(parseRestart('no')).toEqual({ name: 'no' });
    expect(parseRestart('always')).toEqual({ name: 'always' });
    expect(parseRestart('on-failure')).toEqual({ name: 'on-failure', maximumRetryCount: 0 });
    expect(parseRestart('on-failure:3')).toEqual({ name: 'on-failure', maximumRetryCount: 3 });
    expect(() => parseRestart('on-failure:x')).toThrow(/max-retries/);
    expect(() => parseRestart('sometimes')).toThrow(/invalid restart policy "sometimes"/);
  });

  it('parses labels', () => {
    expect(parseLabels(['a=1', 'b', 'c=x=y'])).toEqual({ a: '1', b: '', c: 'x=y' });
    expect(() => parseLabels(['=v'])).toThrow(/empty key/);
  });
});
