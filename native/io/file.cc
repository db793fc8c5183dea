#include "file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
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

namespace {

enum FaultOp { kFaultOpen = 1, kFaultWrite, kFaultFsync, kFaultRename };

struct NamedErrno {
  const char* name;
  int value;
};
const NamedErrno kFaultErrors[] = {
    {"ENOSPC", ENOSPC}, {"EIO", EIO}, {"EFBIG", EFBIG}, {"EROFS", EROFS}, {"EACCES", EACCES}, {"EPERM", EPERM},
    {"EXDEV", EXDEV},
#ifdef EDQUOT
    {"EDQUOT", EDQUOT},
#endif
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t from = 0;
  for (;;) {
    const size_t at = s.find(sep, from);
    out.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return out;
    from = at + 1;
  }
}

// The directory holding `path` ("." for a bare name), for O_TMPFILE and the folder fsync.
std::string parent_dir(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

}  // namespace

std::vector<AtomicOutputFile::Fault> parse_fault_rules(const std::string& spec) {
  std::vector<AtomicOutputFile::Fault> out;
  for (const std::string& rule : split(spec, ',')) {
    if (rule.empty()) continue;
    const std::vector<std::string> parts = split(rule, ':');
    auto bad = [&](const std::string& why) {
      fail(ErrorCode::Value, "NTENSOR_FAULT rule '", rule, "': ", why,
           " (expected <open|write|fsync|rename>:<ENOSPC|EIO|...|short>[:after=N][:file=SUBSTRING])");
    };
    if (parts.size() < 2) bad("too few fields");
    AtomicOutputFile::Fault f;
    const std::string& op = parts[0];
    f.op = op == "open" ? kFaultOpen : op == "write" ? kFaultWrite : op == "fsync" ? kFaultFsync : op == "rename" ? kFaultRename : 0;
    if (!f.op) bad("unknown operation '" + op + "'");
    if (parts[1] == "short") {
      if (f.op != kFaultWrite) bad("'short' applies to write only");
      f.short_write = true;
    } else {
      for (const NamedErrno& e : kFaultErrors)
        if (parts[1] == e.name) f.error = e.value;
      if (!f.error) bad("unknown error '" + parts[1] + "'");
    }
    for (size_t i = 2; i < parts.size(); ++i) {
      const std::string& kv = parts[i];
      if (kv.rfind("after=", 0) == 0) {
        const std::string n = kv.substr(6);
        if (n.empty() || n.size() > 18 || n.find_first_not_of("0123456789") != std::string::npos) bad("after= needs a count");
        if (f.op != kFaultWrite) bad("after= applies to write only");
        f.after = std::stoull(n);
      } else if (kv.rfind("file=", 0) == 0) {
        f.file = kv.substr(5);
      } else {
        bad("unknown field '" + kv + "'");
      }
    }
    out.push_back(f);
  }
  return out;
}

const AtomicOutputFile::Fault* AtomicOutputFile::fault(int op) const {
  for (const Fault& f : faults_) {
    if (f.op != op || (!f.file.empty() && path_.find(f.file) == std::string::npos)) continue;
    if (op == kFaultWrite && writes_ < f.after) continue;
    return &f;
  }
  return nullptr;
}

AtomicOutputFile::AtomicOutputFile(const std::string& path) : path_(path) {
  check_path(path);
  // One getenv per saved file: free when unset, and a test can change it between saves.
  if (const char* spec = std::getenv("NTENSOR_FAULT")) faults_ = parse_fault_rules(spec);
  static std::atomic<unsigned> counter{0};
  temp_ = path + ".tmp-" + std::to_string(process_id()) + "-" + std::to_string(counter++);
  if (const Fault* f = fault(kFaultOpen)) fail(ErrorCode::IO, "cannot create ", temp_, ": ", errno_text(f->error), " (injected)");
#if NT_IO_POSIX
#ifdef O_TMPFILE
  // Unnamed until commit: a kill -9 while writing leaves no file behind. Filesystems without
  // O_TMPFILE answer EOPNOTSUPP / EISDIR / EINVAL; then a named temporary file is used.
  fd_ = ::open(parent_dir(path).c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
  if (fd_ >= 0) {
    unnamed_ = true;
    return;
  }
#endif
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
  const bool named = !unnamed_;  // an unnamed file gets its name only in commit()
  close_quietly();
  if (!named) return;
  std::error_code ec;
  std::filesystem::remove(temp_, ec);  // best effort; the error being reported is the original one
}

void AtomicOutputFile::write(const void* data, uint64_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t done = 0;
  while (done < n) {
    uint64_t want = std::min(n - done, kMaxIo);
    const Fault* f = faults_.empty() ? nullptr : fault(kFaultWrite);
    ++writes_;
    if (f && f->error) fail(ErrorCode::IO, "writing ", temp_, " failed: ", errno_text(f->error), " (injected)");
    if (f && f->short_write) want = (want + 1) / 2;
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
  if (const Fault* f = fault(kFaultFsync)) fail(ErrorCode::IO, "flushing ", temp_, " failed: ", errno_text(f->error), " (injected)");
#if NT_IO_POSIX
  // fsync before rename: after a crash the target is either the old file or the new one.
  if (::fsync(fd_) != 0) fail(ErrorCode::IO, "flushing ", temp_, " failed: ", errno_text(errno));
  if (unnamed_) {
    // linkat through /proc needs no privilege (AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
    const std::string self = "/proc/self/fd/" + std::to_string(fd_);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp_.c_str(), AT_SYMLINK_FOLLOW) != 0)
      fail(ErrorCode::IO, "cannot name the written file ", temp_, ": ", errno_text(errno));
    unnamed_ = false;  // from here on the destructor removes temp_ on failure
  }
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) fail(ErrorCode::IO, "closing ", temp_, " failed: ", errno_text(errno));
#else
  std::FILE* f = static_cast<std::FILE*>(handle_);
  handle_ = nullptr;
  if (std::fflush(f) != 0 || std::fclose(f) != 0) fail(ErrorCode::IO, "closing ", temp_, " failed: ", errno_text(errno));
#endif
  if (const Fault* f = fault(kFaultRename))
    fail(ErrorCode::IO, "cannot replace the target with ", temp_, ": ", errno_text(f->error), " (injected)");
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);  // replaces an existing target (MoveFileEx on Windows)
  if (ec) fail(ErrorCode::IO, "cannot replace the target with ", temp_, ": ", ec.message());
  committed_ = true;
#if NT_IO_POSIX
  // The rename itself reaches the disk only with its folder: without this a power cut could
  // bring back the old file after the save returned. Best effort (some filesystems refuse).
  const int dir = ::open(parent_dir(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
#endif
}

}  // namespace nt::io
