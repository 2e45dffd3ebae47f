import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assessContainerEngine,
  explainHost,
  gatherCgroupFacts,
  hasOverlayfs,
  vmEngineUses,
} from '../../../src/host/facts.js';
import { formatHostFacts, formatInfo } from '../../../src/host/format.js';
import { v1ControllersFromEntries } from '../../../src/cgroups/detect.js';
import { HOST } from '../compare/fixture.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tvctl-facts-'));
  dirs.push(d);
  return d;
}

describe('host facts', () => {
  it('cgroup facts: hybrid tree with co-mounted v1 controllers and a unified mount', () => {
    const root = tmp();
    const proc = tmp();
    for (const d of ['cpu,cpuacct', 'memory', 'pids', 'systemd', 'unified']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    writeFileSync(
      join(proc, 'cgroups'),
      '#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t1\t1\ncpuacct\t2\t1\t1\nmemory\t3\t1\t1\npids\t4\t1\t1\nhugetlb\t0\t1\t1\n',
    );
    expect(gatherCgroupFacts(root, proc)).toEqual({
      mode: 'hybrid',
      v1Controllers: ['cpu', 'cpuacct', 'memory', 'pids'],
      v2Controllers: ['hugetlb'],
    });
  });
  it('cgroup facts: pure v2 and none', () => {
    const root = tmp();
    writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    expect(gatherCgroupFacts(root, tmp())).toEqual({
      mode: 'v2',
      v1Controllers: [],
      v2Controllers: ['cpu', 'cpuset', 'io', 'memory', 'pids'],
    });
    const none = gatherCgroupFacts(join(tmp(), 'missing'));
    expect(none.mode).toBeUndefined();
    expect(none.error).toMatch(/not found/);
  });
  it('v1 controllers from entries, without /proc/cgroups', () => {
    expect(v1ControllersFromEntries(['cpu,cpuacct', 'name=systemd', 'unified', 'blkio'])).toEqual([
      'blkio',
      'cpu',
      'cpuacct',
    ]);
  });
  it('overlayfs from /proc/filesystems', () => {
    expect(hasOverlayfs('nodev\tsysfs\nnodev\toverlay\n\text4\n')).toBe(true);
    expect(hasOverlayfs('nodev\tsysfs\n\text4\n')).toBe(false);
  });
  it('containers need cgroups, namespaces, overlayfs and the supervisor', () => {
    expect(assessContainerEngine(HOST).usable).toBe(true);
    const bad = assessContainerEngine({
      ...HOST,
      namespaces: ['mnt'],
      overlayfs: false,
      containerSupervisor: { path: '/x', built: false },
    });
    expect(bad.usable).toBe(false);
    expect(bad.why).toMatch(/pid, uts, ipc, net, cgroup/);
    expect(bad.why).toMatch(/overlayfs/);
    expect(bad.why).toMatch(/not built/);
  });
  it('no guest kernel: the VM engines cannot boot Linux, and say how to get one', () => {
    const uses = vmEngineUses(
      [
        { engine: 'qemu', usable: true, fullLinux: true, accel: 'tcg', why: '-accel tcg' },
        { engine: 'kvm', usable: false, fullLinux: false, why: 'no /dev/kvm' },
      ],
      { installed: false, path: '/k' },
    );
    expect(uses[0]).toMatchObject({ engine: 'qemu', fullLinux: false, needs: 'guest-kernel' });
    expect(uses[0]!.why).toMatch(/tvctl vm kernel install/);
    expect(uses[1]!.why).toBe('no /dev/kvm');
  });
  it('explains the four rungs of the taxonomy in terms of this host', () => {
    const s = explainHost(HOST);
    expect(s).toHaveLength(4);
    expect(s[0]).toMatch(/^OS-level virtualization .*6\.18\.44-test.*usable here\./);
    expect(s[1]).toMatch(/^Hardware-assisted virtualization .*software PVM/);
    expect(s[2]).toMatch(/^Compiled emulation \(QEMU TCG.*usable here/);
    expect(s[3]).toMatch(/^Interpreted emulation/);
    const hw = explainHost({
      ...HOST,
      kvm: { ...HOST.kvm, kind: 'hardware' },
      engines: HOST.engines.map((e) => (e.engine === 'kvm' ? { ...e, fullLinux: true } : e)),
    });
    expect(hw[1]).toMatch(/this host has it — usable for full Linux guests/);
  });
  it('formats the human view', () => {
    const text = formatHostFacts(HOST).join('\n');
    expect(text).toMatch(/cgroups: +hybrid/);
    expect(text).toMatch(/Namespaces: +cgroup, ipc, mnt, net, pid, uts/);
    expect(text).toMatch(/kvm +small guests only/);
  });
  it('tvctl info: the KVM device, each VM engine once per section, then the host facts', () => {
    const lines = formatInfo({
      ...HOST,
      engines: [
        ...HOST.engines.filter((e) => e.engine !== 'qemu'),
        { engine: 'qemu', usable: true, fullLinux: false, needs: 'guest-kernel', accel: 'tcg', why: 'no guest kernel' },
      ],
    });
    expect(lines.slice(0, 2)).toEqual(['Kernel:        6.18.44-test (x64)', 'KVM:           software (PVM)']);
    expect(lines).toContain('  modules:     kvm, kvmPvm');
    expect(lines).toContain('  cpu flags:   vmx=no svm=no hypervisor=yes');
    expect(lines).not.toContainEqual(expect.stringMatching(/^ {2}extensions:/));
    const vm = lines.slice(lines.indexOf('VM engines:') + 1, lines.indexOf(''));
    expect(vm).toEqual([
      '  kvm   small guests only: software PVM: small guests only',
      '  qemu  full Linux (-accel tcg): no guest kernel',
    ]);
    expect(lines).toContain('  qemu      needs a guest kernel (-accel tcg): no guest kernel');
    expect(lines.at(-1)).toBe(HOST.explanation.at(-1));
  });
});
