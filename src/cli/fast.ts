/**
 * The start-up fast path: the hot container verbs, bundled with their whole module graph (oclif's parser
 * included) into a Node startup snapshot (scripts/bundle.mjs builds dist/tvctl.blob). `bin/tvctl` runs
 * these through the snapshot and everything else through the full oclif entry. The commands are the same
 * classes; only the configuration loading is skipped (no plugins, hooks or manifest are needed to run them).
 */
import type { Command } from '@oclif/core';
import Create from '../commands/create.js';
import Exec from '../commands/exec.js';
import ImageImport from '../commands/image/import.js';
import ImageLoad from '../commands/image/load.js';
import Images from '../commands/images.js';
import Inspect from '../commands/inspect.js';
import Kill from '../commands/kill.js';
import Logs from '../commands/logs.js';
import Ps from '../commands/ps.js';
import Reap from '../commands/reap.js';
import Rm from '../commands/rm.js';
import Run from '../commands/run.js';
import Start from '../commands/start.js';
import Stop from '../commands/stop.js';
import VmRun from '../commands/vm/run.js';
import Wait from '../commands/wait.js';
import { exitCodeOf } from '../errors.js';
import { releasePrefetch, takePrefetch } from '../images/prefetch.js';
import { setPackageRoot } from '../paths.js';
import { trace } from '../util/trace.js';
import { jsonRequested, reportError } from './base-command.js';

export const FAST_COMMANDS: Record<string, new (argv: string[], config: never) => Command> = {
  run: Run as never,
  create: Create as never,
  start: Start as never,
  exec: Exec as never,
  ps: Ps as never,
  rm: Rm as never,
  stop: Stop as never,
  kill: Kill as never,
  wait: Wait as never,
  inspect: Inspect as never,
  logs: Logs as never,
  reap: Reap as never,
  'vm run': VmRun as never,
  // Loading images: tvctl's own start-up is a large part of loading a small image.
  'image load': ImageLoad as never,
  'image import': ImageImport as never,
  images: Images as never,
};

/** Just what oclif's Command uses of its Config when it runs a command (no plugins, no hooks). */
export function minimalConfig(version: string): unknown {
  return {
    bin: 'tvctl',
    name: 'tvctl',
    version,
    userAgent: `tvctl/${version} ${process.platform}-${process.arch} node-${process.version}`,
    scopedEnvVar: () => undefined,
    scopedEnvVarKey: (k: string) => `TVCTL_${k}`,
    scopedEnvVarKeys: (k: string) => [`TVCTL_${k}`],
    runHook: async () => ({ successes: [], failures: [] }),
    findCommand: () => undefined,
    theme: undefined,
  };
}

export async function fastMain(pkgRoot: string, argv: string[], version: string): Promise<void> {
  trace('main');
  takePrefetch();
  setPackageRoot(pkgRoot);
  // Topic commands ("vm run") take two words.
  const two = argv.length >= 2 ? `${argv[0]} ${argv[1]}` : '';
  const [id, ...rest] = two in FAST_COMMANDS ? [two, ...argv.slice(2)] : argv;
  const Ctor = FAST_COMMANDS[id ?? ''];
  if (!Ctor) throw new Error(`not a fast-path command: ${id}`);
  const cmd = new Ctor(rest, minimalConfig(version) as never) as Command & { id: string; _run(): Promise<unknown> };
  cmd.id = id!.replace(' ', ':');
  try {
    await cmd._run();
  } catch (err) {
    // oclif's ExitError carries the code (TvctlCommand.catch already printed the message).
    const e = err as { oclif?: { exit?: number }; message?: string };
    if (e.oclif?.exit !== undefined) process.exitCode = e.oclif.exit;
    else {
      reportError('INTERNAL', e.message ?? String(err), jsonRequested(rest));
      process.exitCode = exitCodeOf('INTERNAL');
    }
  }
  // a layer the launcher started for `image load` that the load did not take (or a failed run's)
  await releasePrefetch();
  // Done: do not wait for the event loop to drain idle handles (execa/stream cleanup costs ~10 ms at exit).
  // Flush our own stdout first so piped output is never cut.
  trace('exit');
  process.stdout.write('', () => process.exit());
}
