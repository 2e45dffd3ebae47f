/**
 * The offline kernel install (`tvctl vm kernel install --from FILE.deb`) against real packages that dpkg-deb
 * builds here (no root needed): a package with a bzImage installs it with its version and package name, again
 * without rewriting the file; a package without a kernel, a file that is no package, and a missing file are
 * refused with KERNEL_PACKAGE and nothing installed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TvctlError } from '../../../src/errors.js';
import { runCommand } from '../../../src/util/exec.js';
import {
  buildDebPackageNameArgv,
  installKernelFromDeb,
  installedKernelVersion,
  kernelPath,
} from '../../../src/vm/kernel.js';

const work = mkdtempSync(join(tmpdir(), 'tvctl-kernel-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The smallest image parseBzImage accepts: setup header with "HdrS", protocol 2.15, loaded high. */
function tinyBzImage(): Buffer {
  const img = Buffer.alloc(5 * 512 + 4096, 0xcc);
  img.fill(0, 0, 5 * 512);
  img.writeUInt8(4, 0x1f1);
  img.writeUInt16LE(0xaa55, 0x1fe);
  img.writeUInt8(0x6a, 0x201);
  img.write('HdrS', 0x202, 'latin1');
  img.writeUInt16LE(0x020f, 0x206);
  img.writeUInt8(0x01, 0x211);
  return img;
}

let n = 0;
async function makeDeb(pkg: string, files: Record<string, Buffer>): Promise<string> {
  const dir = join(work, `pkg-${n++}`);
  mkdirSync(join(dir, 'DEBIAN'), { recursive: true });
  writeFileSync(
    join(dir, 'DEBIAN', 'control'),
    `Package: ${pkg}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: test <t@example.org>\nDescription: test\n`,
  );
  for (const [path, bytes] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }
  const deb = `${dir}.deb`;
  await runCommand({ file: 'dpkg-deb', args: ['--root-owner-group', '--build', dir, deb] });
  return deb;
}

async function refusal(p: Promise<unknown>): Promise<TvctlError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TvctlError);
  return err as TvctlError;
}

describe('installKernelFromDeb', () => {
  it('installs boot/vmlinuz-* with its version and package; a second install keeps the file', async () => {
    const data = join(work, 'data');
    const deb = await makeDeb('linux-image-9.9.9-test-amd64', { 'boot/vmlinuz-9.9.9-test-amd64': tinyBzImage() });
    const k = await installKernelFromDeb(data, deb);
    expect(k).toMatchObject({
      path: kernelPath(data),
      version: '9.9.9-test-amd64',
      package: 'linux-image-9.9.9-test-amd64',
      bootProtocol: '2.15',
      sizeBytes: tinyBzImage().length,
    });
    expect(readFileSync(kernelPath(data)).equals(tinyBzImage())).toBe(true);
    expect(installedKernelVersion(data)).toBe('9.9.9-test-amd64');
    const before = statSync(kernelPath(data));
    await installKernelFromDeb(data, deb);
    const after = statSync(kernelPath(data));
    // same file (the caches derived from it stay valid)
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('refuses a package without a kernel, a file that is not a package, and a missing file', async () => {
    const data = join(work, 'data-refused');
    const noKernel = await makeDeb('not-a-kernel', { 'usr/share/doc/x/README': Buffer.from('hi\n') });
    expect((await refusal(installKernelFromDeb(data, noKernel))).message).toMatch(/contains no boot\/vmlinuz-\*/);
    const notDeb = join(work, 'not.deb');
    writeFileSync(notDeb, 'plain text\n');
    expect((await refusal(installKernelFromDeb(data, notDeb))).message).toMatch(/is not a Debian package/);
    const missing = await refusal(installKernelFromDeb(data, join(work, 'absent.deb')));
    expect(missing.code).toBe('KERNEL_PACKAGE');
    expect(installedKernelVersion(data)).toBeUndefined();
  });

  it('refuses a kernel file that is not a bzImage', async () => {
    const deb = await makeDeb('linux-image-bad', { 'boot/vmlinuz-bad': Buffer.alloc(4096) });
    const err = await refusal(installKernelFromDeb(join(work, 'data-bad'), deb));
    expect(err.message).toMatch(/not a Linux bzImage/);
  });

  it('reads the package name with dpkg-deb --field', () => {
    expect(buildDebPackageNameArgv('/t/a.deb')).toEqual({ file: 'dpkg-deb', args: ['--field', '/t/a.deb', 'Package'] });
  });
});
