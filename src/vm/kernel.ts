/**
 * The guest kernel for VM mode: Debian's cloud kernel (`linux-image-cloud-amd64`: 8250 console and initramfs
 * support built in), fetched with `apt-get download` (or given as a .deb: `--from`, offline) and unpacked with
 * `dpkg -x`, kept at <data root>/kernels/vmlinuz with its version next to it. Never committed, never downloaded at test time
 * unless a test asks for it.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { chmodSync } from 'node:fs';
import { writeFileAtomicSync } from '../util/atomic-write.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TvctlError } from '../errors.js';
import { runCommand, type CommandLine } from '../util/exec.js';
import { parseBzImage } from './bzimage.js';

export const KERNEL_META_PACKAGE = 'linux-image-cloud-amd64';

export function kernelsDir(dataRoot: string): string {
  return join(dataRoot, 'kernels');
}

export function kernelPath(dataRoot: string): string {
  return join(kernelsDir(dataRoot), 'vmlinuz');
}

export function kernelVersionPath(dataRoot: string): string {
  return join(kernelsDir(dataRoot), 'vmlinuz.version');
}

/** The installed guest kernel's path, or a TvctlError saying how to get one. */
export function findKernel(dataRoot: string): string {
  const p = kernelPath(dataRoot);
  if (!existsSync(p)) {
    throw new TvctlError(
      'KERNEL_NOT_FOUND',
      `no guest kernel at ${p}; run "tvctl vm kernel install" (downloads Debian's ${KERNEL_META_PACKAGE} with apt-get)`,
    );
  }
  return p;
}

export interface InstalledKernel {
  path: string;
  /** e.g. "6.1.0-56-cloud-amd64" */
  version: string;
  /** The Debian package it came from, e.g. "linux-image-6.1.0-56-cloud-amd64". */
  package: string;
  sizeBytes: number;
  /** The boot protocol version of the bzImage, e.g. "2.15". */
  bootProtocol: string;
}

export function buildAptCacheDependsArgv(pkg: string): CommandLine {
  return { file: 'apt-cache', args: ['depends', '--no-recommends', '--no-suggests', pkg] };
}

export function buildAptDownloadArgv(pkg: string): CommandLine {
  return { file: 'apt-get', args: ['download', '-q', pkg] };
}

export function buildDpkgExtractArgv(deb: string, dir: string): CommandLine {
  return { file: 'dpkg', args: ['-x', deb, dir] };
}

/** From `apt-cache depends linux-image-cloud-amd64`: the versioned image package it points to. */
export function parseKernelDependency(aptCacheOutput: string): string | undefined {
  for (const line of aptCacheOutput.split('\n')) {
    const m = /^\s*\|?Depends:\s*(linux-image-[^\s]+)/.exec(line);
    if (m && m[1]) return m[1];
  }
  return undefined;
}

function sameBytes(path: string, bytes: Buffer): boolean {
  try {
    return statSync(path).size === bytes.length && readFileSync(path).equals(bytes);
  } catch {
    return false;
  }
}

