// Node-API binding of the VMM core. Loaded only by src/vm/kvm.ts, which gives it types.
// Register values cross the boundary as BigInt; guest addresses as number or BigInt.
#include <napi.h>

#include <cstring>
#include <memory>

#include "machine.h"
#include "probe.h"

namespace {

using tvkvm::KvmError;
using tvkvm::Machine;
using tvkvm::MachineOptions;
using tvkvm::RunResult;

Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

uint64_t toU64(const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless;
    return v.As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 0) return static_cast<uint64_t>(static_cast<int64_t>(d));
    return static_cast<uint64_t>(d);
  }
  throw makeError(v.Env(), "KVM_BAD_ARGUMENT", std::string(what) + " must be a number or a bigint");
}

Napi::Value probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "/dev/kvm";
  tvkvm::ProbeResult r = tvkvm::probeKvm(path);
  Napi::Object o = Napi::Object::New(env);
  o.Set("devicePath", path);
  o.Set("present", r.present);
  o.Set("accessible", r.accessible);
  if (!r.error.empty()) o.Set("error", r.error);
  o.Set("errno", r.errnoValue);
  o.Set("apiVersion", r.apiVersion);
  Napi::Object ext = Napi::Object::New(env);
  for (auto& e : r.extensions) ext.Set(e.first, e.second);
  o.Set("extensions", ext);
  return o;
}

#define REGS(X) \
  X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) \
  X(rip) X(rflags)

class KvmMachine : public Napi::ObjectWrap<KvmMachine> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "KvmMachine",
                       {
                           InstanceMethod("write", &KvmMachine::Write),
                           InstanceMethod("read", &KvmMachine::Read),
                           InstanceMethod("getRegisters", &KvmMachine::GetRegisters),
                           InstanceMethod("setRegisters", &KvmMachine::SetRegisters),
                           InstanceMethod("getSpecialRegisters", &KvmMachine::GetSpecialRegisters),
                           InstanceMethod("setSpecialRegisters", &KvmMachine::SetSpecialRegisters),
                           InstanceMethod("run", &KvmMachine::Run),
                           InstanceMethod("cancel", &KvmMachine::Cancel),
                           InstanceMethod("sendInput", &KvmMachine::SendInput),
                           InstanceMethod("destroy", &KvmMachine::Destroy),
                           InstanceAccessor("memoryBytes", &KvmMachine::MemoryBytes, nullptr),
                           InstanceAccessor("vcpus", &KvmMachine::Vcpus, nullptr),
                           InstanceAccessor("running", &KvmMachine::Running, nullptr),
                           InstanceAccessor("destroyed", &KvmMachine::Destroyed, nullptr),
                       });
  }

  explicit KvmMachine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KvmMachine>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) throw makeError(env, "KVM_BAD_ARGUMENT", "options object required");
    Napi::Object o = info[0].As<Napi::Object>();
    MachineOptions opts;
    if (o.Has("devicePath")) opts.devicePath = o.Get("devicePath").As<Napi::String>().Utf8Value();
    opts.memoryBytes = toU64(o.Get("memoryBytes"), "memoryBytes");
    if (o.Has("vcpus")) opts.vcpus = o.Get("vcpus").As<Napi::Number>().Int32Value();
    if (o.Has("irqchip")) opts.irqchip = o.Get("irqchip").ToBoolean().Value();
    if (o.Has("exitPort") && o.Get("exitPort").IsNumber()) opts.exitPort = o.Get("exitPort").As<Napi::Number>().Int32Value();
    try {
      machine_ = std::make_unique<Machine>(opts);
    } catch (const KvmError& e) {
      throw makeError(env, e.code(), e.what());
    }
    env_ = env;
    napi_add_env_cleanup_hook(env, CleanupHook, this);
  }

  ~KvmMachine() override {
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    if (machine_) machine_->destroy();
  }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<KvmMachine*>(arg);
    if (self->machine_) self->machine_->destroy();
  }

  Machine& live(Napi::Env env) {
    if (!machine_ || machine_->destroyed()) throw makeError(env, "KVM_DESTROYED", "the VM was destroyed");
    return *machine_;
  }

  int vcpuIndex(const Napi::CallbackInfo& info) {
    int i = info[0].As<Napi::Number>().Int32Value();
    if (i < 0 || i >= machine_->vcpuCount()) throw makeError(info.Env(), "KVM_BAD_ARGUMENT", "no such vCPU");
    return i;
  }

  uint8_t* guest(Napi::Env env, uint64_t addr, uint64_t len) {
    uint8_t* p = live(env).guestPtr(addr, len);
    if (!p)
      throw makeError(env, "KVM_BAD_ADDRESS",
                      "guest range 0x" + hex(addr) + "+" + std::to_string(len) + " is outside guest memory");
    return p;
  }

  static std::string hex(uint64_t v) {
    char b[20];
    snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
    return b;
  }

  Napi::Value Write(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t addr = toU64(info[0], "address");
    if (!info[1].IsTypedArray()) throw makeError(env, "KVM_BAD_ARGUMENT", "data must be a Uint8Array");
    Napi::Uint8Array data = info[1].As<Napi::Uint8Array>();
    uint8_t* p = guest(env, addr, data.ByteLength());
    memcpy(p, data.Data(), data.ByteLength());
    return env.Undefined();
  }

  Napi::Value Read(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint64_t addr = toU64(info[0], "address");
    uint64_t len = toU64(info[1], "length");
    uint8_t* p = guest(env, addr, len);
    return Napi::Buffer<uint8_t>::Copy(env, p, len);
  }

  Napi::Value GetRegisters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    kvm_regs r;
    try {
      m.getRegs(vcpuIndex(info), &r);
    } catch (const KvmError& e) {
      throw makeError(env, e.code(), e.what());
    }
    Napi::Object o = Napi::Object::New(env);
