// The VMM core, free of Node-API: a KVM VM with guest memory, vCPUs, the small devices (8250 UARTs at the four
// PC COM ports 0x3f8/0x2f8/0x3e8/0x2e8 — the console is COM1 —,
// i8042 reset line, CMOS clock, an optional "exit port"), and a run loop with one thread per vCPU plus a
// controller thread that enforces the timeout, cancellation and "halted with interrupts off" detection.
#pragma once

#include <linux/kvm.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "uart.h"

namespace tvkvm {

// A failure with a stable code ("KVM_NOT_FOUND", "KVM_PERMISSION", ...) for the TS side to map.
class KvmError : public std::runtime_error {
 public:
  KvmError(std::string code, const std::string& message) : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

struct MachineOptions {
  std::string devicePath = "/dev/kvm";
  uint64_t memoryBytes = 0;
  int vcpus = 1;
  bool irqchip = true;  // in-kernel PIC/IOAPIC/LAPIC + PIT (needed for Linux; tiny guests may go without)
  int exitPort = -1;    // a write to this port ends the run with reason "exit-port" and the written value
};

struct RunResult {
  std::string reason;  // hlt | shutdown | reset | exit-port | timeout | cancelled | error
  std::string detail;
  uint64_t exitValue = 0;
  uint64_t exits = 0;  // exits to user space handled (I/O, MMIO, ...)
  uint64_t rip = 0;    // BSP's rip when the run ended (diagnostics)
  double durationMs = 0;
};

class Machine {
 public:
  explicit Machine(const MachineOptions& opts);  // throws KvmError; leaks nothing on failure
  ~Machine();
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  uint64_t memoryBytes() const { return memBytes_; }
  int vcpuCount() const { return static_cast<int>(vcpus_.size()); }
  bool irqchip() const { return opts_.irqchip; }
  bool destroyed() const { return destroyed_; }

  // Host pointer for [gpa, gpa+len) if it lies inside guest RAM, else nullptr.
  uint8_t* guestPtr(uint64_t gpa, uint64_t len);

  void getRegs(int vcpu, kvm_regs* regs);
  void setRegs(int vcpu, const kvm_regs& regs);
  void getSregs(int vcpu, kvm_sregs* sregs);
  void setSregs(int vcpu, const kvm_sregs& sregs);

  // Starts the vCPU threads. `outputReady` is called (from a vCPU thread) when console output goes from
  // empty to non-empty; `finished` is called once, from the controller thread, after every vCPU thread ended.
  void start(uint64_t timeoutMs, std::function<void()> outputReady, std::function<void(const RunResult&)> finished);
  bool running() const { return running_; }
  void cancel();
  void joinController();  // after `finished` ran (or to wait for it)
  static constexpr int kSerialPorts = 4;
  std::string takeOutput(int port);
  void sendInput(int port, const uint8_t* data, size_t len);

  // Ends any run, closes every fd and unmaps guest memory. Idempotent.
  void destroy();

 private:
  struct Vcpu {
    int fd = -1;
    kvm_run* run = nullptr;
    std::thread thread;
    std::atomic<bool> exited{false};
  };

  void init();
  void setupVcpu(int index);
  void vcpuLoop(int index);
  void controllerLoop(uint64_t timeoutMs);
  void endRun(const std::string& reason, const std::string& detail = "", uint64_t value = 0);
  void kick(int index);
  void ioOut(uint16_t port, const uint8_t* data, int size);
  void ioIn(uint16_t port, uint8_t* data, int size);
  uint8_t cmosRead();
  void setIrqLine(int irq, bool level);
  void onUartIrq(int port, bool level);
  void onUartByte(int port, uint8_t b);

  MachineOptions opts_;
  int kvmFd_ = -1;
  int vmFd_ = -1;
  uint8_t* mem_ = nullptr;      // guest RAM (2 MiB aligned inside the mapping)
  uint8_t* mapBase_ = nullptr;  // the mapping itself
  uint64_t mapBytes_ = 0;
  uint64_t memBytes_ = 0;
  uint64_t lowBytes_ = 0;  // RAM below the 3 GiB PCI hole; the rest is mapped from 4 GiB
  size_t runSize_ = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<uint8_t> cpuidBuf_;
  bool destroyed_ = false;

  std::unique_ptr<Uart> uarts_[kSerialPorts];
  std::mutex irqMu_;
  bool uartIrq_[kSerialPorts] = {};
  uint8_t cmosIndex_ = 0;

  // Run state.
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> exits_{0};
  std::mutex ctlMu_;
  std::condition_variable ctlCv_;
  bool finished_ = false;
  bool cancelRequested_ = false;
  RunResult result_;
  std::thread controller_;
  double startMs_ = 0;
  bool traceRip_ = false;
  std::function<void()> outputReady_;
  std::function<void(const RunResult&)> finished_cb_;

  std::mutex outMu_;
  std::string out_[kSerialPorts];
};

}  // namespace tvkvm