/** Reads the version recorded at install time, if any. */
export function installedKernelVersion(dataRoot: string): string | undefined {
  try {
    return readFileSync(kernelVersionPath(dataRoot), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function buildDebPackageNameArgv(deb: string): CommandLine {
  return { file: 'dpkg-deb', args: ['--field', deb, 'Package'] };
}

/**
 * Installs the kernel in a Debian kernel package already on disk (`tvctl vm kernel install --from FILE.deb`:
 * offline, e.g. a package fetched once and kept in a cache): unpacks it into a temp dir, checks that
 * boot/vmlinuz-* is a bzImage and installs it as <dataRoot>/kernels/vmlinuz (atomically, with a version file).
 * Leaves nothing else behind.
 */
export async function installKernelFromDeb(dataRoot: string, deb: string): Promise<InstalledKernel> {
  try {
    if (!statSync(deb).isFile()) throw new Error('not a file');
  } catch (err) {
    throw new TvctlError('KERNEL_PACKAGE', `kernel package ${deb}: ${(err as Error).message}`);
  }
  const name = await runCommand(buildDebPackageNameArgv(deb), { allowFailure: true });
  const pkg = name.stdout.trim();
  if (name.exitCode !== 0 || !pkg) {
    throw new TvctlError(
      'KERNEL_PACKAGE',
      `${deb} is not a Debian package (dpkg-deb: ${name.stderr.trim().split('\n').pop() ?? ''})`,
    );
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tvctl-kernel-'));
  try {
    const root = join(tmp, 'root');
    const x = await runCommand(buildDpkgExtractArgv(deb, root), { allowFailure: true, timeoutMs: 600_000 });
    if (x.exitCode !== 0) {
      throw new TvctlError('KERNEL_PACKAGE', `dpkg -x ${deb} failed: ${x.stderr.trim().split('\n').pop() ?? ''}`);
    }
    const boot = join(root, 'boot');
    const image = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
    if (!image) throw new TvctlError('KERNEL_PACKAGE', `${deb} contains no boot/vmlinuz-*`);
    const fresh = readFileSync(join(boot, image));
    const bz = parseBzImage(fresh, image);
    const version = image.slice('vmlinuz-'.length);
    const dir = kernelsDir(dataRoot);
    mkdirSync(dir, { recursive: true });
    const dest = kernelPath(dataRoot);
    // Re-installing the same kernel keeps the file as it is: the caches derived from it (the PVH vmlinux, the
    // accelerator probe) stay valid.
    if (!sameBytes(dest, fresh)) {
      copyFileSync(join(boot, image), `${dest}.tmp`);
      renameSync(`${dest}.tmp`, dest);
    }
    writeFileAtomicSync(kernelVersionPath(dataRoot), `${version}\n`, 0o644);
    return {
      path: dest,
      version,
      package: pkg,
      sizeBytes: statSync(dest).size,
      bootProtocol: `${bz.header.version >> 8}.${(bz.header.version & 0xff).toString().padStart(2, '0')}`,
    };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Downloads Debian's cloud kernel package into a temp dir and installs it (installKernelFromDeb).
 */
export async function installKernel(
  dataRoot: string,
  opts: { metaPackage?: string; aptUpdate?: boolean } = {},
): Promise<InstalledKernel> {
  const meta = opts.metaPackage ?? KERNEL_META_PACKAGE;
  let deps = await runCommand(buildAptCacheDependsArgv(meta), { allowFailure: true });
  let pkg = parseKernelDependency(deps.stdout);
  if (!pkg && opts.aptUpdate !== false) {
    // A fresh machine may have no package lists yet: fetch them once and ask again.
    await runCommand({ file: 'apt-get', args: ['update', '-qq'] }, { allowFailure: true, timeoutMs: 600_000 });
    deps = await runCommand(buildAptCacheDependsArgv(meta), { allowFailure: true });
    pkg = parseKernelDependency(deps.stdout);
  }
  if (deps.exitCode !== 0 || !pkg) {
    throw new TvctlError(
      'KERNEL_PACKAGE',
      `apt knows no kernel package behind ${meta} (apt-cache: ${deps.stderr.trim() || 'no Depends line'}); check /etc/apt/sources.list and "apt-get update", or install a downloaded package with "tvctl vm kernel install --from FILE.deb"`,
    );
  }
  const tmp = mkdtempSync(join(tmpdir(), 'tvctl-kernel-'));
  try {
    chmodSync(tmp, 0o755); // apt's _apt sandbox user must be able to write here
    const dl = await runCommand(buildAptDownloadArgv(pkg), { allowFailure: true, cwd: tmp, timeoutMs: 600_000 });
    const deb = readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (dl.exitCode !== 0 || !deb) {
      throw new TvctlError(
        'KERNEL_DOWNLOAD',
        `apt-get download ${pkg} failed: ${(dl.stderr || dl.stdout).trim().split('\n').pop() ?? ''}`,
      );
    }
    return await installKernelFromDeb(dataRoot, join(tmp, deb));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
