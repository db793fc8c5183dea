// Module entry: exports every op and function registered with NT_NAPI_OP / NT_NAPI_FUNCTION.
#include <napi.h>
#include "../core/storage.h"
#include "op.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  nt::storage_configure_heap();
  nt::napi::export_registered(env, exports);
  return exports;
}

NODE_API_MODULE(ntensor, Init)
