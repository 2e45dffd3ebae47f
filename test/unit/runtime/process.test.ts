import { describe, expect, it } from 'vitest';
import { buildProcessConfig, mergeEnv, parseEnvFile, resolveEnvArgs } from '../../../src/runtime/process.js';

const image = {
  entrypoint: ['/entry'],
  cmd: ['default'],
  env: ['PATH=/img/bin', 'A=image'],
  workingDir: '/app',
  user: 'daemon',
  exposedPorts: [],
};

describe('buildProcessConfig (Docker merge rules)', () => {
  it('uses the image Entrypoint + Cmd by default', () => {
    const p = buildProcessConfig(image, { image: 'x' }, 'h');
    expect(p.args).toEqual(['/entry', 'default']);
    expect(p.workingDir).toBe('/app');
    expect(p.user).toBe('daemon');
  });

  it('CMD ARG... replaces Cmd but keeps the Entrypoint', () => {
    expect(buildProcessConfig(image, { image: 'x', cmd: ['a', 'b'] }, 'h').args).toEqual(['/entry', 'a', 'b']);
  });

  it('--entrypoint replaces the Entrypoint and drops the image Cmd', () => {
    expect(buildProcessConfig(image, { image: 'x', entrypoint: ['sh'] }, 'h').args).toEqual(['sh']);
    expect(buildProcessConfig(image, { image: 'x', entrypoint: [], cmd: ['ls'] }, 'h').args).toEqual(['ls']);
  });

  it('-w and -u override, and a missing command is an error', () => {
    const p = buildProcessConfig(image, { image: 'x', workingDir: '/tmp', user: '1000:1000' }, 'h');
    expect([p.workingDir, p.user]).toEqual(['/tmp', '1000:1000']);
    expect(() => buildProcessConfig({ env: [], exposedPorts: [] }, { image: 'x' }, 'h')).toThrow(
      /no command specified/,
    );
  });

  it('merges env by key: defaults < image < flags', () => {
    expect(mergeEnv(['PATH=/img', 'A=1'], ['A=2', 'B=3'], 'box')).toEqual(['PATH=/img', 'HOSTNAME=box', 'A=2', 'B=3']);
    expect(mergeEnv([], [], 'box')[0]).toMatch(/^PATH=\/usr\/local\/sbin:/);
    expect(() => mergeEnv([], ['=x'], 'h')).toThrow(/invalid environment variable/);
  });

  it('copies bare -e KEY from our environment, dropping unset ones; reads env files', () => {
    expect(resolveEnvArgs(['X', 'Y', 'Z=1'], { X: 'from-host' })).toEqual(['X=from-host', 'Z=1']);
    expect(parseEnvFile('# c\nA=1\n\nB\r\n')).toEqual(['A=1', 'B']);
  });
});