#define GET(n) o.Set(#n, Napi::BigInt::New(env, static_cast<uint64_t>(r.n)));
    REGS(GET)
#undef GET
    return o;
  }

  Napi::Value SetRegisters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    int i = vcpuIndex(info);
    Napi::Object o = info[1].As<Napi::Object>();
    try {
      kvm_regs r;
      m.getRegs(i, &r);
#define SET(n) \
  if (o.Has(#n)) r.n = toU64(o.Get(#n), #n);
      REGS(SET)
#undef SET
      m.setRegs(i, r);
    } catch (const KvmError& e) {
      throw makeError(env, e.code(), e.what());
    }
    return env.Undefined();
  }

  static Napi::Object segToJs(Napi::Env env, const kvm_segment& s) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("base", Napi::BigInt::New(env, static_cast<uint64_t>(s.base)));
    o.Set("limit", s.limit);
    o.Set("selector", s.selector);
    o.Set("type", s.type);
    o.Set("present", s.present);
    o.Set("dpl", s.dpl);
    o.Set("db", s.db);
    o.Set("s", s.s);
    o.Set("l", s.l);
    o.Set("g", s.g);
    o.Set("avl", s.avl);
    o.Set("unusable", s.unusable);
    return o;
  }

  static void segFromJs(const Napi::Object& o, kvm_segment* s) {
    if (o.Has("base")) s->base = toU64(o.Get("base"), "base");
    auto num = [&](const char* k, auto* field) {
      if (o.Has(k)) *field = static_cast<std::remove_pointer_t<decltype(field)>>(toU64(o.Get(k), k));
    };
    num("limit", &s->limit);
    num("selector", &s->selector);
    num("type", &s->type);
    num("present", &s->present);
    num("dpl", &s->dpl);
    num("db", &s->db);
    num("s", &s->s);
    num("l", &s->l);
    num("g", &s->g);
    num("avl", &s->avl);
    num("unusable", &s->unusable);
  }

  Napi::Value GetSpecialRegisters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    kvm_sregs s;
    try {
      m.getSregs(vcpuIndex(info), &s);
    } catch (const KvmError& e) {
      throw makeError(env, e.code(), e.what());
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("cs", segToJs(env, s.cs));
    o.Set("ds", segToJs(env, s.ds));
    o.Set("es", segToJs(env, s.es));
    o.Set("fs", segToJs(env, s.fs));
    o.Set("gs", segToJs(env, s.gs));
    o.Set("ss", segToJs(env, s.ss));
    o.Set("tr", segToJs(env, s.tr));
    o.Set("ldt", segToJs(env, s.ldt));
    o.Set("cr0", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr0)));
    o.Set("cr3", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr3)));
    o.Set("cr4", Napi::BigInt::New(env, static_cast<uint64_t>(s.cr4)));
    o.Set("efer", Napi::BigInt::New(env, static_cast<uint64_t>(s.efer)));
    return o;
  }

  Napi::Value SetSpecialRegisters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    int i = vcpuIndex(info);
    Napi::Object o = info[1].As<Napi::Object>();
    try {
      kvm_sregs s;
      m.getSregs(i, &s);
      const char* segNames[] = {"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"};
      kvm_segment* segs[] = {&s.cs, &s.ds, &s.es, &s.fs, &s.gs, &s.ss, &s.tr, &s.ldt};
      for (int k = 0; k < 8; k++)
        if (o.Has(segNames[k])) segFromJs(o.Get(segNames[k]).As<Napi::Object>(), segs[k]);
      if (o.Has("cr0")) s.cr0 = toU64(o.Get("cr0"), "cr0");
      if (o.Has("cr3")) s.cr3 = toU64(o.Get("cr3"), "cr3");
      if (o.Has("cr4")) s.cr4 = toU64(o.Get("cr4"), "cr4");
      if (o.Has("efer")) s.efer = toU64(o.Get("efer"), "efer");
      if (o.Has("gdt")) {
        Napi::Object t = o.Get("gdt").As<Napi::Object>();
        s.gdt.base = toU64(t.Get("base"), "gdt.base");
        s.gdt.limit = static_cast<uint16_t>(toU64(t.Get("limit"), "gdt.limit"));
      }
      if (o.Has("idt")) {
        Napi::Object t = o.Get("idt").As<Napi::Object>();
        s.idt.base = toU64(t.Get("base"), "idt.base");
        s.idt.limit = static_cast<uint16_t>(toU64(t.Get("limit"), "idt.limit"));
      }
      m.setSregs(i, s);
    } catch (const KvmError& e) {
      throw makeError(env, e.code(), e.what());
    }
    return env.Undefined();
  }

  // run(timeoutMs, onOutput(chunk: Buffer)) → Promise<RunResult>
  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    if (m.running()) throw makeError(env, "KVM_BUSY", "the VM is already running");
    m.joinController();  // a previous run's controller thread has finished by now
    uint64_t timeoutMs = toU64(info[0], "timeoutMs");
    Napi::Function onOutput = info[1].As<Napi::Function>();
    auto deferred = std::make_shared<Napi::Promise::Deferred>(env);
    tsfn_ = Napi::ThreadSafeFunction::New(env, onOutput, "tvctl-kvm-run", 0, 1);
    Ref();  // keep this object alive until the run has been reported
    Napi::ThreadSafeFunction tsfn = tsfn_;
    Machine* mp = &m;
    // Drains every serial port's buffer: onOutput(chunk, port) with port 0 = COM1 (the console).
    auto deliverOutput = [mp](Napi::Env env, Napi::Function cb) {
      for (int port = 0; port < Machine::kSerialPorts; port++) {
        std::string s = mp->takeOutput(port);
        if (!s.empty()) cb.Call({Napi::Buffer<char>::Copy(env, s.data(), s.size()), Napi::Number::New(env, port)});
      }
    };
    try {
      m.start(
          timeoutMs,
          [tsfn, deliverOutput]() mutable {
            tsfn.NonBlockingCall([deliverOutput](Napi::Env env, Napi::Function cb) { deliverOutput(env, cb); });
          },
          [this, tsfn, deferred, deliverOutput](const RunResult& res) mutable {
            auto* copy = new RunResult(res);
            tsfn.BlockingCall([this, copy, deferred, deliverOutput](Napi::Env env, Napi::Function cb) {
              std::unique_ptr<RunResult> r(copy);
              try {
                deliverOutput(env, cb);
              } catch (...) {
              }
              if (machine_) machine_->joinController();
              Napi::Object o = Napi::Object::New(env);
              o.Set("reason", r->reason);
              if (!r->detail.empty()) o.Set("detail", r->detail);
              o.Set("exitValue", Napi::Number::New(env, static_cast<double>(r->exitValue)));
              o.Set("exits", Napi::Number::New(env, static_cast<double>(r->exits)));
              o.Set("rip", Napi::BigInt::New(env, r->rip));
              o.Set("durationMs", r->durationMs);
              deferred->Resolve(o);
              Unref();
            });
            tsfn.Release();
          });
    } catch (const KvmError& e) {
      tsfn_.Release();
      Unref();
      throw makeError(env, e.code(), e.what());
    }
    return deferred->Promise();
  }

  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (machine_) machine_->cancel();
    return info.Env().Undefined();
  }

  Napi::Value SendInput(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Machine& m = live(env);
    Napi::Uint8Array data = info[0].As<Napi::Uint8Array>();
    int port = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
    if (port < 0 || port >= Machine::kSerialPorts) throw makeError(env, "KVM_BAD_ARGUMENT", "serial port must be 0..3");
    m.sendInput(port, data.Data(), data.ByteLength());
    return env.Undefined();
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    if (machine_) machine_->destroy();
    return info.Env().Undefined();
  }

  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), machine_ ? static_cast<double>(machine_->memoryBytes()) : 0);
  }
  Napi::Value Vcpus(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), machine_ ? machine_->vcpuCount() : 0);
  }
  Napi::Value Running(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), machine_ && machine_->running());
  }
  Napi::Value Destroyed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !machine_ || machine_->destroyed());
  }

  std::unique_ptr<Machine> machine_;
  Napi::ThreadSafeFunction tsfn_;
  napi_env env_ = nullptr;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("probe", Napi::Function::New(env, probe));
  exports.Set("KvmMachine", KvmMachine::Init(env));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  return exports;
}

}  // namespace

NODE_API_MODULE(tvctl_kvm, Init)
