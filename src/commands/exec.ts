import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../cli/base-command.js';
import { TvctlError } from '../errors.js';
import { resolveEnvArgs } from '../util/env.js';
import { Runtime } from '../runtime/runtime.js';

export default class Exec extends TvctlCommand<{ exitCode: number }> {
  static override description =
    'run a command in a running container (same capabilities, no_new_privs and seccomp as its process)';
  static override usage = 'exec [OPTIONS] CONTAINER COMMAND [ARG...]';
  static override strict = false;
  static override flags = {
    interactive: Flags.boolean({ char: 'i', description: 'keep STDIN open' }),
    tty: Flags.boolean({ char: 't', description: 'allocate a pseudo-TTY' }),
    env: Flags.string({ char: 'e', description: 'set environment variables', multiple: true }),
    user: Flags.string({ char: 'u', description: 'username or UID (format: <name|uid>[:<group|gid>])' }),
    workdir: Flags.string({ char: 'w', description: 'working directory inside the container' }),
  };
  static override args = { container: Args.string({ description: 'container ID, prefix or name' }) };

  async run(): Promise<{ exitCode: number }> {
    const { flags, target: container, cmd } = await this.parseCommandLine(Exec);
    if (container === undefined || cmd.length === 0) {
      throw new TvctlError(
        'BAD_ARGS',
        '"tvctl exec" requires at least 2 arguments: tvctl exec [OPTIONS] CONTAINER COMMAND [ARG...]',
      );
    }
    const runtime = new Runtime({ roots: this.roots(flags) });
    const ignore = (): void => undefined;
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, ignore);
    const exitCode = await runtime.exec(container, {
      cmd,
      env: resolveEnvArgs(flags.env ?? [], process.env),
      tty: flags.tty,
      interactive: flags.interactive,
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.workdir !== undefined ? { workingDir: flags.workdir } : {}),
    });
    process.exitCode = exitCode;
    return { exitCode };
  }
}
