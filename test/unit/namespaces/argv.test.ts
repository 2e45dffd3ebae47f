import { describe, expect, it } from 'vitest';
import { buildNsenterExecArgv, buildUnshareArgv } from '../../../src/namespaces/argv.js';
import { parseSyncLines } from '../../../src/namespaces/launch.js';

describe('buildUnshareArgv', () => {
  it('creates every namespace (tvinit forks PID 1 itself), init conf last', () => {
    expect(buildUnshareArgv({ tvinit: '/proc/self/fd/5', initConf: '/run/tvctl/c1/init.conf' })).toEqual([
      'unshare',
      '--mount',
      '--uts',
      '--ipc',
      '--net',
      '--pid',
      '--cgroup',
      '--propagation',
      'private',
      '--',
      '/proc/self/fd/5',
      'init',
      '/run/tvctl/c1/init.conf',
    ]);
  });
  it('joins a pre-made netns through nsenter and then does not unshare the net ns', () => {
    const argv = buildUnshareArgv({ tvinit: '/t', initConf: '/c', netnsPath: '/run/netns/tvctl-c1' });
    expect(argv.slice(0, 4)).toEqual(['nsenter', '--net=/run/netns/tvctl-c1', '--', 'unshare']);
    expect(argv).not.toContain('--net');
    expect(argv.slice(-4)).toEqual(['--', '/t', 'init', '/c']);
  });
});

describe('buildNsenterExecArgv', () => {
  it('enters all namespaces + root + wd of the target and runs the sealed tvinit in exec mode', () => {
    expect(buildNsenterExecArgv({ targetPid: 4242, sealFd: 5, confFd: 6 })).toEqual([
      'nsenter',
      '--target=4242',
      '--mount',
      '--uts',
      '--ipc',
      '--net',
      '--pid',
      '--cgroup',
      '--root',
      '--wd',
      '--',
      '/proc/self/fd/5',
      'exec',
      'fd:6',
    ]);
  });
});

describe('parseSyncLines', () => {
  it('reads the pid and the first error', () => {
    expect(parseSyncLines('pid 12\n')).toEqual({ initPid: 12 });
    expect(parseSyncLines('pid 12\nerror 127 exec: "x": executable file not found in $PATH\n')).toEqual({
      initPid: 12,
      error: { exitCode: 127, message: 'exec: "x": executable file not found in $PATH' },
    });
    expect(parseSyncLines('')).toEqual({});
  });
});
