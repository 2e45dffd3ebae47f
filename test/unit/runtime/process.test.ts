import { describe, expect, it } from 'vitest';
import { buildProcessConfig } from '../../../src/runtime/process.js';

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
});
