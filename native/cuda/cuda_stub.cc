// CPU flavor: the CUDA surface exists and says it was not built.
#include "cuda.h"
#include "../core/error.h"

namespace nt::cuda {

bool compiled() { return false; }

std::vector<DeviceInfo> devices(std::string* status) {
  if (status) *status = "not built with CUDA";
  return {};
}

void add_f32(const float*, const float*, float*, size_t) {
  fail(ErrorCode::Unsupported, "[cuda.add] this is the CPU flavor of ntensor: not built with CUDA");
}

}  // namespace nt::cuda
