#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tvkvm {

namespace {
struct Cap {
  const char* name;
  int id;
};
// The capabilities this VMM uses or that tell what kind of hypervisor is behind /dev/kvm.
const Cap kCaps[] = {
    {"irqchip", KVM_CAP_IRQCHIP},
    {"hlt", KVM_CAP_HLT},
    {"userMemory", KVM_CAP_USER_MEMORY},
    {"setTssAddr", KVM_CAP_SET_TSS_ADDR},
    {"setIdentityMapAddr", KVM_CAP_SET_IDENTITY_MAP_ADDR},
    {"extCpuid", KVM_CAP_EXT_CPUID},
    {"pit2", KVM_CAP_PIT2},
    {"irqRouting", KVM_CAP_IRQ_ROUTING},
    {"immediateExit", KVM_CAP_IMMEDIATE_EXIT},
    {"nrVcpus", KVM_CAP_NR_VCPUS},
    {"maxVcpus", KVM_CAP_MAX_VCPUS},
    {"nrMemslots", KVM_CAP_NR_MEMSLOTS},
    {"mpState", KVM_CAP_MP_STATE},
    {"tscControl", KVM_CAP_TSC_CONTROL},
    {"x2apicApi", KVM_CAP_X2APIC_API},
    {"splitIrqchip", KVM_CAP_SPLIT_IRQCHIP},
    {"nestedState", KVM_CAP_NESTED_STATE},
    {"vmTypes", 235 /* KVM_CAP_VM_TYPES */},
};
}  // namespace

ProbeResult probeKvm(const std::string& devicePath) {
  ProbeResult r;
  struct stat st;
  if (stat(devicePath.c_str(), &st) != 0) {
    r.errnoValue = errno;
    r.error = strerror(errno);
    return r;
  }
  r.present = true;
  int fd = open(devicePath.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    r.errnoValue = errno;
    r.error = strerror(errno);
    return r;
  }
  r.accessible = true;
  r.apiVersion = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (r.apiVersion < 0) {
    r.errnoValue = errno;
    r.error = std::string("KVM_GET_API_VERSION: ") + strerror(errno);
  } else {
    for (const Cap& c : kCaps) {
      int v = ioctl(fd, KVM_CHECK_EXTENSION, c.id);
      r.extensions.emplace_back(c.name, v < 0 ? 0 : v);
      if (c.id == KVM_CAP_MAX_VCPUS) r.vcpuMax = v;
    }
  }
  close(fd);
  return r;
}

}  // namespace tvkvm
