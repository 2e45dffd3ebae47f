import { describe, expect, test } from 'vitest';
import { hostsFilesFor } from '../../../src/network/hosts-sync.js';
import type { EndpointRecord } from '../../../src/network/records.js';

const ep = (key: string, network: string, ip: string, extra: Partial<EndpointRecord> = {}): EndpointRecord => ({
  containerId: key.padEnd(64, '0'),
  key,
  index: 0,
  network,
  bridge: `tvbr-${network}`,
  netns: `tvctl-${key}`,
  hostVeth: `tv${key}`,
  ipAddress: ip,
  prefixLen: 24,
  macAddress: '02:42:00:00:00:00',
  ports: [],
  hostname: `h-${key}`,
  aliases: [`n-${key}`],
  etc: { dir: `/state/${key}/etc`, addHosts: [] },
  ...extra,
});

describe('hosts files of the containers on a network', () => {
  test('each lists its own addresses, then its peers on user networks; none on the default bridge', () => {
    const all = [
      ep('aaa', 'web', '10.89.0.2'),
      ep('bbb', 'web', '10.89.0.3', { etc: { dir: '/state/bbb/etc', addHosts: ['db:10.0.0.9'] } }),
      ep('bbb', 'back', '10.89.1.2', { index: 1, hostVeth: 'tvbbb1' }),
      ep('ccc', 'back', '10.89.1.3'),
      ep('ddd', 'bridge', '10.88.0.2'),
      ep('eee', 'bridge', '10.88.0.3'),
    ];
    const files = new Map(hostsFilesFor(all, ['back', 'bridge']).map((f) => [f.path, f.text]));
    expect([...files.keys()].sort()).toEqual([
      '/state/bbb/etc/hosts',
      '/state/ccc/etc/hosts',
      '/state/ddd/etc/hosts',
      '/state/eee/etc/hosts',
    ]);
    const bbb = files.get('/state/bbb/etc/hosts')!;
    expect(bbb).toContain('10.89.0.2\th-aaa n-aaa'); // peer on web
    expect(bbb).toContain('10.89.1.3\th-ccc n-ccc'); // peer on back
    expect(bbb).toContain('10.89.1.2\th-bbb n-bbb'); // its own second address
    expect(bbb).toContain('10.0.0.9\tdb');
    // The peer on the connected network is named by its owner's primary names.
    expect(files.get('/state/ccc/etc/hosts')).toContain('10.89.1.2\th-bbb n-bbb');
    expect(files.get('/state/ccc/etc/hosts')).not.toContain('10.89.0.2');
    expect(files.get('/state/ddd/etc/hosts')).not.toContain('10.88.0.3');
  });
  test('containers whose files were never written are left out', () => {
    const { etc: _never, ...unwritten } = ep('aaa', 'web', '10.89.0.2');
    expect(hostsFilesFor([unwritten, ep('bbb', 'web', '10.89.0.3')], ['web']).map((f) => f.path)).toEqual([
      '/state/bbb/etc/hosts',
    ]);
  });
});
