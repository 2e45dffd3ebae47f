import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import type { NetworkAttachment } from '../network/index.js';
import { initConf, launchShim, shimConf, writeConfFile } from '../namespaces/index.js';
import { packageRoot } from '../paths.js';
import { writeFile } from '../util/fs-fast.js';
import { withLock } from '../util/lock.js';
import { trace } from '../util/trace.js';
import { containerInitSpec, containerShimSpec } from './container-conf.js';
import { shortId } from './ids.js';
import { removeContainerFiles } from './remove.js';
import { requireRoot } from './root.js';
import type { Runtime } from './runtime.js';
import { canStart, deriveState } from './status.js';
import type { ContainerRecord, StartOptions, StartResult } from './types.js';

/**
 * Starts a created (or exited) container; a running one is left as it is. Cgroups are made and limits written
 * before any container process exists; the supervisor's child joins them before it execs unshare, so nothing
 * escapes.
 */
export async function startContainer(rt: Runtime, ref: string, opts: StartOptions): Promise<StartResult> {
  requireRoot();
  const id = await rt.store.resolve(ref);
  const p = rt.store.paths(id);
  return withLock(p.lock, async () => {
    const rec = await rt.store.load(id);
    const facts = await rt.store.facts(id);
    const state = deriveState(facts);
    if (state.status === 'running' || state.status === 'restarting') return { id, pid: state.pid };
    if (!canStart(state.status)) {
      throw new TvctlError(
        'CANNOT_START',
        `cannot start container ${shortId(id)}: container is ${state.status}${state.error ? `: ${state.error}` : ''}`,
      );
    }
    if (facts.shimPid !== undefined) {
      // A restart: the previous run's facts go, and whatever a crashed run may have left is released.
      await Promise.all(
        ['pid', 'exit', 'shim.pid', 'stopped', 'restarts'].map((f) => rm(`${p.stateDir}/${f}`, { force: true })),
      );
      await rt.releaseResources(id);
    }
    trace('start: previous facts cleared');
    const cg = await rt.cgroups.create(id, rec.hostConfig.limits);
    trace('start: cgroups created');
    try {
      // none: a fresh namespace from unshare --net (lo brought up by tvinit); nothing on the host to manage.
      const net: NetworkAttachment =
        rec.hostConfig.network === 'none'
          ? { mode: 'none', ports: [] }
          : await rt.network.attach(id, {
              network: rec.hostConfig.network,
              ports: rec.hostConfig.portBindings,
              hostname: rec.config.hostname,
              aliases: [rec.name],
            });
      const etc = await rt.network.writeEtcFiles(id, net, join(p.stateDir, 'etc'), {
        hostname: rec.config.hostname,
        addHosts: rec.hostConfig.addHosts,
        dns: rec.hostConfig.dns,
      });
      trace('start: network attached');
      rec.network = net;
      await rt.store.save(rec);
      // Host networking: nsenter joins its own (the host's) network namespace.
      const netnsPath = net.mode === 'none' ? undefined : (net.netnsPath ?? '/proc/self/ns/net');
      await writeConfFile(p.initConf, initConf(containerInitSpec(rec, p, { netnsPath, etc })));
      await writeConfFile(
        p.shimConf,
        shimConf(
          containerShimSpec(rec, p, {
            attach: opts.attach,
            netnsPath,
            cgroupProcs: cg.procsFiles,
            oomFiles: cg.oomFiles,
            onExit: reapCommand(rt, id),
          }),
        ),
      );
      trace('start: confs written');
      const shim = launchShim({
        shimConfPath: p.shimConf,
        stdio: opts.attach ? 'inherit' : 'ignore',
        detached: !opts.attach,
      });
      const { initPid } = await shim.ready;
      trace('start: container process running');
      await writeFile(`${p.stateDir}/started`, new Date().toISOString());
      if (!opts.attach) return { id, pid: initPid };
      const exited = shim.exited.then(async (code) => {
        trace('exited');
        await rt.releaseResources(id, rec);
        trace('resources released');
        if (rec.hostConfig.autoRemove) await removeContainerFiles(rt, id, rec.name, true);
        trace('removed');
        return code;
      });
      return { id, pid: initPid, exited };
    } catch (err) {
      await rt.releaseResources(id, rec);
      throw err;
    }
  });
}

/** The command a detached container's supervisor runs after the final exit (see `reap`). */
function reapCommand(rt: Runtime, id: string): string[] {
  const root = packageRoot();
  const blob = join(root, 'dist', 'tvctl.blob');
  const entry = existsSync(blob) ? ['--snapshot-blob', blob, root] : [join(root, 'bin', 'tvctl.js')];
  return [process.execPath, ...entry, 'reap', id, '--root', rt.roots.state, '--data', rt.roots.data];
}

/**
 * Called by a detached container's supervisor once it has exited for good: releases its cgroups and
 * network, and removes it entirely with --rm. Serialized with every other operation by the lock.
 */
export async function reapContainer(rt: Runtime, ref: string): Promise<void> {
  const id = await rt.store.resolve(ref);
  await withLock(rt.store.paths(id).lock, async () => {
    const rec: ContainerRecord = await rt.store.load(id);
    const state = deriveState(await rt.store.facts(id));
    if (state.running || state.status === 'restarting') return; // restarted meanwhile
    if (rec.hostConfig.autoRemove) await removeContainerFiles(rt, id, rec.name);
    else await rt.releaseResources(id, rec);
  });
}
