// Plain file access with 64-bit offsets. Reads are exact: a short read (the file is shorter
// than a header promised, or shrank while being read) is NT_IO, never partial data. Writes
// go to a temporary file next to the target that replaces it only on commit(), so a
// failed or interrupted save never leaves a half-written file under the target's name.
// On Linux the temporary file is unnamed (O_TMPFILE) until commit: a process killed while
// writing leaves nothing behind; it gets a name (<target>.tmp-<pid>-<n>) only between its
// fsync and the rename over the target.
//
// Fault injection (tests; compiled in always, inert unless the variable is set): the
// environment variable NTENSOR_FAULT, read once per output file when it is opened, holds
// comma-separated rules `<op>:<error>[:after=N][:file=SUBSTRING]`:
//   op     open (creating the temporary file), write (each write(2) call), fsync, rename
//   error  ENOSPC, EIO, EDQUOT, EFBIG, EROFS, EACCES, EPERM, EXDEV; or `short` (write only:
//          the call writes half of what it was asked, which the writer must continue)
//   after  write only: the first N write calls of the file succeed, every later one fails
//          (a disk that fills up stays full); default 0
//   file   the rule applies only to targets whose path contains SUBSTRING
// e.g. NTENSOR_FAULT=write:ENOSPC:after=3 fails the 4th write of every saved file. A rule
// that does not parse is NT_VALUE, so a typo cannot pass a test silently. lib/io/common.ts
// applies the same rules to the JSON files and folder commits written from TypeScript.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
  void commit();  // flush to disk, close, rename over the target, flush the folder

  struct Fault {
    int op = 0;      // FaultOp
    int error = 0;   // errno value; 0 with short_write
    bool short_write = false;
    uint64_t after = 0;
    std::string file;
  };

 private:
  void close_quietly();
  const Fault* fault(int op) const;
  std::string path_, temp_;
  int fd_ = -1;
  void* handle_ = nullptr;
  bool committed_ = false;
  bool unnamed_ = false;  // O_TMPFILE: temp_ does not exist until commit() links it
  uint64_t writes_ = 0;
  std::vector<Fault> faults_;
};

// The rules of an NTENSOR_FAULT value (see above); NT_VALUE when one does not parse.
std::vector<AtomicOutputFile::Fault> parse_fault_rules(const std::string& spec);

// NT_IO unless path is non-empty and free of NUL bytes (a NUL would silently cut it).
void check_path(const std::string& path);

}  // namespace nt::io
