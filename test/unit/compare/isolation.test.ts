import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { deriveIsolation, parseMemTotal, parseProbeOutput, probeCommand } from '../../../src/compare/isolation.js';

const host = { kernelRelease: '6.18.44', bootId: 'aaaa-1111', cpus: 2, memTotalKiB: 24_000_000, pid1: 'systemd' };

describe('isolation probe', () => {
  it('parses labelled lines and ignores noise around them (CRLF, kernel messages)', () => {
    const out = [
      '[    1.234] random kernel line',
      '@tv:kernel=6.1.0-56-cloud-amd64\r',
      '@tv:pid1=init',
      '@tv:cpus=1',
      '@tv:memtotal=MemTotal:         238124 kB',
      '@tv:bootid=bbbb-2222',
      '@tv:hostname=',
    ].join('\n');
    expect(parseProbeOutput(out)).toEqual({
      kernelRelease: '6.1.0-56-cloud-amd64',
      pid1: 'init',
      cpus: 1,
      memTotalKiB: 238124,
      bootId: 'bbbb-2222',
    });
  });
  it('leaves missing facts undefined', () => {
    expect(parseProbeOutput('@tv:kernel=\n@tv:cpus=abc\n')).toEqual({});
  });
  it('the probe script runs under a real sh and reports this host', () => {
    const [file, ...args] = probeCommand();
    const p = parseProbeOutput(execFileSync(file!, args, { encoding: 'utf8' }));
    expect(p.kernelRelease).toBe(execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim());
    expect(p.cpus).toBeGreaterThan(0);
    expect(p.memTotalKiB).toBeGreaterThan(0);
    expect(p.bootId).toMatch(/^[0-9a-f-]{36}$/);
  });
  it('parseMemTotal', () => {
    expect(parseMemTotal('MemTotal:       24683932 kB\nMemFree: 1 kB\n')).toBe(24683932);
    expect(parseMemTotal('nothing')).toBeUndefined();
  });
});

describe('deriveIsolation', () => {
  it('same kernel release and boot id: the host kernel serves the syscalls', () => {
    const f = deriveIsolation({ kernelRelease: '6.18.44', bootId: 'aaaa-1111' }, host, undefined);
    expect(f.sharesHostKernel).toBe(true);
    expect(f.syscallPath).toBe('host-kernel');
  });
  it('a different kernel under TCG or KVM', () => {
    const tcg = deriveIsolation({ kernelRelease: '6.1.0', bootId: 'bbbb' }, host, 'tcg');
    expect(tcg.sharesHostKernel).toBe(false);
    expect(tcg.syscallPath).toBe('guest-kernel-tcg');
    expect(tcg.syscallPathText).toMatch(/TCG/);
    expect(deriveIsolation({ kernelRelease: '6.1.0', bootId: 'bbbb' }, host, 'kvm').syscallPath).toBe(
      'guest-kernel-kvm',
    );
  });
  it("same release but another boot id is another kernel instance (a VM booting the host's own kernel)", () => {
    expect(deriveIsolation({ kernelRelease: '6.18.44', bootId: 'cccc' }, host, 'tcg').sharesHostKernel).toBe(false);
  });
  it('unknown when the probe saw nothing', () => {
    const f = deriveIsolation({}, host, 'tcg');
    expect(f.sharesHostKernel).toBeUndefined();
    expect(f.syscallPath).toBe('unknown');
  });
});
