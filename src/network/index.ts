/**
 * tvctl networking: bridge networks, veth pairs into named network namespaces, persistent IPAM, published
 * ports and isolation with nftables (table `ip tvctl`). See NetworkManager.
 */
export type * from './types.js';
export type { CommandRunner, RunOptions } from './kernel.js';
export { parsePublish, formatPortMapping } from './publish.js';
export { NetworkManager } from './manager.js';
export { netnsNameFor, netnsPathFor, hostVethFor } from './names.js';
