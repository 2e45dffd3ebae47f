import { describe, expect, it } from 'vitest';
import {
  execConf,
  initConf,
  parseConf,
  serializeConf,
  shimConf,
  type InitSpec,
  type ProcessSpec,
} from '../../../src/namespaces/conf.js';
import { TvctlError } from '../../../src/errors.js';

const proc: ProcessSpec = {
  args: ['sh', '-c', 'echo "a b"; exit 3'],
  env: ['PATH=/bin', 'X=a=b'],
  caps: 0xa80425fbn,
  noNewPrivileges: true,
  seccomp: 'default',
  tty: false,
};

describe('serializeConf', () => {
  it('writes NUL-terminated key=value records in order, repeats kept', () => {
    const buf = serializeConf([
      ['arg', 'a'],
      ['arg', 'b=c'],
      ['env', ''],
    ]);
    expect(buf.toString('latin1')).toBe('arg=a\0arg=b=c\0env=\0');
    expect(parseConf(buf)).toEqual([
      ['arg', 'a'],
      ['arg', 'b=c'],
      ['env', ''],
    ]);
  });
  it('keeps UTF-8 and newlines intact', () => {
    const recs: Array<[string, string]> = [['arg', 'héllo\nwörld\t']];
    expect(parseConf(serializeConf(recs))).toEqual(recs);
  });
  it('rejects NUL in values and = or NUL in keys', () => {
    expect(() => serializeConf([['arg', 'a\0b']])).toThrow(TvctlError);
    expect(() => serializeConf([['a=b', 'x']])).toThrow(/invalid tvinit conf key/);
    expect(() => serializeConf([['a\0', 'x']])).toThrow(TvctlError);
    expect(() => serializeConf([['', 'x']])).toThrow(TvctlError);
  });
});

describe('initConf', () => {
  const spec: InitSpec = {
    process: proc,
    rootfs: '/s/c1/rootfs',
    lowerDirs: ['/d/l2', '/d/l1'],
    upperDir: '/d/c1/upper',
    workDir: '/d/c1/work',
    hostname: 'c1',
    mounts: [{ source: '/host/data', destination: '/data', readonly: true }],
    maskedPaths: ['/proc/kcore'],
    readonlyPaths: ['/proc/sys'],
  };
  it('serializes every field in the documented order', () => {
    expect(parseConf(initConf(spec))).toEqual([
      ['sync_fd', '3'],
      ['rootfs', '/s/c1/rootfs'],
      ['lower', '/d/l2'],
      ['lower', '/d/l1'],
      ['upper', '/d/c1/upper'],
      ['work', '/d/c1/work'],
      ['hostname', 'c1'],
      ['mount', '/host/data\t/data\tro'],
      ['masked', '/proc/kcore'],
      ['readonly_path', '/proc/sys'],
      ['arg', 'sh'],
      ['arg', '-c'],
      ['arg', 'echo "a b"; exit 3'],
      ['env', 'PATH=/bin'],
      ['env', 'X=a=b'],
      ['caps', '0x00000000a80425fb'],
      ['nnp', '1'],
      ['seccomp', 'default'],
    ]);
  });
  it('adds console_fd, tty, init, user, cwd, readonly, cgroupfs when asked', () => {
    const recs = parseConf(
      initConf({
        ...spec,
        readonly: true,
        cgroupfs: 'v2',
        loopbackUp: true,
        process: { ...proc, tty: true, init: true, user: '1000:1000', cwd: '/work' },
      }),
    );
    expect(recs).toContainEqual(['console_fd', '4']);
    expect(recs).toContainEqual(['tty', '1']);
    expect(recs).toContainEqual(['init', '1']);
    expect(recs).toContainEqual(['user', '1000:1000']);
    expect(recs).toContainEqual(['cwd', '/work']);
    expect(recs).toContainEqual(['readonly', '1']);
    expect(recs).toContainEqual(['cgroupfs', 'v2']);
    expect(recs).toContainEqual(['lo_up', '1']);
  });
  it('rejects bad specs with one clear error', () => {
    expect(() => initConf({ ...spec, lowerDirs: [] })).toThrow(/lowerdir/);
    expect(() => initConf({ ...spec, lowerDirs: ['/a:b'] })).toThrow(/cannot contain/);
    expect(() => initConf({ ...spec, rootfs: 'rel' })).toThrow(/absolute/);
    expect(() => initConf({ ...spec, process: { ...proc, args: [] } })).toThrow(/no command/);
    expect(() => initConf({ ...spec, process: { ...proc, env: ['NOEQ'] } })).toThrow(/KEY=VALUE/);
    const { workDir: _w, ...noWork } = spec;
    expect(() => initConf(noWork)).toThrow(/together/);
  });
  it('omits upper/work for a read-only overlay', () => {
    const { workDir: _w, upperDir: _u, ...ro } = spec;
    const keys = parseConf(initConf(ro)).map(([k]) => k);
    expect(keys).not.toContain('upper');
    expect(keys).not.toContain('work');
    expect(parseConf(initConf({ ...ro, volatile: true })).map(([k]) => k)).not.toContain('volatile');
  });
  it('marks a throw-away writable layer volatile, and only when asked', () => {
    expect(parseConf(initConf({ ...spec, volatile: true }))).toContainEqual(['volatile', '1']);
    expect(parseConf(initConf(spec)).map(([k]) => k)).not.toContain('volatile');
  });
});

