// CUDA flavor: device enumeration and the trivial add kernel. The runtime is linked
// statically, so the addon loads on machines with no driver; every call reports failure
// as a status or NT_CUDA error instead of aborting.
#include <cuda_runtime.h>
#include <string>
#include <vector>
#include "cuda.h"
#include "../core/error.h"

namespace nt::cuda {
namespace {

std::string describe(cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + std::to_string(static_cast<int>(e)) + "): " + cudaGetErrorString(e);
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    fail(ErrorCode::Cuda, "[cuda] ", what, ": ", describe(e));
  }
}

__global__ void add_f32_kernel(const float* a, const float* b, float* out, size_t n) {
  const size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = a[i] + b[i];
}

struct DeviceBuffer {
  float* ptr = nullptr;
  ~DeviceBuffer() { if (ptr) cudaFree(ptr); }
};

}  // namespace

bool compiled() { return true; }

std::vector<DeviceInfo> devices(std::string* status) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    if (status) *status = "no CUDA device: " + (e == cudaSuccess ? std::string("0 devices") : describe(e));
    return {};
  }
  std::vector<DeviceInfo> out;
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) { cudaGetLastError(); continue; }
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.total_memory = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    out.push_back(d);
  }
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  if (status) *status = std::to_string(out.size()) + " device(s); runtime " + std::to_string(runtime) + ", driver " + std::to_string(driver);
  return out;
}

void add_f32(const float* a, const float* b, float* out, size_t n) {
  if (n == 0) return;
  const size_t bytes = n * sizeof(float);
  DeviceBuffer da, db, dout;
  check(cudaMalloc(&da.ptr, bytes), "cudaMalloc");
  check(cudaMalloc(&db.ptr, bytes), "cudaMalloc");
  check(cudaMalloc(&dout.ptr, bytes), "cudaMalloc");
  check(cudaMemcpy(da.ptr, a, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  check(cudaMemcpy(db.ptr, b, bytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
  const unsigned blocks = static_cast<unsigned>((n + 255) / 256);
  add_f32_kernel<<<blocks, 256>>>(da.ptr, db.ptr, dout.ptr, n);
  check(cudaGetLastError(), "add_f32_kernel launch");
  check(cudaMemcpy(out, dout.ptr, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
}

}  // namespace nt::cuda
