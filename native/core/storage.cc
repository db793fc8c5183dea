#include "storage.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "error.h"
#include "page_advice.h"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define NT_HAVE_MMAP 1
#endif

namespace nt {
namespace {

// From this size on, memory comes from mmap: munmap gives it back to the OS at once, and the
// huge-page advice applies (heap chunks of this size would be mmapped by malloc anyway).
constexpr uint64_t kAnonymousFrom = uint64_t{4} << 20;
constexpr size_t kAlign = 64;

std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::unordered_map<const void*, StorageBlock*>& registry() {
  static auto* r = new std::unordered_map<const void*, StorageBlock*>();  // leaked: no exit-order issues
  return *r;
}
StorageStats& stats() {
  static StorageStats s;
  return s;
}

void enter(StorageBlock* b) {
  std::lock_guard<std::mutex> lk(registry_mutex());
  registry()[b->data] = b;
  (b->kind == StorageBlock::Kind::Mapped ? stats().mapped_bytes : stats().owned_bytes) += b->bytes;
  ++stats().blocks;
}

#ifdef NT_HAVE_MMAP
// Drops the pages wholly inside a released view from this process (they count in RSS while
// mapped, and the mapping lives on while other views of the file do): a model compressed layer
// by layer, or one whose linears were swapped for quantized ones, gives back the 16-bit pages it
// no longer reads. Pages shared with a neighbouring view are kept; private (written) pages of
// the view itself are discarded with it, which is what releasing it means.
void release_mapped_pages(void* data, uint64_t bytes) {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) & ~(page - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}
#endif

void free_memory(StorageBlock* b) {
  {
    std::lock_guard<std::mutex> lk(registry_mutex());
    auto it = registry().find(b->data);
    if (it != registry().end() && it->second == b) registry().erase(it);
    (b->kind == StorageBlock::Kind::Mapped ? stats().mapped_bytes : stats().owned_bytes) -= b->bytes;
    --stats().blocks;
  }
  switch (b->kind) {
    case StorageBlock::Kind::Heap: std::free(b->data); break;
    case StorageBlock::Kind::Anonymous:
#ifdef NT_HAVE_MMAP
      munmap(b->data, b->bytes);
#endif
      break;
    case StorageBlock::Kind::Mapped:
#ifdef NT_HAVE_MMAP
      release_mapped_pages(b->data, b->bytes);
#endif
      b->mapping.reset();
      break;
  }
  b->freed = true;
}

// Frees the memory once nothing can reach it; deletes the record once the finalizer ran too.
void settle(StorageBlock* b) {
  if (!b->freed && b->js_released && b->holds == 0) free_memory(b);
  if (b->freed && b->finalized) delete b;
}

}  // namespace

FileMapping::FileMapping(const std::string& path) {
#ifdef NT_HAVE_MMAP
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::IO, path, ": cannot open (", std::strerror(errno), ")");
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::IO, path, ": not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    // private + writable: a tensor written in place gets copy-on-write pages, the file never changes
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    const int err = errno;
    ::close(fd);
    if (p == MAP_FAILED) fail(ErrorCode::IO, path, ": cannot map ", size_, " bytes (", std::strerror(err), ")");
    base_ = p;
  } else {
    ::close(fd);
  }
#else
  fail(ErrorCode::Unsupported, path, ": file mapping is not available on this platform");
#endif
}

FileMapping::~FileMapping() {
#ifdef NT_HAVE_MMAP
  if (base_) munmap(base_, size_);
#endif
}

void storage_configure_heap() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kAnonymousFrom));
#endif
}

bool storage_trim_heap() {
#if defined(__GLIBC__)
  return malloc_trim(0) != 0;
#else
  return false;
#endif
}

StorageBlock* storage_allocate(uint64_t bytes) {
  NT_CHECK(bytes > 0, Internal, "[storage] zero-byte native allocation");
  auto* b = new StorageBlock();
  b->bytes = bytes;
#ifdef NT_HAVE_MMAP
  if (bytes >= kAnonymousFrom) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      delete b;
      fail(ErrorCode::OOM, "[storage] could not map ", bytes, " bytes: ", std::strerror(errno));
    }
    advise_huge_pages(p, bytes);  // fresh pages are zero
    b->data = p;
    b->kind = StorageBlock::Kind::Anonymous;
    enter(b);
    return b;
  }
#endif
  const uint64_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  void* p = std::aligned_alloc(kAlign, rounded);
  if (!p) {
    delete b;
    fail(ErrorCode::OOM, "[storage] could not allocate ", bytes, " bytes");
  }
  std::memset(p, 0, rounded);
  b->data = p;
  b->kind = StorageBlock::Kind::Heap;
  enter(b);
  return b;
}

StorageBlock* storage_map_view(const std::shared_ptr<FileMapping>& mapping, uint64_t offset, uint64_t bytes) {
  NT_CHECK(bytes > 0 && offset <= mapping->size() && bytes <= mapping->size() - offset, IO, "[storage] view [", offset,
           ", +", bytes, ") is outside the mapped file of ", mapping->size(), " bytes");
  auto* b = new StorageBlock();
  b->data = mapping->data() + offset;
  b->bytes = bytes;
  b->kind = StorageBlock::Kind::Mapped;
  b->mapping = mapping;
  enter(b);
  return b;
}

StorageBlock* storage_find(const void* data) {
  std::lock_guard<std::mutex> lk(registry_mutex());
  auto it = registry().find(data);
  return it == registry().end() ? nullptr : it->second;
}

void storage_hold(StorageBlock* b) { ++b->holds; }

void storage_drop(StorageBlock* b) {
  --b->holds;
  settle(b);
}

void storage_release_from_js(StorageBlock* b) {
  b->js_released = true;
  settle(b);
}

void storage_finalize(StorageBlock* b) {
  b->js_released = true;
  b->finalized = true;
  settle(b);
}

StorageStats storage_stats() {
  std::lock_guard<std::mutex> lk(registry_mutex());
  return stats();
}

}  // namespace nt
