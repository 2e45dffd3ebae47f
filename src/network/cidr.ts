import { TvctlError } from '../errors.js';

/** IPv4 address and subnet arithmetic on 32-bit unsigned integers. Pure. */

export interface Subnet {
  /** Network address as an unsigned 32-bit integer. */
  base: number;
  prefixLen: number;
}

export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

export function ipToInt(ip: string): number {
  if (!isIPv4(ip)) throw new TvctlError('BAD_ADDRESS', `"${ip}" is not an IPv4 address`);
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The netmask of a prefix length, as an unsigned 32-bit integer. */
export function maskOf(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/** Parse "10.89.0.0/24". The address must be the network address (Docker refuses host bits too). */
export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim());
  const bad = (why: string): TvctlError => new TvctlError('BAD_SUBNET', `invalid subnet "${cidr}": ${why}`);
  if (!m || !isIPv4(m[1]!)) throw bad('expected A.B.C.D/LEN');
  const prefixLen = Number(m[2]);
  if (prefixLen < 8 || prefixLen > 30) throw bad('prefix length must be between 8 and 30');
  const addr = ipToInt(m[1]!);
  const base = (addr & maskOf(prefixLen)) >>> 0;
  if (base !== addr) throw bad(`host bits set; did you mean ${intToIp(base)}/${prefixLen}?`);
  return { base, prefixLen };
}

export function formatSubnet(s: Subnet): string {
  return `${intToIp(s.base)}/${s.prefixLen}`;
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefixLen);
}

export function contains(s: Subnet, ipInt: number): boolean {
  return (ipInt & maskOf(s.prefixLen)) >>> 0 === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefixLen, b.prefixLen);
  const m = maskOf(p);
  return (a.base & m) >>> 0 === (b.base & m) >>> 0;
}

/** First usable address (.1 of a /24): the default gateway. */
export function firstHost(s: Subnet): number {
  return s.base + 1;
}

/** Last usable address (below broadcast). */
export function lastHost(s: Subnet): number {
  return s.base + subnetSize(s) - 2;
}

/** Docker-style MAC derived from the address (02:42:a:b:c:d): stable per address, locally administered. */
export function macForIp(ip: string): string {
  const n = ipToInt(ip);
  const bytes = [0x02, 0x42, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
