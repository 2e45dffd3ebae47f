import { describe, expect, it } from 'vitest';
import { TvctlError } from '../../../src/errors.js';
import {
  ALL_CAPS_MASK,
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  capabilityNames,
  execConf,
  initConf,
  parseConf,
  shimConf,
  type ConfRecord,
} from '../../../src/namespaces/index.js';
import {
  buildContainerRecord,
  containerInitSpec,
  containerShimSpec,
  execShimSpec,
  execSpec,
  type ImageForContainer,
} from '../../../src/runtime/container-conf.js';
import type { ContainerOptions, ContainerRecord, ExecOptions } from '../../../src/runtime/types.js';

const image: ImageForContainer = {
  id: 'sha256:' + 'ab'.repeat(32),
  config: {
    entrypoint: ['/entry'],
    cmd: ['serve'],
    env: ['PATH=/img/bin', 'MODE=image', 'KEEP=1'],
    workingDir: '/app',
    user: 'daemon',
    exposedPorts: ['80/tcp', '53/udp'],
  },
  // bottom first, as the image store lists them
  layerDirs: ['/layers/base', '/layers/top'],
};

const dirs = { rootfs: '/state/c/rootfs', upper: '/data/c/upper', work: '/data/c/work' };
const etc = { hosts: '/state/c/etc/hosts', hostname: '/state/c/etc/hostname', resolvConf: '/state/c/etc/resolv.conf' };
const files = { initConf: '/state/c/init.conf', stateDir: '/state/c', log: '/data/c/container.log' };

function record(opts: Partial<ContainerOptions> = {}, img: ImageForContainer = image): ContainerRecord {
  return buildContainerRecord({
    id: 'c'.repeat(64),
    name: 'web',
    hostname: 'cccccccccccc',
    created: '2026-01-01T00:00:00.000Z',
    opts: { image: 'busybox', ...opts },
    image: img,
  });
}

/** What tvinit reads for the container's init: the serialized conf, parsed back. */
function initRecords(rec: ContainerRecord, netnsPath?: string): ConfRecord[] {
  return parseConf(initConf(containerInitSpec(rec, dirs, { netnsPath, etc })));
}

function execRecords(rec: ContainerRecord, opts: Partial<ExecOptions> = {}): ConfRecord[] {
  return parseConf(execConf(execSpec(rec, { cmd: ['sh'], ...opts })));
}

const values = (recs: ConfRecord[], key: string): string[] => recs.filter(([k]) => k === key).map(([, v]) => v);
const value = (recs: ConfRecord[], key: string): string | undefined => values(recs, key).at(-1);
const caps = (recs: ConfRecord[]): bigint => BigInt(value(recs, 'caps')!);

function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof TvctlError ? err.code : `not a TvctlError: ${String(err)}`;
  }
  return undefined;
}

describe('capabilities', () => {
  it("are Docker's 14 defaults when nothing is asked", () => {
    const recs = initRecords(record());
    expect(value(recs, 'caps')).toBe('0x00000000a80425fb');
    expect(capabilityNames(caps(recs))).toHaveLength(14);
    expect(capabilityNames(caps(recs))).not.toContain('CAP_SYS_ADMIN');
  });
  it('gain --cap-add and lose --cap-drop', () => {
    const names = capabilityNames(caps(initRecords(record({ capAdd: ['SYS_ADMIN'], capDrop: ['cap_net_raw'] }))));
    expect(names).toContain('CAP_SYS_ADMIN');
    expect(names).not.toContain('CAP_NET_RAW');
    expect(names).toContain('CAP_CHOWN');
  });
  it('are only the added ones after --cap-drop ALL, and every one with --cap-add ALL', () => {
    expect(capabilityNames(caps(initRecords(record({ capDrop: ['ALL'], capAdd: ['CHOWN'] }))))).toEqual(['CAP_CHOWN']);
    expect(caps(initRecords(record({ capDrop: ['ALL'] })))).toBe(0n);
    expect(caps(initRecords(record({ capAdd: ['ALL'] })))).toBe(ALL_CAPS_MASK);
  });
  it('reject an unknown name before anything else is built', () => {
    expect(thrownCode(() => record({ capAdd: ['NOT_A_CAP'] }))).toBe('INVALID_CAPABILITY');
    expect(thrownCode(() => record({ capDrop: ['SYS_NOPE'] }))).toBe('INVALID_CAPABILITY');
  });
  it('of an exec are the container’s, never more', () => {
    const rec = record({ capDrop: ['ALL'], capAdd: ['KILL'] });
    expect(value(execRecords(rec), 'caps')).toBe(value(initRecords(rec), 'caps'));
    expect(capabilityNames(caps(execRecords(rec)))).toEqual(['CAP_KILL']);
  });
});

