import { describe, expect, it } from 'vitest';
import {
  ALL_CAPS_MASK,
  CAPABILITIES,
  DOCKER_DEFAULT_CAP_MASK,
  DOCKER_DEFAULT_CAPS,
  capabilityMask,
  capabilityNames,
  formatCapMask,
} from '../../../src/namespaces/caps.js';

describe('capabilities', () => {
  it("Docker's default set is 14 caps = 00000000a80425fb", () => {
    expect(DOCKER_DEFAULT_CAPS).toHaveLength(14);
    expect(formatCapMask(DOCKER_DEFAULT_CAP_MASK)).toBe('00000000a80425fb');
    expect(formatCapMask(capabilityMask())).toBe('00000000a80425fb');
  });
  it('knows the kernel numbering up to CAP_CHECKPOINT_RESTORE (40)', () => {
    expect(CAPABILITIES.indexOf('SYS_ADMIN')).toBe(21);
    expect(CAPABILITIES.indexOf('CHECKPOINT_RESTORE')).toBe(40);
    expect(formatCapMask(ALL_CAPS_MASK)).toBe('000001ffffffffff');
  });
  it('add/drop: names case-insensitive, CAP_ prefix optional', () => {
    const m = capabilityMask(['sys_admin', 'CAP_NET_ADMIN'], ['chown', 'Cap_Kill']);
    expect(capabilityNames(m)).toContain('CAP_SYS_ADMIN');
    expect(capabilityNames(m)).toContain('CAP_NET_ADMIN');
    expect(capabilityNames(m)).not.toContain('CAP_CHOWN');
    expect(capabilityNames(m)).not.toContain('CAP_KILL');
    expect(capabilityNames(m)).toHaveLength(14);
  });
  it('ALL in drop and add', () => {
    expect(capabilityMask([], ['ALL'])).toBe(0n);
    expect(capabilityMask(['NET_ADMIN'], ['all'])).toBe(1n << 12n);
    expect(capabilityMask(['ALL'], [])).toBe(ALL_CAPS_MASK);
    expect(capabilityMask(['ALL'], ['SYS_ADMIN'])).toBe(ALL_CAPS_MASK & ~(1n << 21n));
  });
  it('unknown names are a TvctlError', () => {
    expect(() => capabilityMask(['NOPE'])).toThrow(/invalid capability "NOPE"/);
    expect(() => capabilityMask([], ['CAP_'])).toThrow(/invalid capability/);
  });
  it('formats 16 hex digits', () => {
    expect(formatCapMask(0n)).toBe('0000000000000000');
  });
});
