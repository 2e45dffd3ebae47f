import { TvctlError } from '../errors.js';
import type { ConnectedNetwork, NetworkAttachment, NetworkManager } from '../network/index.js';
import { withLock } from '../util/lock.js';
import { deriveState } from './status.js';
import type { ContainerStore } from './store.js';
import type { ContainerRecord } from './types.js';

/**
 * `network connect` / `network disconnect` as library operations: the kernel work through NetworkManager, and
 * the container's record (`network.connected`) updated under the container's lock, so that inspect shows the
 * networks a container is on and two connects or disconnects of one container are serialised. Stop and reap
 * tear the interfaces down without rewriting the record: like Docker's, a stopped container's record keeps
 * the networks it was on (the next start attaches eth0 afresh).
 */

export interface NetworkAttachDeps {
  store: ContainerStore;
  network: NetworkManager;
}

/** Connects a running container to one more network (ethN) and records it; returns what connect did. */
export async function connectContainer(
  deps: NetworkAttachDeps,
  ref: string,
  network: string,
  opts: { aliases?: string[] } = {},
): Promise<NetworkAttachment> {
  const id = await deps.store.resolve(ref);
  return withLock(deps.store.paths(id).lock, async () => {
    const rec = await deps.store.load(id);
    const { status } = deriveState(await deps.store.facts(id));
    if (status !== 'running' && status !== 'restarting') {
      throw new TvctlError('NOT_RUNNING', `container ${rec.name} is not running; start it first`);
    }
    if (rec.network?.mode !== 'bridge') {
      throw new TvctlError(
        'BAD_USAGE',
        `container ${rec.name} is on the "${rec.hostConfig.network}" network; networks can be connected only to containers on a bridge network`,
      );
    }
    const att = await deps.network.connect(id, network, { aliases: [rec.name, ...(opts.aliases ?? [])] });
    try {
      rec.network = { ...rec.network, connected: [...(rec.network.connected ?? []), connectedNetworkOf(att)] };
      await deps.store.save(rec);
    } catch (err) {
      await deps.network.disconnect(id, network).catch(() => undefined);
      throw err;
    }
    return att;
  });
}

/**
 * Disconnects a container from a network it was connected to, and drops it from the record. A network the
 * record lists but the kernel no longer has (the container stopped since) is only dropped from the record.
 * Returns the network's name.
 */
export async function disconnectContainer(deps: NetworkAttachDeps, ref: string, network: string): Promise<string> {
  const id = await deps.store.resolve(ref);
  return withLock(deps.store.paths(id).lock, async () => {
    const rec = await deps.store.load(id);
    let name: string;
    try {
      name = await deps.network.disconnect(id, network);
    } catch (err) {
      const recorded = rec.network?.connected?.find((c) => c.network === network);
      if (!(err instanceof TvctlError && err.code === 'NOT_CONNECTED') || !recorded) throw err;
      name = recorded.network;
    }
    if (rec.network?.connected?.some((c) => c.network === name)) {
      await deps.store.save(withoutConnected(rec, name));
    }
    return name;
  });
}

function connectedNetworkOf(att: NetworkAttachment): ConnectedNetwork {
  if (
    !att.network ||
    !att.ifname ||
    !att.ipAddress ||
    att.prefixLen === undefined ||
    !att.macAddress ||
    !att.hostVeth
  ) {
    throw new TvctlError('INTERNAL', `network connect returned an incomplete attachment: ${JSON.stringify(att)}`);
  }
  return {
    network: att.network,
    ifname: att.ifname,
    ipAddress: att.ipAddress,
    prefixLen: att.prefixLen,
    ...(att.gateway ? { gateway: att.gateway } : {}),
    macAddress: att.macAddress,
    hostVeth: att.hostVeth,
  };
}

function withoutConnected(rec: ContainerRecord, name: string): ContainerRecord {
  if (!rec.network) return rec;
  const { connected = [], ...attachment } = rec.network;
  const rest = connected.filter((c) => c.network !== name);
  return { ...rec, network: rest.length > 0 ? { ...attachment, connected: rest } : attachment };
}