describe('no_new_privs and seccomp', () => {
  it('are set for the init and every exec, whatever the capabilities', () => {
    for (const rec of [record(), record({ capAdd: ['ALL'] }), record({ user: '0' })]) {
      for (const recs of [initRecords(rec), execRecords(rec), execRecords(rec, { user: 'root', tty: true })]) {
        expect(value(recs, 'nnp')).toBe('1');
        expect(value(recs, 'seccomp')).toBe('default');
      }
    }
  });
});

describe('user', () => {
  it("is the image's User unless -u says otherwise", () => {
    expect(value(initRecords(record()), 'user')).toBe('daemon');
    expect(value(initRecords(record({ user: '1000:1000' })), 'user')).toBe('1000:1000');
  });
  it('is root (no user record) when neither the image nor -u names one', () => {
    const { user: _user, ...rest } = image.config;
    expect(value(initRecords(record({}, { ...image, config: rest })), 'user')).toBeUndefined();
  });
  it("of an exec is the container's unless exec -u says otherwise", () => {
    const rec = record({ user: 'nobody' });
    expect(value(execRecords(rec), 'user')).toBe('nobody');
    expect(value(execRecords(rec, { user: '0' }), 'user')).toBe('0');
  });
});

describe('environment', () => {
  it('is the defaults, then the image Env, then -e, by key', () => {
    const env = values(initRecords(record({ env: ['MODE=cli', 'NEW=x'] })), 'env');
    expect(env).toContain('PATH=/img/bin');
    expect(env).toContain('MODE=cli');
    expect(env).not.toContain('MODE=image');
    expect(env).toContain('KEEP=1');
    expect(env).toContain('NEW=x');
    expect(env).toContain('HOSTNAME=cccccccccccc');
    expect(env.filter((e) => e.startsWith('MODE='))).toHaveLength(1);
  });
  it('has a default PATH when the image sets none', () => {
    const env = values(initRecords(record({}, { ...image, config: { ...image.config, env: [] } })), 'env');
    expect(env).toContain('PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
  });
  it("of an exec is the container's with exec -e on top", () => {
    const env = values(execRecords(record({ env: ['MODE=cli'] }), { env: ['MODE=exec'] }), 'env');
    expect(env).toContain('MODE=exec');
    expect(env).not.toContain('MODE=cli');
    expect(env).toContain('KEEP=1');
  });
  it('rejects an entry without =', () => {
    expect(thrownCode(() => record({ env: ['JUSTKEY'] }))).toBe('INVALID_ENV');
  });
});

describe('command, working directory, hostname', () => {
  it('runs the image Entrypoint + Cmd in its WorkingDir by default', () => {
    const recs = initRecords(record());
    expect(values(recs, 'arg')).toEqual(['/entry', 'serve']);
    expect(value(recs, 'cwd')).toBe('/app');
    expect(value(recs, 'hostname')).toBe('cccccccccccc');
  });
  it('takes -w, and / when neither the image nor -w names one', () => {
    expect(value(initRecords(record({ workingDir: '/srv' })), 'cwd')).toBe('/srv');
    const { workingDir: _wd, ...rest } = image.config;
    expect(value(initRecords(record({}, { ...image, config: rest })), 'cwd')).toBe('/');
  });
  it("runs an exec in the container's working directory unless exec -w says otherwise", () => {
    expect(value(execRecords(record()), 'cwd')).toBe('/app');
    expect(value(execRecords(record(), { workingDir: '/tmp' }), 'cwd')).toBe('/tmp');
  });
  it('makes PID 1 tvinit only with --init, and never for an exec', () => {
    expect(value(initRecords(record()), 'init')).toBeUndefined();
    expect(value(initRecords(record({ init: true })), 'init')).toBe('1');
    expect(value(execRecords(record({ init: true })), 'init')).toBeUndefined();
  });
});

describe('root file system and mounts', () => {
  it('stacks the image layers top-most first over the writable layer', () => {
    const recs = initRecords(record());
    expect(values(recs, 'lower')).toEqual(['/layers/top', '/layers/base']);
    expect([value(recs, 'upper'), value(recs, 'work'), value(recs, 'rootfs')]).toEqual([
      dirs.upper,
      dirs.work,
      dirs.rootfs,
    ]);
  });
  it('is read-only with --read-only, volatile with --rm', () => {
    expect(value(initRecords(record()), 'readonly')).toBeUndefined();
    expect(value(initRecords(record({ readonlyRootfs: true })), 'readonly')).toBe('1');
    expect(value(initRecords(record()), 'volatile')).toBeUndefined();
    expect(value(initRecords(record({ autoRemove: true })), 'volatile')).toBe('1');
  });
  it('binds the /etc files first, then each volume at its target with its mode', () => {
    const rec = record({
      volumes: [
        { source: '/srv/data', destination: '/data', readonly: false },
        { source: '/srv/conf', destination: '/etc/app', readonly: true },
      ],
    });
    expect(values(initRecords(rec), 'mount')).toEqual([
      `${etc.hosts}\t/etc/hosts\trw`,
      `${etc.hostname}\t/etc/hostname\trw`,
      `${etc.resolvConf}\t/etc/resolv.conf\trw`,
      '/srv/data\t/data\trw',
      '/srv/conf\t/etc/app\tro',
    ]);
  });
  it('rejects a relative volume target and a named volume', () => {
    const vol = (source: string, destination: string) => ({ volumes: [{ source, destination, readonly: false }] });
    expect(thrownCode(() => record(vol('/srv', 'data')))).toBe('INVALID_VOLUME');
    expect(thrownCode(() => record(vol('myvolume', '/data')))).toBe('INVALID_VOLUME');
  });
  it("masks Docker's paths and makes its read-only paths read-only, even with every capability", () => {
    for (const rec of [record(), record({ capAdd: ['ALL'] })]) {
      const recs = initRecords(rec);
      expect(values(recs, 'masked')).toEqual([...DEFAULT_MASKED_PATHS]);
      expect(values(recs, 'readonly_path')).toEqual([...DEFAULT_READONLY_PATHS]);
      expect(values(recs, 'masked')).toContain('/proc/kcore');
      expect(values(recs, 'readonly_path')).toContain('/proc/sys');
    }
  });
  it('brings lo up only in a namespace of its own (no prepared netns)', () => {
    expect(value(initRecords(record()), 'lo_up')).toBe('1');
    expect(value(initRecords(record(), '/run/netns/c'), 'lo_up')).toBeUndefined();
  });
});

describe('ports', () => {
  it('-P publishes every exposed port on a host port chosen at start, after the -p ones', () => {
    const rec = record({
      publish: [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      publishAll: true,
    });
    expect(rec.hostConfig.portBindings).toEqual([
      { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
    expect(record().hostConfig.portBindings).toEqual([]);
  });
});

describe('supervisor confs', () => {
  const shim = (rec: ContainerRecord, attach: boolean, netnsPath?: string): ConfRecord[] =>
    parseConf(
      shimConf(
        containerShimSpec(rec, files, {
          attach,
          netnsPath,
          cgroupProcs: ['/sys/fs/cgroup/tvctl/c/cgroup.procs'],
          oomFiles: ['/sys/fs/cgroup/tvctl/c/memory.events'],
          onExit: ['/usr/bin/node', 'tvctl.js', 'reap', 'c'],
        }),
      ),
    );
  it('runs the sealed tvinit copy under unshare, joining the cgroups first', () => {
    const recs = shim(record(), false);
    expect(values(recs, 'argv').slice(-3)).toEqual(['/proc/self/fd/5', 'init', files.initConf]);
    expect(values(recs, 'argv')).toContain('--net');
    expect([value(recs, 'seal_fd'), value(recs, 'sync_fd')]).toEqual(['5', '3']);
    expect(values(recs, 'cgroup_procs')).toEqual(['/sys/fs/cgroup/tvctl/c/cgroup.procs']);
  });
  it('joins a prepared network namespace instead of making one', () => {
    const argv = values(shim(record(), false, '/run/netns/c'), 'argv');
    expect(argv.slice(0, 2)).toEqual(['nsenter', '--net=/run/netns/c']);
    expect(argv).not.toContain('--net');
  });
  it('logs, restarts and reaps only detached containers', () => {
    const rec = record({ restart: { name: 'on-failure', maximumRetryCount: 2 } });
    const detached = shim(rec, false);
    expect([value(detached, 'log'), value(detached, 'restart')]).toEqual([files.log, 'on-failure:2']);
    expect(values(detached, 'on_exit')).toEqual(['/usr/bin/node', 'tvctl.js', 'reap', 'c']);
    const attached = shim(rec, true);
    expect([value(attached, 'log'), value(attached, 'restart'), value(attached, 'on_exit')]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
  it('runs an exec through nsenter from a sealed copy, its conf passed as a memfd', () => {
    const recs = parseConf(
      shimConf(
        execShimSpec({
          targetPid: 4242,
          cgroupProcs: ['/cg/cgroup.procs'],
          execDir: '/state/c/exec/1',
          confFile: '/state/c/exec/1/exec.conf',
          tty: false,
          interactive: true,
        }),
      ),
    );
    expect(values(recs, 'argv').slice(0, 2)).toEqual(['nsenter', '--target=4242']);
    expect(values(recs, 'argv').slice(-3)).toEqual(['/proc/self/fd/5', 'exec', 'fd:6']);
    expect([value(recs, 'conf_fd'), value(recs, 'exec_sealed'), value(recs, 'stdin')]).toEqual(['6', '1', '1']);
  });
});
