#include "file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "../core/error.h"

#ifdef _WIN32
#include <process.h>
#define NT_IO_POSIX 0
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#define NT_IO_POSIX 1
#endif

namespace nt::io {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Large requests are split: Linux caps one read/write at ~2 GiB.
constexpr uint64_t kMaxIo = 1ull << 30;

int process_id() {
#ifdef _WIN32
  return _getpid();
#else
  return static_cast<int>(getpid());
#endif
}

}  // namespace

void check_path(const std::string& path) {
  NT_CHECK(!path.empty(), IO, "path is empty");
  NT_CHECK(path.find('\0') == std::string::npos, IO, "path contains a NUL byte");
}

InputFile::InputFile(const std::string& path) {
  check_path(path);
#if NT_IO_POSIX
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) fail(ErrorCode::IO, "cannot open: ", errno_text(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    fail(ErrorCode::IO, "cannot stat: ", errno_text(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    fail(ErrorCode::IO, S_ISDIR(st.st_mode) ? "is a directory, not a file" : "is not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
#else
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(ErrorCode::IO, "is a directory, not a file");
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(ErrorCode::IO, "cannot open: ", errno_text(errno));
  handle_ = f;
  _fseeki64(f, 0, SEEK_END);
  size_ = static_cast<uint64_t>(_ftelli64(f));
#endif
}

InputFile::~InputFile() {
#if NT_IO_POSIX
  if (fd_ >= 0) ::close(fd_);
#else
  if (handle_) std::fclose(static_cast<std::FILE*>(handle_));
#endif
}

void InputFile::read_at(uint64_t offset, void* dst, uint64_t n, const std::string& what) const {
  uint8_t* out = static_cast<uint8_t*>(dst);
  uint64_t done = 0;
  while (done < n) {
    const uint64_t want = std::min(n - done, kMaxIo);
#if NT_IO_POSIX
    const ssize_t got = ::pread(fd_, out + done, static_cast<size_t>(want), static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      fail(ErrorCode::IO, "reading ", what, " failed: ", errno_text(errno));
    }
#else
    std::FILE* f = static_cast<std::FILE*>(handle_);
    if (_fseeki64(f, static_cast<long long>(offset + done), SEEK_SET) != 0)
      fail(ErrorCode::IO, "seeking to ", what, " failed: ", errno_text(errno));
    const size_t got = std::fread(out + done, 1, static_cast<size_t>(want), f);
    if (got == 0 && std::ferror(f)) fail(ErrorCode::IO, "reading ", what, " failed: ", errno_text(errno));
#endif
    if (got == 0)
      fail(ErrorCode::IO, "truncated: ", what, " needs bytes [", offset, ", ", offset + n, ") but the file ends at byte ",
           offset + done);
    done += static_cast<uint64_t>(got);
  }
}

AtomicOutputFile::AtomicOutputFile(const std::string& path) : path_(path) {
  check_path(path);
  static std::atomic<unsigned> counter{0};
  temp_ = path + ".tmp-" + std::to_string(process_id()) + "-" + std::to_string(counter++);
#if NT_IO_POSIX
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) fail(ErrorCode::IO, "cannot create ", temp_, ": ", errno_text(errno));
#else
  std::FILE* f = std::fopen(temp_.c_str(), "wbx");
  if (!f) fail(ErrorCode::IO, "cannot create ", temp_, ": ", errno_text(errno));
  handle_ = f;
#endif
}

void AtomicOutputFile::close_quietly() {
#if NT_IO_POSIX
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
#else
  if (handle_) std::fclose(static_cast<std::FILE*>(handle_));
  handle_ = nullptr;
#endif
}

AtomicOutputFile::~AtomicOutputFile() {
  if (committed_) return;
  close_quietly();
  std::error_code ec;
  std::filesystem::remove(temp_, ec);  // best effort; the error being reported is the original one
}

void AtomicOutputFile::write(const void* data, uint64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t done = 0;
  while (done < n) {
    const uint64_t want = std::min(n - done, kMaxIo);
#if NT_IO_POSIX
    const ssize_t put = ::write(fd_, p + done, static_cast<size_t>(want));
    if (put < 0) {
      if (errno == EINTR) continue;
      fail(ErrorCode::IO, "writing ", temp_, " failed: ", errno_text(errno));
    }
#else
    const size_t put = std::fwrite(p + done, 1, static_cast<size_t>(want), static_cast<std::FILE*>(handle_));
    if (put == 0) fail(ErrorCode::IO, "writing ", temp_, " failed: ", errno_text(errno));
#endif
    done += static_cast<uint64_t>(put);
  }
}

void AtomicOutputFile::commit() {
#if NT_IO_POSIX
  // fsync before rename: after a crash the target is either the old file or the new one.
  if (::fsync(fd_) != 0) fail(ErrorCode::IO, "flushing ", temp_, " failed: ", errno_text(errno));
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail(ErrorCode::IO, "closing ", temp_, " failed: ", errno_text(errno));
#else
  std::FILE* f = static_cast<std::FILE*>(handle_);
  handle_ = nullptr;
  if (std::fflush(f) != 0 || std::fclose(f) != 0) fail(ErrorCode::IO, "closing ", temp_, " failed: ", errno_text(errno));
#endif
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);  // replaces an existing target (MoveFileEx on Windows)
  if (ec) fail(ErrorCode::IO, "cannot replace the target with ", temp_, ": ", ec.message());
  committed_ = true;
}

}  // namespace nt::io
