import { describe, expect, test } from 'vitest';
import { TvctlError } from '../../../src/errors.js';
import { formatPortMapping, parsePublish } from '../../../src/network/index.js';

describe('parsePublish (Docker -p syntax)', () => {
  test.each([
    ['80', { hostIp: '0.0.0.0', hostPort: 0, containerPort: 80, protocol: 'tcp' }],
    ['18080:80', { hostIp: '0.0.0.0', hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
    ['127.0.0.1:18080:80', { hostIp: '127.0.0.1', hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
    ['127.0.0.1::80', { hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }],
    ['5353:53/udp', { hostIp: '0.0.0.0', hostPort: 5353, containerPort: 53, protocol: 'udp' }],
    ['8080:80/TCP', { hostIp: '0.0.0.0', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    ['65535:1', { hostIp: '0.0.0.0', hostPort: 65535, containerPort: 1, protocol: 'tcp' }],
  ])('%s', (spec, want) => {
    expect(parsePublish(spec)).toEqual(want);
  });

  test.each([
    ['', /empty/],
    ['0:80', /out of range/],
    ['80:0', /out of range/],
    ['70000:80', /out of range/],
    ['abc', /not a port number/],
    ['8080:80/sctp', /unsupported protocol "sctp"/],
    ['8000-8010:80-90', /ranges are not supported/],
    ['1.2.3:8080:80', /not an IPv4 address/],
    ['999.1.1.1:8080:80', /not an IPv4 address/],
    ['[::1]:8080:80', /IPv6/],
    ['a:b:c:d', /too many/],
  ])('rejects %j', (spec, msg) => {
    let err: unknown;
    try {
      parsePublish(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TvctlError);
    expect((err as TvctlError).code).toBe('BAD_PUBLISH');
    expect((err as TvctlError).message).toMatch(msg);
  });

  test('formats like docker port', () => {
    expect(formatPortMapping(parsePublish('127.0.0.1:18080:80/udp'))).toBe('127.0.0.1:18080->80/udp');
  });
});
