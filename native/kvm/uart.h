// A minimal 8250/16450 UART: enough registers for Linux's 8250 driver (console and earlyprintk) and for tiny
// test guests. Transmission is instant: every THR write goes straight to the output sink, so THRE is always
// set and "transmitter empty" interrupts fire as soon as the guest enables them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>

namespace tvkvm {

class Uart {
 public:
  // `emit` receives each transmitted byte; `setIrq` is called with the new line level when it changes.
  Uart(std::function<void(uint8_t)> emit, std::function<void(bool)> setIrq);

  // offset is relative to the base port (0..7).
  uint8_t read(uint16_t offset);
  void write(uint16_t offset, uint8_t value);

  // Host → guest bytes (the guest reads them from RBR). Thread-safe.
  void enqueueInput(const uint8_t* data, size_t len);

 private:
  void updateIrq();  // called with mu_ held
  uint8_t iir();     // called with mu_ held

  std::function<void(uint8_t)> emit_;
  std::function<void(bool)> setIrq_;
  std::mutex mu_;
  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
  bool threPending_ = false;  // a THR-empty interrupt is pending (cleared by reading IIR or writing THR)
  bool irqLevel_ = false;
};

}  // namespace tvkvm
