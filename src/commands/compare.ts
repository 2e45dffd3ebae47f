import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { TvctlCommand } from '../cli/base-command.js';
import { flagShapes, splitRunArgv } from '../cli/split-argv.js';
import type { CompareResult } from '../compare/compare.js';
import { ALL_MODES, DEFAULT_MODES } from '../compare/modes.js';
import { renderText } from '../compare/render-text.js';
import { compareImage } from '../compare/session.js';
import { TvctlError } from '../errors.js';
import { imageArg } from '../cli/args.js';

export default class Compare extends TvctlCommand<CompareResult> {
  static override description =
    'run the same image and command as a container and as VMs (KVM addon, QEMU), measuring start→exit time, preparation, host memory and CPU, and isolation facts';
  static override usage = 'compare [--runs N] [--engines container,kvm,qemu] [--report FILE.html] IMAGE -- CMD...';
  static override strict = false;
  static override examples = [
    '<%= config.bin %> compare demo -- echo hello',
    '<%= config.bin %> compare --runs 10 --report compare.html demo -- sh -c "ls /bin | wc -l"',
    '<%= config.bin %> compare --engines container,qemu --json demo -- true',
  ];
  static override flags = {
    runs: Flags.integer({
      char: 'n',
      description: 'measured runs per mode (after one warm-up)',
      default: 5,
      min: 1,
      max: 1000,
    }),
    engines: Flags.string({
      description: `modes to run, comma-separated, of ${ALL_MODES.join(',')} (bochs takes tens of seconds a run)`,
      default: DEFAULT_MODES.join(','),
    }),
    report: Flags.string({ description: 'write a self-contained HTML report (inline SVG charts) to this file' }),
  };
  static override args = { image: imageArg };

  async run(): Promise<CompareResult> {
    // IMAGE -- CMD...: the command starts after "--" (or, Docker-style, after the image).
    const shapes = flagShapes({ ...Compare.flags, ...Compare.baseFlags, json: { type: 'boolean' } });
    const dd = this.argv.indexOf('--');
    const split = splitRunArgv(dd >= 0 ? this.argv.slice(0, dd) : this.argv, shapes);
    if (dd >= 0 && split.cmd.length)
      throw new TvctlError('BAD_USAGE', `unexpected arguments before "--": ${split.cmd.join(' ')}`);
    const { image } = split;
    const cmd = dd >= 0 ? this.argv.slice(dd + 1) : split.cmd;
    const { flags } = await this.parse(Compare, split.head);
    if (image === undefined || cmd.length === 0) {
      throw new TvctlError(
        'BAD_USAGE',
        '"tvctl compare" needs an image and a command: tvctl compare [OPTIONS] IMAGE -- CMD [ARG...]',
      );
    }
    const reportPath = flags.report ? resolve(flags.report) : undefined;
    const quiet = this.jsonEnabled();
    const result = await compareImage({
      image,
      command: cmd,
      runs: flags.runs,
      engines: flags.engines,
      roots: this.roots(flags),
      vmRunBuilt: this.config.findCommand('vm:run') !== undefined,
      ...(reportPath ? { reportPath } : {}),
      ...(quiet ? {} : { onProgress: (m: string) => void process.stderr.write(`compare: ${m}\n`) }),
    });
    if (!quiet) {
      this.log(renderText(result));
      if (reportPath) this.log(`\nreport: ${reportPath}`);
    }
    return result;
  }
}
