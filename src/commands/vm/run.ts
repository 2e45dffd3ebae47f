import { Flags } from '@oclif/core';
import { resolveEnvArgs } from '../../util/env.js';
import { TvctlCommand } from '../../cli/base-command.js';
import { requireImage } from '../../cli/image-target.js';
import { parseMemory, vmRun, type VmRunResult } from '../../vm/vm-run.js';
import { imageArg } from '../../cli/args.js';
import { ENGINE_REQUESTS, type EngineRequest } from '../../vm/engine.js';

export default class VmRun extends TvctlCommand<VmRunResult> {
  static override description = 'boot an image as a full virtual machine (its own kernel) and run a command in it';
  static override usage = 'vm run [OPTIONS] IMAGE [COMMAND] [ARG...]';
  static override strict = false;
  static override examples = [
    '<%= config.bin %> vm run demo echo hi',
    "<%= config.bin %> vm run --timings demo sh -c 'uname -r'",
    '<%= config.bin %> vm run --engine qemu -e FOO=bar -w /tmp demo env',
  ];
  static override flags = {
    engine: Flags.string({
      description:
        'VM engine: auto picks the fastest that works here; bochs (interpreted, tens of seconds) only when asked',
      options: [...ENGINE_REQUESTS],
      default: 'auto',
    }),
    kernel: Flags.string({ description: 'guest kernel (bzImage) instead of the installed one' }),
    memory: Flags.string({ char: 'm', description: 'guest memory (e.g. 256m, 1g)', default: '256m' }),
    cpus: Flags.integer({ description: 'virtual CPUs', default: 1, min: 1, max: 64 }),
    env: Flags.string({
      char: 'e',
      description: 'set an environment variable (KEY=VALUE, or KEY to pass ours)',
      multiple: true,
    }),
    workdir: Flags.string({ char: 'w', description: 'working directory inside the guest' }),
    timings: Flags.boolean({
      description: 'print the engine and the phase times (kernel load, boot to init, command) on stderr',
    }),
    debug: Flags.boolean({ description: 'show the guest kernel console on stderr' }),
  };
  static override args = { image: imageArg };

  /** argv → flags, image and command; no side effects (the snapshot build runs it, see cli/warm.ts). */
  async parseVmRun() {
    const { flags, target, cmd } = await this.parseCommandLine(VmRun);
    return { flags, split: { image: requireImage('vm run', target), cmd }, memoryMiB: parseMemory(flags.memory) };
  }

  async run(): Promise<VmRunResult> {
    const { flags, split, memoryMiB } = await this.parseVmRun();
    const json = this.jsonEnabled();
    // A signal stops the VM through the engine (which kills its VMM and removes its files) instead of
    // ending this process with the VMM and its temporary files left behind.
    const stop = new AbortController();
    const onSignal = (): void => stop.abort();
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    for (const s of signals) process.on(s, onSignal);
    const result = await vmRun({
      dataRoot: this.roots(flags).data,
      image: split.image,
      cmd: split.cmd,
      env: resolveEnvArgs(flags.env ?? [], process.env),
      ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
      engine: flags.engine as EngineRequest,
      ...(flags.kernel !== undefined ? { kernel: flags.kernel } : {}),
      memoryMiB,
      cpus: flags.cpus,
      debug: flags.debug,
      // With --json, stdout carries the JSON result only; the command's stdout goes to stderr.
      stdout: (b) => void (json ? process.stderr : process.stdout).write(b),
      stderr: (b) => void process.stderr.write(b),
      signal: stop.signal,
    }).finally(() => {
      for (const s of signals) process.removeListener(s, onSignal);
    });
    if (flags.timings && !json) {
      const t = result.timings;
      const f = (n: number | undefined): string => (n === undefined ? '?' : `${n} ms`);
      process.stderr.write(
        `tvctl: engine ${result.engine} (${result.engineWhy})\n` +
          `tvctl: prepare ${f(t.prepareMs)}, kernel-load ${f(t.kernelLoadMs)}, boot-to-init ${f(t.bootToInitMs)}, ` +
          `command ${f(t.commandMs)}, shutdown ${f(t.shutdownMs)}, total ${f(t.totalMs)}\n`,
      );
    }
    process.exitCode = result.exitCode;
    return result;
  }
}
