import { describe, expect, it } from 'vitest';
import type { PortMapping } from '../../../src/network/index.js';
import { publishedPorts } from '../../../src/runtime/ports.js';
import type { ContainerInfo } from '../../../src/runtime/types.js';

const bound: PortMapping[] = [
  { hostIp: '0.0.0.0', hostPort: 32768, containerPort: 80, protocol: 'tcp' },
  { hostIp: '0.0.0.0', hostPort: 5353, containerPort: 53, protocol: 'udp' },
] as PortMapping[];

const container = (running: boolean): ContainerInfo =>
  ({ state: { running }, network: { mode: 'bridge', ports: bound } }) as unknown as ContainerInfo;

describe('publishedPorts', () => {
  it('lists the bound ports of a running container, none of a stopped one', () => {
    expect(publishedPorts(container(true), 'web')).toEqual(bound);
    expect(publishedPorts(container(false), 'web')).toEqual([]);
  });
  it('picks one PRIVATE_PORT[/PROTO], tcp by default', () => {
    expect(publishedPorts(container(true), 'web', '80')).toEqual([bound[0]]);
    expect(publishedPorts(container(true), 'web', '53/UDP')).toEqual([bound[1]]);
  });
  it('fails for a port that is not published, and for one that is not a port', () => {
    expect(() => publishedPorts(container(true), 'web', '53')).toThrow('no public port "53/tcp" published for web');
    expect(() => publishedPorts(container(false), 'web', '80')).toThrow(/no public port "80\/tcp"/);
    expect(() => publishedPorts(container(true), 'web', '80/sctp')).toThrow(/invalid port "80\/sctp"/);
  });
});
