import { Args, Flags } from '@oclif/core';
import { writeFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TvctlCommand } from '../cli/base-command.js';
import { flagShapes, splitRunArgv } from '../cli/split-argv.js';
import { runCompare, type CompareResult } from '../compare/compare.js';
import { parseEngines, planModes, ALL_MODES, type ModeId } from '../compare/modes.js';
import { measureLayerUnpack, type PrepMeasurement } from '../compare/prep.js';
import { measureInitramfsBuild } from '../compare/prep-vm.js';
import { renderHtml } from '../compare/render-html.js';
import { renderText } from '../compare/render-text.js';
import { TvctlError, errorMessage } from '../errors.js';
import { gatherHostFacts } from '../host/facts.js';
import { ImageStore } from '../images/store.js';
import { packageRoot } from '../paths.js';

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
      description: `modes to run, comma-separated (${ALL_MODES.join(',')})`,
      default: ALL_MODES.join(','),
    }),
    report: Flags.string({ description: 'write a self-contained HTML report (inline SVG charts) to this file' }),
  };
  static override args = { image: Args.string({ description: 'image name, ID or ID prefix' }) };

  async run(): Promise<CompareResult> {
    // IMAGE -- CMD...: the command starts after "--" (or, Docker-style, after the image).
    const dd = this.argv.indexOf('--');
    let head: string[];
    let cmd: string[];
    let image: string | undefined;
    if (dd >= 0) {
      head = this.argv.slice(0, dd);
      cmd = this.argv.slice(dd + 1);
      const split = splitRunArgv(
        head,
        flagShapes({ ...Compare.flags, ...Compare.baseFlags, json: { type: 'boolean' } }),
      );
      head = split.head;
      image = split.image;
      if (split.cmd.length)
        throw new TvctlError('BAD_USAGE', `unexpected arguments before "--": ${split.cmd.join(' ')}`);
    } else {
      const split = splitRunArgv(
        this.argv,
        flagShapes({ ...Compare.flags, ...Compare.baseFlags, json: { type: 'boolean' } }),
      );
      head = split.head;
      image = split.image;
      cmd = split.cmd;
    }
    const { flags } = await this.parse(Compare, head);
    if (image === undefined || cmd.length === 0) {
      throw new TvctlError(
        'BAD_USAGE',
        '"tvctl compare" needs an image and a command: tvctl compare [OPTIONS] IMAGE -- CMD [ARG...]',
      );
    }
    let engines: ModeId[];
    try {
      engines = parseEngines(flags.engines);
    } catch (err) {
      throw new TvctlError('BAD_USAGE', errorMessage(err));
    }
    const roots = this.roots(flags);
    await new ImageStore(roots.data).lookup(image); // unknown image: fail now, before anything runs
    const host = gatherHostFacts({ dataRoot: roots.data });
    const plans = planModes(engines, {
      engines: host.engines,
      vmRunBuilt: this.config.findCommand('vm:run') !== undefined,
      guestKernelInstalled: host.guestKernel.installed,
    });
    const reportPath = flags.report ? resolve(flags.report) : undefined;
    const quiet = this.jsonEnabled();
    const prepare: Partial<Record<ModeId, () => Promise<PrepMeasurement>>> = {
      container: () => measureLayerUnpack(roots.data, image),
      kvm: () => measureInitramfsBuild(roots.data, image),
      qemu: () => measureInitramfsBuild(roots.data, image),
    };
    const result = await runCompare({
      image,
      command: cmd,
      runs: flags.runs,
      plans,
      roots,
      tvctlBin: join(packageRoot(), 'bin', 'tvctl'),
      host,
      prepare,
      ...(quiet ? {} : { onProgress: (m: string) => void process.stderr.write(`compare: ${m}\n`) }),
    });
    if (reportPath) {
      const tmp = `${reportPath}.tmp-${process.pid}`;
      writeFileSync(tmp, renderHtml(result));
      renameSync(tmp, reportPath);
    }
    if (!quiet) {
      this.log(renderText(result));
      if (reportPath) this.log(`\nreport: ${reportPath}`);
    }
    return result;
  }
}
