import { TvctlCommand } from '../cli/base-command.js';
import { containerOptionsFromFlags } from '../cli/container-options.js';
import { requireImage } from '../cli/image-target.js';
import { containerFlags } from '../cli/run-flags.js';
import { Runtime } from '../runtime/runtime.js';
import { imageArg } from '../cli/args.js';

export interface RunResult {
  id: string;
  exitCode?: number;
}

export default class Run extends TvctlCommand<RunResult> {
  static override description = 'create and run a new container from an image';
  static override usage = 'run [OPTIONS] IMAGE [COMMAND] [ARG...]';
  static override strict = false;
  static override examples = [
    "<%= config.bin %> run --rm demo sh -c 'hostname; ps'",
    '<%= config.bin %> run -it demo sh',
    '<%= config.bin %> run -d --name web -p 18080:80 demo httpd -f -p 80',
  ];
  static override flags = containerFlags;
  static override args = { image: imageArg };

  /** argv → flags and container options; no side effects (the snapshot build runs it, see cli/warm.ts). */
  async parseRun() {
    const { flags, target, cmd } = await this.parseCommandLine(Run);
    return { flags, opts: await containerOptionsFromFlags(flags, requireImage('run', target), cmd) };
  }

  async run(): Promise<RunResult> {
    const { flags, opts } = await this.parseRun();
    const runtime = new Runtime({ roots: this.roots(flags) });
    // While the container runs in the foreground, our terminal signals go to it through the supervisor.
    const ignore = (): void => undefined;
    if (!flags.detach) for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, ignore);
    const result = await runtime.run(opts, { detach: flags.detach });
    if (flags.detach) {
      if (!this.jsonEnabled()) this.log(result.id);
      return result;
    }
    process.exitCode = result.exitCode ?? 0;
    return result;
  }
}
