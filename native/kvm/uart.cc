#include "uart.h"

namespace tvkvm {

namespace {
constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kIirNone = 0x01, kIirThre = 0x02, kIirRda = 0x04;
// MSR with the modem lines "up" (DCD, DSR, CTS) so drivers that wait for CTS keep sending.
constexpr uint8_t kMsrIdle = 0xb0;
}  // namespace

Uart::Uart(std::function<void(uint8_t)> emit, std::function<void(bool)> setIrq)
    : emit_(std::move(emit)), setIrq_(std::move(setIrq)) {}

uint8_t Uart::iir() {
  if ((ier_ & kIerRda) && !rx_.empty()) return kIirRda;
  if ((ier_ & kIerThre) && threPending_) return kIirThre;
  return kIirNone;
}

void Uart::updateIrq() {
  bool level = iir() != kIirNone;
  if (level != irqLevel_) {
    irqLevel_ = level;
    setIrq_(level);
  }
}

uint8_t Uart::read(uint16_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  uint8_t v = 0;
  switch (offset) {
    case 0:
      if (lcr_ & kLcrDlab) {
        v = dll_;
      } else if (!rx_.empty()) {
        v = rx_.front();
        rx_.pop_front();
      }
      break;
    case 1:
      v = (lcr_ & kLcrDlab) ? dlm_ : ier_;
      break;
    case 2:
      v = iir();
      if (v == kIirThre) threPending_ = false;  // reading IIR acknowledges a THRE interrupt
      break;
    case 3:
      v = lcr_;
      break;
    case 4:
      v = mcr_;
      break;
    case 5:
      v = kLsrThre | kLsrTemt | (rx_.empty() ? 0 : kLsrDr);
      break;
    case 6:
      if (mcr_ & kMcrLoop) {
        // Loopback: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.
        v = static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
                                 ((mcr_ & 0x08) << 4));
      } else {
        v = kMsrIdle;
      }
      break;
    case 7:
      v = scr_;
      break;
  }
  updateIrq();
  return v;
}

void Uart::write(uint16_t offset, uint8_t value) {
  bool send = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    switch (offset) {
      case 0:
        if (lcr_ & kLcrDlab) {
          dll_ = value;
        } else if (mcr_ & kMcrLoop) {
          rx_.push_back(value);  // loopback: what is sent is received
          threPending_ = true;
        } else {
          send = true;
          threPending_ = true;  // transmitted instantly: THR is empty again
        }
        break;
      case 1:
        if (lcr_ & kLcrDlab) {
          dlm_ = value;
        } else {
          // Enabling THRE interrupts while THR is empty raises one at once (as real 16450s do).
          if (!(ier_ & kIerThre) && (value & kIerThre)) threPending_ = true;
          ier_ = value & 0x0f;
        }
        break;
      case 2:
        break;  // FCR: no FIFOs (we present as a 16450)
      case 3:
        lcr_ = value;
        break;
      case 4:
        mcr_ = value & 0x1f;
        break;
      case 7:
        scr_ = value;
        break;
      default:
        break;  // LSR/MSR are read-only
    }
    updateIrq();
  }
  if (send) emit_(value);
}

void Uart::enqueueInput(const uint8_t* data, size_t len) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < len; i++) rx_.push_back(data[i]);
  updateIrq();
}

}  // namespace tvkvm
