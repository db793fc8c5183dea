// The CUDA backend's surface seen by the rest of the core. In a CPU build it is served by
// cuda_stub.cc ("not built with CUDA"); in the CUDA flavor by the .cu files here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace nt::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;
  uint64_t total_memory = 0;
  int multiprocessors = 0;
};

bool compiled();
// Devices visible to the CUDA runtime. Never throws: with no driver or no GPU it returns
// an empty list and explains why in *status ("no CUDA device: ...").
std::vector<DeviceInfo> devices(std::string* status);
// out = a + b on device 0 (copies in and out): the flavor's verified trivial kernel path.
// Throws NT_CUDA on a runtime failure, NT_UNSUPPORTED in a CPU build.
void add_f32(const float* a, const float* b, float* out, size_t n);

}  // namespace nt::cuda
