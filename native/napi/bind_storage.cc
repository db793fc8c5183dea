// Native-owned storage (native/core/storage.h) as external ArrayBuffers: lib/tensor.ts
// allocates large storages here and releases them on dispose(), which also detaches the
// ArrayBuffer so a stale TypedArray reads as empty instead of reaching freed memory.
#include <memory>
#include <string>

#include "../core/storage.h"
#include "op.h"

namespace {

void finalize_block(napi_env env, void* /*data*/, void* hint) {
  auto* b = static_cast<nt::StorageBlock*>(hint);
  if (!b->js_released && b->kind != nt::StorageBlock::Kind::Mapped) {
    int64_t ignored;
    napi_adjust_external_memory(env, -static_cast<int64_t>(b->bytes), &ignored);
  }
  nt::storage_finalize(b);
}

// Node lends external memory through its Buffer machinery, whose limit is
// buffer.constants.MAX_LENGTH (4 GiB on Node 20-22): lib/tensor.ts keeps larger storages in
// JS memory and never asks for them here. A larger request is refused before Node sees it,
// because when Node refuses one it runs the finalizer itself (freeing the block) and leaves
// an exception pending.
constexpr uint64_t kMaxExternalBytes = uint64_t{1} << 32;

Napi::ArrayBuffer wrap_block(Napi::Env env, nt::StorageBlock* b) {
  if (b->bytes > kMaxExternalBytes) {
    nt::storage_finalize(b);  // nothing references it yet: free now
    NT_CHECK(false, OOM, "[storage] ", b->bytes, " bytes exceed the largest external buffer Node lends (", kMaxExternalBytes, ")");
  }
  napi_value ab;
  const napi_status st = napi_create_external_arraybuffer(env, b->data, b->bytes, finalize_block, b, &ab);
  // On failure Node may already have run (or queued) the finalizer: the block is not ours to
  // touch any more (at worst it leaks; it is never freed twice).
  NT_CHECK(st == napi_ok, OOM, "[storage] could not create an external ArrayBuffer of ", b->bytes, " bytes");
  if (b->kind != nt::StorageBlock::Kind::Mapped) {
    int64_t ignored;
    napi_adjust_external_memory(env, static_cast<int64_t>(b->bytes), &ignored);  // GC pressure for the safety net
  }
  return Napi::ArrayBuffer(env, ab);
}

double arg_bytes(const Napi::CallbackInfo& info, size_t i, const char* op) {
  NT_CHECK(info.Length() > i && info[i].IsNumber(), Value, "[", op, "] argument ", i, " must be a byte count");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  NT_CHECK(d >= 1 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<uint64_t>(d)), Value, "[", op,
           "] byte count must be a positive safe integer, got ", d);
  return d;
}

}  // namespace

// storageAllocate(bytes) -> ArrayBuffer of zeroed native memory (NT_OOM when it cannot be had).
NT_NAPI_FUNCTION(storageAllocate) {
  const double bytes = arg_bytes(info, 0, "storageAllocate");
  return wrap_block(info.Env(), nt::storage_allocate(static_cast<uint64_t>(bytes)));
}

// storageMapFile(path, offsets: number[], lengths: number[]) -> ArrayBuffer[]: zero-copy views of
// one copy-on-write mapping of the file; it is unmapped when the last view is released.
NT_NAPI_FUNCTION(storageMapFile) {
  NT_CHECK(info.Length() >= 3 && info[0].IsString() && info[1].IsArray() && info[2].IsArray(), Value,
           "[storageMapFile] expected (path, offsets[], lengths[])");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Napi::Array offsets = info[1].As<Napi::Array>(), lengths = info[2].As<Napi::Array>();
  NT_CHECK(offsets.Length() == lengths.Length(), Value, "[storageMapFile] offsets and lengths differ in length");
  auto mapping = std::make_shared<nt::FileMapping>(path);
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env, offsets.Length());
  for (uint32_t i = 0; i < offsets.Length(); ++i) {
    const Napi::Value o = offsets.Get(i), n = lengths.Get(i);
    NT_CHECK(o.IsNumber() && n.IsNumber(), Value, "[storageMapFile] offsets and lengths must be numbers");
    const double off = o.As<Napi::Number>().DoubleValue(), len = n.As<Napi::Number>().DoubleValue();
    NT_CHECK(off >= 0 && len >= 1 && off == static_cast<double>(static_cast<uint64_t>(off)) &&
                 len == static_cast<double>(static_cast<uint64_t>(len)),
             Value, "[storageMapFile] view ", i, " needs an integer offset >= 0 and length >= 1");
    out.Set(i, wrap_block(env, nt::storage_map_view(mapping, static_cast<uint64_t>(off), static_cast<uint64_t>(len))));
  }
  return out;
}

// storageRelease(arrayBuffer) -> whether it was native storage. Detaches it and frees the memory
// (at once, or when the last in-flight async op using it settles).
NT_NAPI_FUNCTION(storageRelease) {
  NT_CHECK(info.Length() >= 1 && info[0].IsArrayBuffer(), Value, "[storageRelease] expected an ArrayBuffer");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  void* data = ab.Data();
  nt::StorageBlock* b = data ? nt::storage_find(data) : nullptr;
  if (!b || b->js_released) return Napi::Boolean::New(info.Env(), false);
  NT_CHECK(napi_detach_arraybuffer(info.Env(), ab) == napi_ok, Internal, "[storageRelease] could not detach the buffer");
  if (b->kind != nt::StorageBlock::Kind::Mapped) {
    int64_t ignored;
    napi_adjust_external_memory(info.Env(), -static_cast<int64_t>(b->bytes), &ignored);
  }
  nt::storage_release_from_js(b);
  return Napi::Boolean::New(info.Env(), true);
}

// storageTrimHeap() -> whether free heap memory went back to the OS (glibc's malloc_trim).
NT_NAPI_FUNCTION(storageTrimHeap) {
  return Napi::Boolean::New(info.Env(), nt::storage_trim_heap());
}

// storageStats() -> { ownedBytes, mappedBytes, blocks }: native memory JavaScript can still reach
// or an in-flight op still uses.
NT_NAPI_FUNCTION(storageStats) {
  const nt::StorageStats s = nt::storage_stats();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ownedBytes", static_cast<double>(s.owned_bytes));
  o.Set("mappedBytes", static_cast<double>(s.mapped_bytes));
  o.Set("blocks", static_cast<double>(s.blocks));
  return o;
}
