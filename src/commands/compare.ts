import { Flags } from '@oclif/core';
import { resolve } from 'node:path';
import { TvctlCommand } from '../cli/base-command.js';
import { flagShapes, splitRunArgv } from '../cli/split-argv.js';
import type { CompareResult } from '../compare/compare.js';
import { ALL_MODES, DEFAULT_MODES } from '../compare/modes.js';
import { DEFAULT_ITERATIONS, WORKLOAD_PRESETS, type WorkloadPreset } from '../compare/phases.js';
import { renderText } from '../compare/render-text.js';
import { compareImage } from '../compare/session.js';
import { TvctlError } from '../errors.js';
import { imageArg } from '../cli/args.js';

export default class Compare extends TvctlCommand<CompareResult> {
  static override description =
    "run the same image and command (or a --workload preset) as a container and as VMs (KVM addon, QEMU), measuring start→exit time split into boot, work and teardown, the workload's ns/op, preparation, host memory and CPU, and isolation facts";
  static override usage = [
    'compare [--runs N] [--engines container,kvm,qemu] [--report FILE.html] IMAGE -- CMD...',
    'compare [--runs N] [--engines container,kvm,qemu] --workload syscall|fork|cpu|memory|file [--iterations N] IMAGE',
  ];
  static override strict = false;
  static override examples = [
    '<%= config.bin %> compare demo -- echo hello',
    '<%= config.bin %> compare --runs 10 --report compare.html demo -- sh -c "ls /bin | wc -l"',
    '<%= config.bin %> compare --engines container,qemu --json demo -- true',
    '<%= config.bin %> compare --workload syscall --modes container,qemu demo',
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
      aliases: ['modes'],
    }),
    workload: Flags.string({
      description:
        'run a built-in workload in every mode instead of CMD and report its ns/op: syscall (getppid), fork (fork+exec+wait), cpu (integer loop), memory (page touch), file (write+fsync+read in tmpfs)',
      options: [...WORKLOAD_PRESETS],
    }),
    iterations: Flags.integer({
      description: `operations of the --workload on a container or hardware-assisted VM (compiled emulation runs a tenth, interpreted a hundredth; default per preset: ${WORKLOAD_PRESETS.map((p) => `${p} ${DEFAULT_ITERATIONS[p]}`).join(', ')})`,
      min: 1,
      dependsOn: ['workload'],
    }),
    report: Flags.string({ description: 'write a self-contained HTML report (inline SVG charts) to this file' }),
  };
  static override args = { image: imageArg };

  async run(): Promise<CompareResult> {
    // IMAGE -- CMD...: the command starts after "--" (or, Docker-style, after the image).
    const shapes = {
      ...flagShapes({ ...Compare.flags, ...Compare.baseFlags, json: { type: 'boolean' } }),
      modes: { takesValue: true },
    };
    const dd = this.argv.indexOf('--');
    let split = splitRunArgv(dd >= 0 ? this.argv.slice(0, dd) : this.argv, shapes);
    // `compare IMAGE --workload syscall`: without "--", options may follow the image (a command never
    // starts with "-"); what follows them is the command.
    if (dd < 0 && split.image !== undefined && split.cmd[0]?.startsWith('-')) {
      const rest = splitRunArgv([...split.head, ...split.cmd], shapes);
      split = { head: rest.head, image: split.image, cmd: rest.image === undefined ? [] : [rest.image, ...rest.cmd] };
    }
    if (dd >= 0 && split.cmd.length)
      throw new TvctlError('BAD_USAGE', `unexpected arguments before "--": ${split.cmd.join(' ')}`);
    const { image } = split;
    const cmd = dd >= 0 ? this.argv.slice(dd + 1) : split.cmd;
    const { flags } = await this.parse(Compare, split.head);
    const preset = flags.workload as WorkloadPreset | undefined;
    if (preset && cmd.length)
      throw new TvctlError('BAD_USAGE', `--workload ${preset} runs its own command; drop "${cmd.join(' ')}"`);
    if (image === undefined || (cmd.length === 0 && !preset)) {
      throw new TvctlError(
        'BAD_USAGE',
        '"tvctl compare" needs an image and a command: tvctl compare [OPTIONS] IMAGE -- CMD [ARG...] (or --workload PRESET IMAGE)',
      );
    }
    const reportPath = flags.report ? resolve(flags.report) : undefined;
    const quiet = this.jsonEnabled();
    const result = await compareImage({
      image,
      command: cmd,
      runs: flags.runs,
      engines: flags.engines,
      ...(preset ? { workload: { preset, iterations: flags.iterations ?? DEFAULT_ITERATIONS[preset] } } : {}),
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
