import { createHash } from 'node:crypto';
import { TvctlError } from '../errors.js';
import type {
  AttachOptions,
  EtcFiles,
  EtcFilesOptions,
  NetworkAttachment,
  NetworkInspect,
  NetworkManagerOptions,
  NetworkRecord,
} from './types.js';

/** 12 hex chars naming a container's kernel objects (netns, veth): its id prefix, or a hash of other ids. */
export function containerKey(containerId: string): string {
  return /^[0-9a-f]{12,}$/.test(containerId)
    ? containerId.slice(0, 12)
    : createHash('sha256').update(containerId).digest('hex').slice(0, 12);
}
export const netnsNameFor = (containerId: string): string => `tvctl-${containerKey(containerId)}`;
export const netnsPathFor = (containerId: string): string => `/run/netns/${netnsNameFor(containerId)}`;
export const hostVethFor = (containerId: string): string => `tv${containerKey(containerId)}`;

const notYet = (): never => {
  throw new TvctlError('NOT_IMPLEMENTED', 'networking is being implemented (API committed early)');
};

/** API skeleton committed early so callers can code against it; implementation follows. */
export class NetworkManager {
  constructor(readonly opts: NetworkManagerOptions) {}
  async attach(_containerId: string, _opts: AttachOptions): Promise<NetworkAttachment> { return notYet(); }
  async detach(_containerId: string): Promise<void> { return notYet(); }
  async writeEtcFiles(_containerId: string, _a: NetworkAttachment, _dir: string, _o: EtcFilesOptions): Promise<EtcFiles> { return notYet(); }
  async create(_name: string, _o: { subnet?: string; gateway?: string; internal?: boolean }): Promise<NetworkRecord> { return notYet(); }
  async list(): Promise<NetworkRecord[]> { return notYet(); }
  async inspect(_name: string): Promise<NetworkInspect> { return notYet(); }
  async remove(_name: string): Promise<void> { return notYet(); }
}
