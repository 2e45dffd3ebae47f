/**
 * tvctl networking: bridge networks, veth pairs into named network namespaces, persistent IPAM, published
 * ports and isolation with nftables (table `ip tvctl`). See NetworkManager.
 */
export type {
  AttachOptions,
  EtcFiles,
  EtcFilesOptions,
  NetworkAttachment,
  NetworkInspect,
  NetworkManagerOptions,
  NetworkMode,
  NetworkRecord,
  PortMapping,
} from './types.js';
export { parsePublish, formatPortMapping } from './publish.js';
export { NetworkManager, netnsNameFor, netnsPathFor, hostVethFor } from './manager.js';
