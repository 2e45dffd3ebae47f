import { describe, expect, test } from 'vitest';
import { parseAddHost, renderHostModeHosts, renderHosts, renderResolvConf } from '../../../src/network/etc.js';

describe('/etc files', () => {
  test('hosts: localhost, self, --add-host, peers', () => {
    const text = renderHosts({
      self: { ip: '10.89.0.2', names: ['web', 'web', 'www'] },
      extra: [parseAddHost('db.local:10.1.2.3')],
      peers: [{ ip: '10.89.0.3', names: ['cache'] }],
    });
    const lines = text.trim().split('\n');
    expect(lines[0]).toBe('127.0.0.1\tlocalhost');
    expect(lines).toContain('10.89.0.2\tweb www');
    expect(lines).toContain('10.1.2.3\tdb.local');
    expect(lines).toContain('10.89.0.3\tcache');
  });
  test('hosts without self (network none) has no container address', () => {
    expect(renderHosts({ extra: [], peers: [] })).not.toMatch(/^10\./m);
  });
  test('host mode appends to the host file', () => {
    expect(renderHostModeHosts('127.0.0.1 localhost', [{ ip: '1.2.3.4', names: ['x'] }])).toBe(
      '127.0.0.1 localhost\n1.2.3.4\tx\n',
    );
  });
  test('bad --add-host', () => {
    expect(() => parseAddHost('nohost')).toThrow(/NAME:IPv4/);
    expect(() => parseAddHost('x:1.2.3')).toThrow(/NAME:IPv4/);
  });
  test('resolv.conf: explicit --dns wins, keeps search/options', () => {
    const host = 'nameserver 192.0.2.53\nsearch example.com\noptions ndots:2\n';
    expect(renderResolvConf(host, ['9.9.9.9'], false)).toBe(
      'nameserver 9.9.9.9\nsearch example.com\noptions ndots:2\n',
    );
  });
  test('resolv.conf: loopback servers dropped outside host mode, with public fallback', () => {
    const host = 'nameserver 127.0.0.53\nnameserver 192.0.2.53\n';
    expect(renderResolvConf(host, [], false)).toBe('nameserver 192.0.2.53\n');
    expect(renderResolvConf('nameserver 127.0.0.53\n', [], false)).toBe('nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
    expect(renderResolvConf('nameserver 127.0.0.53\n', [], true)).toBe('nameserver 127.0.0.53\n');
    expect(() => renderResolvConf('', ['bad'], false)).toThrow(/invalid --dns/);
  });
});
