import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Header as TarHeader } from 'tar';
import { packageRoot } from '../paths.js';

/**
 * npm tar's Header, loaded from node_modules when first needed (image save, the JS unpacker's side archive),
 * never bundled: the startup snapshot of the hot commands (image load among them) leaves npm tar out.
 */
let headerClass: typeof TarHeader | undefined;
function Header(...args: ConstructorParameters<typeof TarHeader>): TarHeader {
  headerClass ??= (createRequire(join(packageRoot(), 'package.json'))('tar') as { Header: typeof TarHeader }).Header;
  return new headerClass(...args);
}

/** What the pax writer needs of an entry. */
interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date | undefined;
}

/** GNU tar argv for the second pass: numeric owners, exact modes, all xattrs of the generated archive. */
export function buildSideTarArgv(archive: string, dest: string, privileged = true): string[] {
  return [
    '-x',
    '-f',
    archive,
    '-C',
    dest,
    '--numeric-owner',
    privileged ? '--same-owner' : '--no-same-owner',
    '--same-permissions',
    '--xattrs',
    '--xattrs-include=*',
    '--overwrite',
  ];
}

export interface SideEntry extends Meta {
  path: string;
  type: 'File' | 'Directory' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  size: number;
  linkpath?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Map<string, Buffer>;
}

/** Writes a pax tar (used for the side archive and by `image save`). */
export class SideTarWriter {
  constructor(private readonly fd: number) {}

  private write(b: Buffer): void {
    let off = 0;
    while (off < b.length) {
      try {
        off += fs.writeSync(this.fd, b, off);
      } catch (err) {
        // a non-blocking pipe (stdout) that is full: wait for the reader
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      }
    }
  }

  add(e: SideEntry, data?: Buffer): void {
    this.write(encodeHeaders(e));
    if (data) {
      this.write(data);
      const pad = (512 - (data.length % 512)) % 512;
      if (pad) this.write(Buffer.alloc(pad));
    }
  }

  /** Appends raw bytes (file content after an `add`; call `pad` after). */
  append(b: Buffer): void {
    this.write(b);
  }

  pad(size: number): void {
    const pad = (512 - (size % 512)) % 512;
    if (pad) this.write(Buffer.alloc(pad));
  }

  /** Appends exactly `size` bytes of `file` and the padding (after an `add` with that size). */
  copyFrom(file: string, size: number): void {
    const src = fs.openSync(file, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      let left = size;
      while (left > 0) {
        const n = fs.readSync(src, buf, 0, Math.min(buf.length, left), null);
        if (n === 0) throw new Error(`${file} is shorter than expected`);
        this.write(buf.subarray(0, n));
        left -= n;
      }
    } finally {
      fs.closeSync(src);
    }
    const pad = (512 - (size % 512)) % 512;
    if (pad) this.write(Buffer.alloc(pad));
  }

  end(): void {
    this.write(Buffer.alloc(1024));
  }
}

/** A pax header (path, linkpath, xattrs as needed) followed by the ustar header, via npm tar's Header. */
export function encodeHeaders(e: SideEntry): Buffer {
  const records: Buffer[] = [];
  const rec = (k: string, v: Buffer) => {
    const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from('\n')]);
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    records.push(Buffer.concat([Buffer.from(String(len)), body]));
  };
  const needPath = Buffer.byteLength(e.path) > 99;
  const needLink = e.linkpath !== undefined && Buffer.byteLength(e.linkpath) > 99;
  if (needPath) rec('path', Buffer.from(e.path));
  if (needLink) rec('linkpath', Buffer.from(e.linkpath!));
  for (const [k, v] of e.xattrs ?? []) rec(`SCHILY.xattr.${k}`, v);
  const out: Buffer[] = [];
  if (records.length) {
    const pax = Buffer.concat(records);
    const ph = Header({
      path: 'PaxHeader',
      type: 'ExtendedHeader',
      size: pax.length,
      mode: 0o644,
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    });
    const hb = Buffer.alloc(512);
    ph.encode(hb, 0);
    out.push(hb, pax, Buffer.alloc((512 - (pax.length % 512)) % 512));
  }
  const h = Header({
    path: needPath ? e.path.slice(0, 99) : e.path,
    type: e.type,
    size: e.size,
    mode: e.mode,
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime ?? new Date(0),
    ...(e.linkpath !== undefined ? { linkpath: needLink ? e.linkpath.slice(0, 99) : e.linkpath } : {}),
    devmaj: e.devmajor ?? 0,
    devmin: e.devminor ?? 0,
  });
  const b = Buffer.alloc(512);
  h.encode(b, 0);
  out.push(b);
  return Buffer.concat(out);
}
