#include "machine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace tvkvm {

namespace {

constexpr uint64_t kPciHoleStart = 0xC0000000ULL;  // RAM above 3 GiB is moved to 4 GiB
constexpr uint64_t k4G = 0x100000000ULL;
constexpr uint64_t kHugePage = 2ULL << 20;
constexpr uint64_t kTssAddr = 0xfffbd000ULL;  // 3 pages, must not overlap RAM (below the BIOS area at 4G-256K)
constexpr uint64_t kIdentityMapAddr = 0xfffbc000ULL;
// COM1..COM4: base port and ISA IRQ (COM1/COM3 share IRQ 4, COM2/COM4 share IRQ 3).
constexpr uint16_t kUartBase[4] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
constexpr int kUartIrq[4] = {4, 3, 4, 3};
int uartIndex(uint16_t port) {
  for (int i = 0; i < 4; i++)
    if (port >= kUartBase[i] && port < kUartBase[i] + 8) return i;
  return -1;
}
constexpr auto kMaxPollInterval = std::chrono::milliseconds(1000);

// A no-op handler: its only job is to make KVM_RUN return EINTR in the thread it is sent to.
int kickSignal() { return SIGRTMIN + 3; }
void onKick(int) {}
std::once_flag gSignalOnce;
void installKickHandler() {
  std::call_once(gSignalOnce, [] {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = onKick;  // no SA_RESTART: the ioctl must be interrupted
    sigemptyset(&sa.sa_mask);
    sigaction(kickSignal(), &sa, nullptr);
  });
}

std::string errnoText(const char* what) { return std::string(what) + ": " + strerror(errno); }

uint8_t toBcd(int v) { return static_cast<uint8_t>(((v / 10) << 4) | (v % 10)); }

// linux/kvm.h declares kvm_cpuid2's entries with __DECLARE_FLEX_ARRAY, which C++ sizes as 12 bytes instead of 8,
// giving wrong ioctl numbers. Use a layout of our own: an 8-byte header followed by the entries.
struct CpuidHeader {
  uint32_t nent;
  uint32_t padding;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
kvm_cpuid_entry2* cpuidEntries(std::vector<uint8_t>& buf) {
  return reinterpret_cast<kvm_cpuid_entry2*>(buf.data() + sizeof(CpuidHeader));
}

double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Machine::Machine(const MachineOptions& opts) : opts_(opts) {
  try {
    init();
  } catch (...) {
    destroy();
    throw;
  }
}

Machine::~Machine() { destroy(); }

void Machine::init() {
  if (opts_.vcpus < 1 || opts_.vcpus > 64) throw KvmError("KVM_BAD_CONFIG", "vcpus must be between 1 and 64");
  if (opts_.memoryBytes < (1u << 20) || opts_.memoryBytes % 4096 != 0)
    throw KvmError("KVM_BAD_CONFIG", "guest memory must be at least 1 MiB and a multiple of 4 KiB");
  if (opts_.memoryBytes > (64ULL << 30)) throw KvmError("KVM_BAD_CONFIG", "guest memory must be at most 64 GiB");

  kvmFd_ = open(opts_.devicePath.c_str(), O_RDWR | O_CLOEXEC);
  if (kvmFd_ < 0) {
    int e = errno;
    if (e == ENOENT || e == ENXIO || e == ENODEV)
      throw KvmError("KVM_NOT_FOUND", opts_.devicePath + " does not exist: KVM is not available on this host (" +
                                          strerror(e) + "); load kvm_intel/kvm_amd or use the qemu engine");
    if (e == EACCES || e == EPERM)
      throw KvmError("KVM_PERMISSION", "no permission to open " + opts_.devicePath +
                                           " (run as root or join the group that owns it, usually \"kvm\")");
    throw KvmError("KVM_OPEN", "cannot open " + opts_.devicePath + ": " + strerror(e));
  }
  int api = ioctl(kvmFd_, KVM_GET_API_VERSION, 0);
  if (api != KVM_API_VERSION)
    throw KvmError("KVM_API", "KVM API version " + std::to_string(api) + " is not the supported version 12");

  vmFd_ = ioctl(kvmFd_, KVM_CREATE_VM, 0);
  if (vmFd_ < 0) throw KvmError("KVM_CREATE_VM", errnoText("KVM_CREATE_VM"));
  if (ioctl(vmFd_, KVM_SET_TSS_ADDR, kTssAddr) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_SET_TSS_ADDR"));
  uint64_t idmap = kIdentityMapAddr;
  if (ioctl(vmFd_, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
    throw KvmError("KVM_SETUP", errnoText("KVM_SET_IDENTITY_MAP_ADDR"));
  if (opts_.irqchip) {
    if (ioctl(vmFd_, KVM_CREATE_IRQCHIP, 0) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_CREATE_IRQCHIP"));
    kvm_pit_config pit;
    memset(&pit, 0, sizeof pit);
    pit.flags = KVM_PIT_SPEAKER_DUMMY;
    if (ioctl(vmFd_, KVM_CREATE_PIT2, &pit) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_CREATE_PIT2"));
  }

  memBytes_ = opts_.memoryBytes;
  // Guest RAM: anonymous memory, 2 MiB aligned and THP-advised so the host can back it with huge pages
  // (fewer faults when the guest first touches it: the kernel's decompressor writes ~50 MiB).
  mapBytes_ = memBytes_ + kHugePage;
  void* m = mmap(nullptr, mapBytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) throw KvmError("KVM_NO_MEMORY", errnoText("cannot map guest memory"));
  mapBase_ = static_cast<uint8_t*>(m);
  mem_ = reinterpret_cast<uint8_t*>((reinterpret_cast<uintptr_t>(m) + kHugePage - 1) & ~(kHugePage - 1));
  madvise(mem_, memBytes_, MADV_HUGEPAGE);
  lowBytes_ = memBytes_ < kPciHoleStart ? memBytes_ : kPciHoleStart;
  kvm_userspace_memory_region region;
  memset(&region, 0, sizeof region);
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = lowBytes_;
  region.userspace_addr = reinterpret_cast<uint64_t>(mem_);
  if (ioctl(vmFd_, KVM_SET_USER_MEMORY_REGION, &region) < 0)
    throw KvmError("KVM_SETUP", errnoText("KVM_SET_USER_MEMORY_REGION"));
  if (memBytes_ > lowBytes_) {
    region.slot = 1;
    region.guest_phys_addr = k4G;
    region.memory_size = memBytes_ - lowBytes_;
    region.userspace_addr = reinterpret_cast<uint64_t>(mem_ + lowBytes_);
    if (ioctl(vmFd_, KVM_SET_USER_MEMORY_REGION, &region) < 0)
      throw KvmError("KVM_SETUP", errnoText("KVM_SET_USER_MEMORY_REGION (high)"));
  }

  int runSize = ioctl(kvmFd_, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (runSize <= 0) throw KvmError("KVM_SETUP", errnoText("KVM_GET_VCPU_MMAP_SIZE"));
  runSize_ = static_cast<size_t>(runSize);

  // The host's supported CPUID, as the guest's CPUID (patched per vCPU below).
  for (int nent = 128; nent <= 4096; nent *= 2) {
    cpuidBuf_.assign(sizeof(CpuidHeader) + nent * sizeof(kvm_cpuid_entry2), 0);
    auto* c = reinterpret_cast<CpuidHeader*>(cpuidBuf_.data());
    c->nent = static_cast<uint32_t>(nent);
    if (ioctl(kvmFd_, kGetSupportedCpuid, c) == 0) break;
    if (errno != E2BIG) throw KvmError("KVM_SETUP", errnoText("KVM_GET_SUPPORTED_CPUID"));
  }

  for (int i = 0; i < kSerialPorts; i++) {
    uarts_[i] = std::make_unique<Uart>([this, i](uint8_t b) { onUartByte(i, b); },
                                       [this, i](bool level) { onUartIrq(i, level); });
  }

  for (int i = 0; i < opts_.vcpus; i++) setupVcpu(i);
}

void Machine::setupVcpu(int index) {
  auto v = std::make_unique<Vcpu>();
  v->fd = ioctl(vmFd_, KVM_CREATE_VCPU, index);
  if (v->fd < 0) throw KvmError("KVM_SETUP", errnoText("KVM_CREATE_VCPU"));
  Vcpu* vp = v.get();
  vcpus_.push_back(std::move(v));  // owned from here on, so destroy() closes it even if the rest fails
  void* r = mmap(nullptr, runSize_, PROT_READ | PROT_WRITE, MAP_SHARED, vp->fd, 0);
  if (r == MAP_FAILED) throw KvmError("KVM_SETUP", errnoText("mmap kvm_run"));
  vp->run = static_cast<kvm_run*>(r);

  std::vector<uint8_t> buf = cpuidBuf_;
  auto* c = reinterpret_cast<CpuidHeader*>(buf.data());
  kvm_cpuid_entry2* entries = cpuidEntries(buf);
  for (uint32_t i = 0; i < c->nent; i++) {
    kvm_cpuid_entry2& e = entries[i];
    if (e.function == 1) {
      e.ebx = (e.ebx & 0x00ffffffu) | (static_cast<uint32_t>(index) << 24);  // initial APIC ID
      e.ecx |= 1u << 31;                                                        // "running under a hypervisor"
    } else if (e.function == 0xb || e.function == 0x1f) {
      e.edx = static_cast<uint32_t>(index);  // x2APIC ID
    }
  }
  if (ioctl(vp->fd, kSetCpuid2, c) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_SET_CPUID2"));

  kvm_fpu fpu;
  memset(&fpu, 0, sizeof fpu);
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  if (ioctl(vp->fd, KVM_SET_FPU, &fpu) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_SET_FPU"));

  if (opts_.irqchip) {
    // LINT0 = ExtINT (the 8259 reaches the CPU in virtual-wire mode), LINT1 = NMI, as on a PC.
    kvm_lapic_state lapic;
    if (ioctl(vp->fd, KVM_GET_LAPIC, &lapic) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_GET_LAPIC"));
    auto setReg = [&](int off, uint32_t mode) {
      uint32_t val;
      memcpy(&val, lapic.regs + off, 4);
      val = (val & ~0x700u) | (mode << 8);
      memcpy(lapic.regs + off, &val, 4);
    };
    setReg(0x350, 7);  // ExtINT
    setReg(0x360, 4);  // NMI
    if (ioctl(vp->fd, KVM_SET_LAPIC, &lapic) < 0) throw KvmError("KVM_SETUP", errnoText("KVM_SET_LAPIC"));
  }
}

void Machine::destroy() {
  if (controller_.joinable() || running_) {
    cancel();
    joinController();
  }
  for (auto& v : vcpus_) {
    if (v->run) munmap(v->run, runSize_);
    if (v->fd >= 0) close(v->fd);
    v->run = nullptr;
    v->fd = -1;
  }
  vcpus_.clear();
  if (mapBase_) munmap(mapBase_, mapBytes_);
  mapBase_ = nullptr;
  mem_ = nullptr;
  if (vmFd_ >= 0) close(vmFd_);
  if (kvmFd_ >= 0) close(kvmFd_);
  vmFd_ = kvmFd_ = -1;
  destroyed_ = true;
}

uint8_t* Machine::guestPtr(uint64_t gpa, uint64_t len) {
  if (!mem_) return nullptr;
  if (gpa + len < gpa) return nullptr;
  if (gpa + len <= lowBytes_) return mem_ + gpa;
  uint64_t high = memBytes_ - lowBytes_;
  if (gpa >= k4G && gpa + len <= k4G + high) return mem_ + lowBytes_ + (gpa - k4G);
  return nullptr;
}

static void vcpuIoctl(int fd, unsigned long req, void* arg, const char* name) {
  if (ioctl(fd, req, arg) < 0) throw KvmError("KVM_VCPU", errnoText(name));
}

void Machine::getRegs(int i, kvm_regs* r) { vcpuIoctl(vcpus_.at(i)->fd, KVM_GET_REGS, r, "KVM_GET_REGS"); }
void Machine::setRegs(int i, const kvm_regs& r) {
  vcpuIoctl(vcpus_.at(i)->fd, KVM_SET_REGS, const_cast<kvm_regs*>(&r), "KVM_SET_REGS");
}
void Machine::getSregs(int i, kvm_sregs* s) { vcpuIoctl(vcpus_.at(i)->fd, KVM_GET_SREGS, s, "KVM_GET_SREGS"); }
void Machine::setSregs(int i, const kvm_sregs& s) {
  vcpuIoctl(vcpus_.at(i)->fd, KVM_SET_SREGS, const_cast<kvm_sregs*>(&s), "KVM_SET_SREGS");
}

void Machine::setIrqLine(int irq, bool level) {
  if (!opts_.irqchip || vmFd_ < 0) return;
  kvm_irq_level l;
  memset(&l, 0, sizeof l);
  l.irq = irq;
  l.level = level ? 1 : 0;
  ioctl(vmFd_, KVM_IRQ_LINE, &l);
}

void Machine::onUartIrq(int port, bool level) {
  // Two UARTs share each ISA line: it is up while either asserts it.
  std::lock_guard<std::mutex> lock(irqMu_);
  uartIrq_[port] = level;
  bool line = false;
  for (int i = 0; i < kSerialPorts; i++)
    if (kUartIrq[i] == kUartIrq[port] && uartIrq_[i]) line = true;
  setIrqLine(kUartIrq[port], line);
}

void Machine::onUartByte(int port, uint8_t b) {
  bool wasEmpty;
  {
    std::lock_guard<std::mutex> lock(outMu_);
    wasEmpty = out_[0].empty() && out_[1].empty() && out_[2].empty() && out_[3].empty();
    out_[port].push_back(static_cast<char>(b));
  }
  if (wasEmpty && outputReady_) outputReady_();
}

std::string Machine::takeOutput(int port) {
  std::lock_guard<std::mutex> lock(outMu_);
  std::string s;
  s.swap(out_[port]);
  return s;
}

void Machine::sendInput(int port, const uint8_t* data, size_t len) {
  if (port >= 0 && port < kSerialPorts && uarts_[port]) uarts_[port]->enqueueInput(data, len);
}

uint8_t Machine::cmosRead() {
  time_t t = time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  switch (cmosIndex_) {
    case 0x00: return toBcd(tm.tm_sec);
    case 0x02: return toBcd(tm.tm_min);
    case 0x04: return toBcd(tm.tm_hour);
    case 0x06: return toBcd(tm.tm_wday + 1);
    case 0x07: return toBcd(tm.tm_mday);
    case 0x08: return toBcd(tm.tm_mon + 1);
    case 0x09: return toBcd(tm.tm_year % 100);
    case 0x32: return toBcd(19 + tm.tm_year / 100);
    case 0x0a: return 0x26;  // 32.768 kHz base, 1024 Hz rate, no update in progress
    case 0x0b: return 0x02;  // 24-hour mode, BCD
    case 0x0d: return 0x80;  // valid RAM and time
    default: return 0x00;
  }
}

void Machine::ioOut(uint16_t port, const uint8_t* data, int size) {
  uint64_t value = 0;
  memcpy(&value, data, static_cast<size_t>(size));
  if (opts_.exitPort >= 0 && port == opts_.exitPort) {
    endRun("exit-port", "", value);
  } else if (uartIndex(port) >= 0) {
    int u = uartIndex(port);
    uarts_[u]->write(port - kUartBase[u], data[0]);
  } else if (port == 0x64 && data[0] == 0xfe) {
    endRun("reset", "i8042 reset line (0xfe to port 0x64)");
  } else if (port == 0xcf9 && (data[0] & 0x04)) {
    endRun("reset", "reset control register (port 0xcf9)");
  } else if (port == 0x70) {
    cmosIndex_ = data[0] & 0x7f;
  }
  // Anything else is ignored.
}

void Machine::ioIn(uint16_t port, uint8_t* data, int size) {
  if (uartIndex(port) >= 0) {
    int u = uartIndex(port);
    data[0] = uarts_[u]->read(port - kUartBase[u]);
    for (int i = 1; i < size; i++) data[i] = 0xff;
  } else if (port == 0x71) {
    data[0] = cmosRead();
  } else {
    memset(data, 0xff, static_cast<size_t>(size));  // nothing there: a floating ISA bus reads all ones
  }
}

void Machine::endRun(const std::string& reason, const std::string& detail, uint64_t value) {
  {
    std::lock_guard<std::mutex> lock(ctlMu_);
    if (finished_) return;
    finished_ = true;
    result_.reason = reason;
    result_.detail = detail;
    result_.exitValue = value;
  }
  stop_ = true;
  ctlCv_.notify_all();
}

void Machine::kick(int index) {
  Vcpu& v = *vcpus_[index];
  if (v.exited || !v.thread.joinable()) return;
  v.run->immediate_exit = 1;  // covers a kick that lands just before KVM_RUN is entered
  pthread_kill(v.thread.native_handle(), kickSignal());
}

void Machine::vcpuLoop(int index) {
  Vcpu& v = *vcpus_[index];
  kvm_run* run = v.run;
  while (!stop_) {
    int r = ioctl(v.fd, KVM_RUN, 0);
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) {
        run->immediate_exit = 0;
        if (stop_) break;
        if (index == 0 && traceRip_) {  // TVCTL_KVM_TRACE=1: where vCPU 0 is at each poll (diagnostics)
          kvm_regs tr;
          if (ioctl(v.fd, KVM_GET_REGS, &tr) == 0) fprintf(stderr, "[kvm] t=%.1f rip=%llx exits=%llu\n", (nowMs() - startMs_) / 1000, (unsigned long long)tr.rip, (unsigned long long)exits_.load());
        }
        if (index == 0 && opts_.irqchip) {
          // With the in-kernel LAPIC, HLT never exits to user space; a halted vCPU with interrupts
          // disabled is the end of the run (Linux's panic/halt loop, tiny guests' final hlt).
          kvm_mp_state mp;
          kvm_regs regs;
          if (ioctl(v.fd, KVM_GET_MP_STATE, &mp) == 0 && mp.mp_state == KVM_MP_STATE_HALTED &&
              ioctl(v.fd, KVM_GET_REGS, &regs) == 0 && !(regs.rflags & 0x200)) {
            endRun("hlt", "halted with interrupts disabled");
          }
        }
        continue;
      }
      endRun("error", errnoText("KVM_RUN"));
      break;
    }
    exits_++;
    switch (run->exit_reason) {
      case KVM_EXIT_IO: {
        uint8_t* p = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        for (uint32_t i = 0; i < run->io.count && !stop_; i++, p += run->io.size) {
          if (run->io.direction == KVM_EXIT_IO_OUT)
            ioOut(run->io.port, p, run->io.size);
          else
            ioIn(run->io.port, p, run->io.size);
        }
        break;
      }
      case KVM_EXIT_MMIO:
        if (!run->mmio.is_write) memset(run->mmio.data, 0xff, sizeof run->mmio.data);
        break;
      case KVM_EXIT_HLT:
        if (index == 0) endRun("hlt", "hlt instruction");
        break;
      case KVM_EXIT_SHUTDOWN:
        endRun("shutdown", "triple fault (KVM_EXIT_SHUTDOWN)");
        break;
      case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
          endRun("reset", "system event: reset");
        else
          endRun("shutdown", "system event " + std::to_string(run->system_event.type));
        break;
      case KVM_EXIT_FAIL_ENTRY:
        endRun("error", "VM entry failed, hardware reason 0x" +
                            std::to_string(run->fail_entry.hardware_entry_failure_reason));
        break;
      case KVM_EXIT_INTERNAL_ERROR:
        endRun("error", "KVM internal error, suberror " + std::to_string(run->internal.suberror) +
                            (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION ? " (instruction emulation failed)"
                                                                                    : ""));
        break;
      case KVM_EXIT_INTR:
        break;
      default:
        endRun("error", "unhandled KVM exit reason " + std::to_string(run->exit_reason));
        break;
    }
  }
  v.exited = true;
  ctlCv_.notify_all();
}

void Machine::controllerLoop(uint64_t timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  // The halt check interrupts vCPU 0: often at first (tiny guests end fast), then at most once a second.
  auto pollInterval = std::chrono::milliseconds(5);
  {
    std::unique_lock<std::mutex> lock(ctlMu_);
    while (!finished_) {
      ctlCv_.wait_for(lock, pollInterval);
      if (pollInterval < kMaxPollInterval) pollInterval *= 2;
      if (finished_) break;
      if (cancelRequested_) {
        lock.unlock();
        endRun("cancelled", "cancelled by the caller");
        lock.lock();
        break;
      }
      if (timeoutMs > 0 && std::chrono::steady_clock::now() >= deadline) {
        lock.unlock();
        endRun("timeout", "no end after " + std::to_string(timeoutMs) + " ms");
        lock.lock();
        break;
      }
      if (opts_.irqchip) {
        lock.unlock();
        kick(0);  // lets vCPU 0 check whether it is halted for good
        lock.lock();
      }
    }
  }
  // Stop every vCPU: keep kicking until each thread has left KVM_RUN, then join.
  stop_ = true;
  for (size_t i = 0; i < vcpus_.size(); i++) {
    while (!vcpus_[i]->exited) {
      kick(static_cast<int>(i));
      std::unique_lock<std::mutex> lock(ctlMu_);
      ctlCv_.wait_for(lock, std::chrono::milliseconds(5));
    }
    vcpus_[i]->thread.join();
    vcpus_[i]->run->immediate_exit = 0;
  }
  RunResult res;
  {
    std::lock_guard<std::mutex> lock(ctlMu_);
    res = result_;
  }
  kvm_regs regs;
  if (!vcpus_.empty() && ioctl(vcpus_[0]->fd, KVM_GET_REGS, &regs) == 0) res.rip = regs.rip;
  res.exits = exits_;
  res.durationMs = nowMs() - startMs_;
  running_ = false;
  if (finished_cb_) finished_cb_(res);
}

void Machine::start(uint64_t timeoutMs, std::function<void()> outputReady,
                    std::function<void(const RunResult&)> finished) {
  if (destroyed_ || vcpus_.empty()) throw KvmError("KVM_DESTROYED", "the VM was destroyed");
  if (running_ || controller_.joinable()) throw KvmError("KVM_BUSY", "the VM is already running");
  installKickHandler();
  traceRip_ = getenv("TVCTL_KVM_TRACE") != nullptr;
  outputReady_ = std::move(outputReady);
  finished_cb_ = std::move(finished);
  stop_ = false;
  exits_ = 0;
  finished_ = false;
  cancelRequested_ = false;
  result_ = RunResult();
  running_ = true;
  startMs_ = nowMs();
  for (size_t i = 0; i < vcpus_.size(); i++) {
    vcpus_[i]->exited = false;
    vcpus_[i]->run->immediate_exit = 0;
    vcpus_[i]->thread = std::thread([this, i] { vcpuLoop(static_cast<int>(i)); });
  }
  controller_ = std::thread([this, timeoutMs] { controllerLoop(timeoutMs); });
}

void Machine::cancel() {
  {
    std::lock_guard<std::mutex> lock(ctlMu_);
    cancelRequested_ = true;
  }
  ctlCv_.notify_all();
}

void Machine::joinController() {
  if (controller_.joinable()) controller_.join();
}

}  // namespace tvkvm