describe('execConf', () => {
  it('has process keys and sync/console fds', () => {
    expect(parseConf(execConf({ process: { ...proc, tty: true, cwd: '/tmp' } }))).toEqual([
      ['sync_fd', '3'],
      ['console_fd', '4'],
      ['arg', 'sh'],
      ['arg', '-c'],
      ['arg', 'echo "a b"; exit 3'],
      ['env', 'PATH=/bin'],
      ['env', 'X=a=b'],
      ['cwd', '/tmp'],
      ['caps', '0x00000000a80425fb'],
      ['nnp', '1'],
      ['seccomp', 'default'],
      ['tty', '1'],
    ]);
  });
  it('refuses init=1', () => {
    expect(() => execConf({ process: { ...proc, init: true } })).toThrow(/only valid/);
  });
});

describe('shimConf', () => {
  it('serializes a detached shim with restart policy and oom files', () => {
    expect(
      parseConf(
        shimConf({
          argv: ['unshare', '--', '/x/tvinit', 'init', '/s/init.conf'],
          cgroupProcs: ['/sys/fs/cgroup/memory/tvctl/c1/cgroup.procs', '/sys/fs/cgroup/pids/tvctl/c1/cgroup.procs'],
          stateDir: '/s/c1',
          syncFd: 3,
          logFile: '/s/c1/c1-json.log',
          tty: false,
          stdin: false,
          restart: { name: 'on-failure', maxRetries: 3 },
          oomFiles: ['/sys/fs/cgroup/memory/tvctl/c1/memory.oom_control'],
          sealFd: 5,
        }),
      ),
    ).toEqual([
      ['argv', 'unshare'],
      ['argv', '--'],
      ['argv', '/x/tvinit'],
      ['argv', 'init'],
      ['argv', '/s/init.conf'],
      ['cgroup_procs', '/sys/fs/cgroup/memory/tvctl/c1/cgroup.procs'],
      ['cgroup_procs', '/sys/fs/cgroup/pids/tvctl/c1/cgroup.procs'],
      ['state_dir', '/s/c1'],
      ['sync_fd', '3'],
      ['log', '/s/c1/c1-json.log'],
      ['restart', 'on-failure:3'],
      ['oom_file', '/sys/fs/cgroup/memory/tvctl/c1/memory.oom_control'],
      ['seal_fd', '5'],
    ]);
  });
  it('exec shim: conf memfd and sealed nsenter', () => {
    const recs = parseConf(
      shimConf({
        argv: ['nsenter'],
        cgroupProcs: [],
        stateDir: '/s',
        tty: true,
        stdin: true,
        confFd: 6,
        confFile: '/s/e.conf',
        sealFd: 5,
        execSealed: true,
      }),
    );
    expect(recs).toEqual([
      ['argv', 'nsenter'],
      ['state_dir', '/s'],
      ['tty', '1'],
      ['stdin', '1'],
      ['seal_fd', '5'],
      ['conf_fd', '6'],
      ['conf', '/s/e.conf'],
      ['exec_sealed', '1'],
    ]);
  });
  it('rejects restart without detached mode and an empty argv', () => {
    expect(() =>
      shimConf({ argv: ['x'], cgroupProcs: [], stateDir: '/s', tty: false, stdin: false, restart: { name: 'always' } }),
    ).toThrow(/detached/);
    expect(() => shimConf({ argv: [], cgroupProcs: [], stateDir: '/s', tty: false, stdin: false })).toThrow(/empty/);
  });
});
