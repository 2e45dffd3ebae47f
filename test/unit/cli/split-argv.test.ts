import { describe, expect, it } from 'vitest';
import { splitRunArgv, type FlagShape } from '../../../src/cli/split-argv.js';

const flags: Record<string, FlagShape> = {
  interactive: { char: 'i', takesValue: false },
  tty: { char: 't', takesValue: false },
  detach: { char: 'd', takesValue: false },
  env: { char: 'e', takesValue: true },
  publish: { char: 'p', takesValue: true },
  name: { takesValue: true },
  rm: { takesValue: false },
};

describe('splitRunArgv', () => {
  it('stops option parsing at the image; the command keeps its own flags', () => {
    expect(splitRunArgv(['--rm', 'demo', 'sh', '-c', 'ls -l'], flags)).toEqual({
      head: ['--rm'],
      image: 'demo',
      cmd: ['sh', '-c', 'ls -l'],
    });
  });

  it('consumes values of options given as separate tokens or with =', () => {
    expect(splitRunArgv(['--name', 'web', '-e', 'A=1', '--env=B=2', 'img', 'x'], flags)).toEqual({
      head: ['--name=web', '--env=A=1', '--env=B=2'],
      image: 'img',
      cmd: ['x'],
    });
  });

  it('expands grouped short flags, a value-taking one eating the rest or the next token', () => {
    expect(splitRunArgv(['-it', 'demo', 'sh'], flags).head).toEqual(['--interactive', '--tty']);
    expect(splitRunArgv(['-dp', '80:80', 'demo'], flags).head).toEqual(['--detach', '--publish=80:80']);
    expect(splitRunArgv(['-eFOO=1', 'demo'], flags).head).toEqual(['--env=FOO=1']);
    expect(splitRunArgv(['-x', 'demo'], flags).head).toEqual(['-x']);
  });

  it('treats -- as the end of options', () => {
    expect(splitRunArgv(['-i', '--', 'demo', '--rm'], flags)).toEqual({
      head: ['--interactive'],
      image: 'demo',
      cmd: ['--rm'],
    });
  });

  it('reports a missing image and a missing flag value', () => {
    expect(splitRunArgv(['--rm'], flags).image).toBeUndefined();
    expect(() => splitRunArgv(['--name'], flags)).toThrow(/flag needs an argument: --name/);
    expect(() => splitRunArgv(['-e'], flags)).toThrow(/flag needs an argument: -e/);
  });
});
