// Native-owned tensor storage: large buffers allocated here (or mapped from a file) and lent to
// JavaScript as external ArrayBuffers, so dispose() can return memory at once instead of
// waiting for V8's garbage collector.
//
// A Block is one such buffer. It is released (memory freed, mapping reference dropped) when
// JavaScript has let go of it — dispose() called `release_from_js`, or the ArrayBuffer was
// collected — AND no asynchronous op still uses it (each in-flight op holds it). The Block
// record itself lives until both the release and the ArrayBuffer's finalizer have happened,
// because the finalizer's hint points at it. All calls come from the JS thread (ops take and
// drop holds when they are queued and settled there), so no locking is needed beyond the
// registry's, which workers never touch.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace nt {

// A read-only file mapped copy-on-write (writes through a tensor stay private to the process,
// the file never changes). Unmapped when the last view's Block lets go of it.
class FileMapping {
 public:
  // NT_IO if the file cannot be opened or mapped; an empty file maps to no memory.
  explicit FileMapping(const std::string& path);
  ~FileMapping();
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  uint8_t* data() const { return static_cast<uint8_t*>(base_); }
  uint64_t size() const { return size_; }

 private:
  void* base_ = nullptr;
  uint64_t size_ = 0;
};

struct StorageBlock {
  enum class Kind { Heap, Anonymous, Mapped };
  void* data = nullptr;
  uint64_t bytes = 0;
  Kind kind = Kind::Heap;
  std::shared_ptr<FileMapping> mapping;  // Mapped only
  int holds = 0;                          // in-flight async ops using it
  bool js_released = false;               // dispose() or the finalizer
  bool finalized = false;                 // the ArrayBuffer was collected
  bool freed = false;
};

struct StorageStats {
  uint64_t owned_bytes = 0;   // live Heap/Anonymous blocks
  uint64_t mapped_bytes = 0;  // live views of file mappings
  int64_t blocks = 0;
};

// Zeroed, 64-byte aligned memory; large sizes come straight from mmap so that releasing them
// returns the pages to the OS. Throws NT_OOM.
StorageBlock* storage_allocate(uint64_t bytes);
// A view of [offset, offset + bytes) of a mapping (bounds checked: NT_IO).
StorageBlock* storage_map_view(const std::shared_ptr<FileMapping>& mapping, uint64_t offset, uint64_t bytes);

// The block whose memory starts at data, or null (memory JavaScript allocated itself).
StorageBlock* storage_find(const void* data);
void storage_hold(StorageBlock* b);
void storage_drop(StorageBlock* b);
// dispose(): from now on JavaScript cannot reach the memory (the caller detaches the buffer).
void storage_release_from_js(StorageBlock* b);
// The ArrayBuffer's finalizer.
void storage_finalize(StorageBlock* b);

StorageStats storage_stats();

// Gives the allocator's free heap memory back to the OS (glibc: malloc_trim); returns whether
// the allocator could. Long runs that free mid-sized blocks on several threads (a checkpoint
// compressed layer by layer) otherwise keep them as RSS: glibc's adaptive mmap threshold moves
// blocks of up to 32 MiB onto per-thread heaps that it rarely trims.
bool storage_trim_heap();

// Pins glibc's mmap threshold at the storage's own 4 MiB (called once when the addon loads).
// Left adaptive, it rises to 32 MiB after the first large free, and from then on the kernels'
// mid-sized temporaries (eigh, GPTQ and packing buffers of 4-32 MiB) land on per-thread heaps
// that fragment: a 1.1B checkpoint compressed layer by layer peaked at 3.3 GiB where the
// pinned threshold peaks at 2.1 GiB. Smaller blocks stay on the heap (no page faults per call).
void storage_configure_heap();

}  // namespace nt
