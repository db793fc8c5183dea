// Plain file access with 64-bit offsets. Reads are exact: a short read (the file is shorter
// than a header promised, or shrank while being read) is NT_IO, never partial data. Writes
// go to a temporary file next to the target that replaces it only on commit(), so a
// failed or interrupted save never leaves a half-written file under the target's name.
#pragma once
#include <cstdint>
#include <string>

namespace nt::io {

class InputFile {
 public:
  explicit InputFile(const std::string& path);  // NT_IO: missing, a directory, unreadable
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  uint64_t size() const { return size_; }
  // Exactly n bytes at offset into dst; `what` names the data in the error message.
  void read_at(uint64_t offset, void* dst, uint64_t n, const std::string& what) const;

 private:
  int fd_ = -1;
  void* handle_ = nullptr;  // FILE* where POSIX pread is unavailable
  uint64_t size_ = 0;
};

class AtomicOutputFile {
 public:
  explicit AtomicOutputFile(const std::string& path);  // creates the temporary file
  ~AtomicOutputFile();                                  // removes it unless committed
  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;

  void write(const void* data, uint64_t n);
  void commit();  // flush to disk, close, rename over the target

 private:
  void close_quietly();
  std::string path_, temp_;
  int fd_ = -1;
  void* handle_ = nullptr;
  bool committed_ = false;
};

// NT_IO unless path is non-empty and free of NUL bytes (a NUL would silently cut it).
void check_path(const std::string& path);

}  // namespace nt::io
