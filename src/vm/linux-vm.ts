/**
 * A KVM VM with Linux loaded, ready to run: the one entry point for VM mode. Two boot paths:
 * - "bzimage": the x86 boot protocol (zero page, 64-bit entry); the guest decompresses its own kernel.
 * - "pvh": the host decompresses the bzImage's LZ4 payload and enters the ELF vmlinux at its PVH entry
 *   (much faster under software KVM, where the guest's decompressor crawls).
 * Everything that can be checked (image format, memory size) is checked before the VM exists, so a bad
 * request opens no fd; a failure after creation destroys the VM.
 */
import { TvctlError } from '../errors.js';
import { loadLinux, parseBzImage, planLinuxBoot, type LinuxBootPlan } from './bzimage.js';
import { KvmVm } from './kvm.js';
import { loadPvh, planPvhBoot, vmlinuxFromBzImage, type PvhPlan } from './pvh.js';
import type { CpuMode } from './x86-cpu.js';

export type LinuxBootPath = 'bzimage' | 'pvh';

export interface LinuxVmOptions {
  /** The bzImage bytes. */
  kernel: Uint8Array;
  kernelName?: string;
  initrd?: Uint8Array;
  cmdline: string;
  memoryMiB: number;
  vcpus?: number;
  devicePath?: string;
  boot?: LinuxBootPath;
  /** bzimage path only: the 64-bit (default) or 32-bit entry. */
  entry?: CpuMode;
}

export interface LinuxVm {
  vm: KvmVm;
  boot: LinuxBootPath;
  plan: LinuxBootPlan | PvhPlan;
}

export function createLinuxVm(
  opts: LinuxVmOptions,
  create: (o: { memoryMiB: number; vcpus?: number; devicePath?: string }) => KvmVm = (o) => KvmVm.create(o),
): LinuxVm {
  const boot = opts.boot ?? 'bzimage';
  const memoryBytes = opts.memoryMiB * 1024 * 1024;
  if (!Number.isInteger(opts.memoryMiB) || opts.memoryMiB < 1) {
    throw new TvctlError('KVM_BAD_CONFIG', `guest memory must be a whole number of MiB >= 1 (got ${opts.memoryMiB})`);
  }
  const vmOpts = {
    memoryMiB: opts.memoryMiB,
    ...(opts.vcpus !== undefined ? { vcpus: opts.vcpus } : {}),
    ...(opts.devicePath !== undefined ? { devicePath: opts.devicePath } : {}),
  };
  if (boot === 'pvh') {
    const { elfBytes, elf } = vmlinuxFromBzImage(opts.kernel, opts.kernelName);
    planPvhBoot(elf, { cmdline: opts.cmdline, memoryBytes, initrdSize: opts.initrd?.length ?? 0 });
    const vm = create(vmOpts);
    try {
      return {
        vm,
        boot,
        plan: loadPvh(vm, elfBytes, elf, { cmdline: opts.cmdline, ...(opts.initrd ? { initrd: opts.initrd } : {}) }),
      };
    } catch (err) {
      vm.destroy();
      throw err;
    }
  }
  const image = parseBzImage(opts.kernel, opts.kernelName);
  const loadOpts = {
    cmdline: opts.cmdline,
    ...(opts.initrd ? { initrd: opts.initrd } : {}),
    ...(opts.entry ? { entry: opts.entry } : {}),
  };
  planLinuxBoot(image, { ...loadOpts, memoryBytes });
  const vm = create(vmOpts);
  try {
    return { vm, boot, plan: loadLinux(vm, image, loadOpts) };
  } catch (err) {
    vm.destroy();
    throw err;
  }
}
