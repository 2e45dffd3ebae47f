import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { execConf, launchShim, shimConf, writeConfFile } from '../namespaces/index.js';
import { mkdir } from '../util/fs-fast.js';
import { execShimSpec, execSpec } from './container-conf.js';
import { newId, shortId } from './ids.js';
import { requireRoot } from './root.js';
import type { Runtime } from './runtime.js';
import { deriveState } from './status.js';
import type { ExecOptions } from './types.js';

/**
 * Runs a new process in a running container: the supervisor joins its cgroups, then (from a sealed copy)
 * nsenter joins its namespaces and root, and tvinit applies the same capabilities, no_new_privs and seccomp
 * filter as the container's own process before exec. Resolves with the process's exit code.
 */
export async function execInContainer(rt: Runtime, ref: string, opts: ExecOptions): Promise<number> {
  requireRoot();
  const id = await rt.store.resolve(ref);
  const rec = await rt.store.load(id);
  const state = deriveState(await rt.store.facts(id));
  if (!state.running || state.pid === 0) {
    throw new TvctlError('NOT_RUNNING', `container ${shortId(id)} is not running`);
  }
  const execDir = join(rt.store.paths(id).stateDir, 'exec', newId().slice(0, 16));
  await mkdir(execDir, { recursive: true, mode: 0o700 });
  try {
    const confFile = join(execDir, 'exec.conf');
    await writeConfFile(confFile, execConf(execSpec(rec, opts)));
    const shimConfPath = join(execDir, 'shim.conf');
    const spec = execShimSpec({
      targetPid: state.pid,
      cgroupProcs: rt.cgroups.open(id).procsFiles,
      execDir,
      confFile,
      tty: opts.tty ?? false,
      interactive: opts.interactive ?? false,
    });
    await writeConfFile(shimConfPath, shimConf(spec));
    const shim = launchShim({ shimConfPath, stdio: 'inherit', detached: false });
    await shim.ready;
    return await shim.exited;
  } finally {
    await rm(execDir, { recursive: true, force: true });
  }
}
