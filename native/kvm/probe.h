#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tvkvm {

struct ProbeResult {
  bool present = false;     // the device node exists
  bool accessible = false;  // it could be opened read-write
  std::string error;        // why not (errno text), empty when accessible
  int errnoValue = 0;
  int apiVersion = -1;      // KVM_GET_API_VERSION, 12 on every supported kernel
  std::vector<std::pair<std::string, int>> extensions;  // KVM_CHECK_EXTENSION results for the caps we care about
  int vcpuMax = 0;
};

ProbeResult probeKvm(const std::string& devicePath);

}  // namespace tvkvm
