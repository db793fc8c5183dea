#include "npy.h"

#include <algorithm>
#include <cstring>

#include "../core/error.h"
#include "safetensors.h"  // shape_text, checked_numel

namespace nt::io {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;

// A strict reader of the Python literal subset numpy writes: a dict of str keys whose
// values are str, True/False or a tuple of non-negative ints. Errors are NT_IO with the
// byte position inside the dict text.
class DictReader {
 public:
  DictReader(const char* s, size_t n, size_t base) : s_(s), n_(n), base_(base) {}

  [[noreturn]] void fail_at(size_t p, const std::string& what) const {
    fail(ErrorCode::IO, "header dict at byte ", base_ + p, ": ", what);
  }
  void ws() {
    while (p_ < n_ && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }
  bool at(char c) {
    ws();
    return p_ < n_ && s_[p_] == c;
  }
  void expect(char c, const char* what) {
    if (!at(c)) fail_at(p_, std::string("expected ") + what);
    ++p_;
  }
  std::string string_literal() {
    ws();
    if (p_ >= n_ || (s_[p_] != '\'' && s_[p_] != '"')) fail_at(p_, "expected a quoted string");
    const char q = s_[p_++];
    const size_t start = p_;
    while (p_ < n_ && s_[p_] != q) {
      if (s_[p_] == '\\') fail_at(p_, "escapes are not supported in header strings");
      if (s_[p_] == '\n') fail_at(p_, "unterminated string");
      ++p_;
    }
    if (p_ >= n_) fail_at(start - 1, "unterminated string");
    return std::string(s_ + start, s_ + p_++);
  }
  bool boolean() {
    ws();
    if (n_ - p_ >= 4 && std::memcmp(s_ + p_, "True", 4) == 0) { p_ += 4; return true; }
    if (n_ - p_ >= 5 && std::memcmp(s_ + p_, "False", 5) == 0) { p_ += 5; return false; }
    fail_at(p_, "expected True or False");
  }
  std::vector<uint64_t> tuple() {
    std::vector<uint64_t> dims;
    expect('(', "'(' starting the shape tuple");
    bool trailing_comma = false;
    while (!at(')')) {
      if (dims.size() == kNpyMaxRank) fail_at(p_, "shape has more than " + std::to_string(kNpyMaxRank) + " dimensions");
      dims.push_back(integer());
      trailing_comma = at(',');
      if (trailing_comma) ++p_;
      else if (!at(')')) fail_at(p_, "expected ',' or ')' in the shape tuple");
    }
    if (dims.size() == 1 && !trailing_comma) fail_at(p_, "shape (n) is not a tuple; 1-D shapes are written (n,)");
    ++p_;
    return dims;
  }
  uint64_t integer() {
    ws();
    const size_t start = p_;
    if (p_ < n_ && s_[p_] == '-') fail_at(p_, "shape dimensions must be non-negative");
    while (p_ < n_ && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    if (p_ == start) fail_at(p_, "expected an integer in the shape tuple");
    if (s_[start] == '0' && p_ - start > 1) fail_at(start, "leading zero in a shape dimension");
    if (p_ - start > 16) fail_at(start, "shape dimension exceeds 2^53");
    uint64_t v = 0;
    for (size_t i = start; i < p_; ++i) v = v * 10 + static_cast<uint64_t>(s_[i] - '0');
    if (v > (1ull << 53)) fail_at(start, "shape dimension exceeds 2^53");
    if (p_ < n_ && s_[p_] == 'L') ++p_;  // Python 2 longs, as old numpy wrote them
    return v;
  }
  size_t pos() const { return p_; }
  bool done() {
    ws();
    return p_ == n_;
  }

 private:
  const char* s_;
  size_t n_;
  size_t base_;
  size_t p_ = 0;
};

[[noreturn]] void unsupported_descr(const std::string& descr, const char* why) {
  fail(ErrorCode::Unsupported, "dtype '", descr, "' (", why,
       ") is not supported; ntensor loads b1 i1 u1 i2 u2 i4 u4 i8 u8 f2 f4 f8");
}

// '<f4' -> (F32, swap?). Unsupported-but-valid numpy types are NT_UNSUPPORTED by name.
void parse_descr(const std::string& descr, NpyHeader* h) {
  const bool little = host_little_endian();
  auto unsupported = [&](const char* why) { unsupported_descr(descr, why); };
  if (descr.size() < 2 || std::string("<>=|").find(descr[0]) == std::string::npos) unsupported("not of the form '<f4'");
  const char order = descr[0], kind = descr[1];
  const std::string size = descr.substr(2);
  if (size.find_first_not_of("0123456789") != std::string::npos) unsupported("not of the form '<f4'");
  struct Map { char kind; const char* size; StoredType type; };
  static const Map kMap[] = {
      {'b', "1", StoredType::BOOL}, {'i', "1", StoredType::I8},   {'u', "1", StoredType::U8},
      {'i', "2", StoredType::I16},  {'u', "2", StoredType::U16},  {'i', "4", StoredType::I32},
      {'u', "4", StoredType::U32},  {'i', "8", StoredType::I64},  {'u', "8", StoredType::U64},
      {'f', "2", StoredType::F16},  {'f', "4", StoredType::F32},  {'f', "8", StoredType::F64},
  };
  for (const Map& m : kMap) {
    if (m.kind == kind && size == m.size) {
      h->type = m.type;
      const bool stored_little = order == '<' || ((order == '=' || order == '|') && little);
      h->swap = stored_bits(m.type) > 8 && stored_little != little;
      return;
    }
  }
  switch (kind) {
    case 'c': unsupported_descr(descr, "complex");
    case 'f': unsupported_descr(descr, "float of this width");
    case 'U': case 'S': case 'a': unsupported_descr(descr, "string");
    case 'O': unsupported_descr(descr, "Python object");
    case 'V': unsupported_descr(descr, "void/structured");
    case 'M': case 'm': unsupported_descr(descr, "datetime");
    default: unsupported_descr(descr, "unknown kind");
  }
}

}  // namespace

uint64_t npy_data_offset(const uint8_t* first, size_t len, uint64_t file_bytes) {
  NT_CHECK(len == 0 || std::memcmp(first, kMagic, std::min(len, kMagicLen)) == 0, IO,
           "not a .npy file (bad magic; expected \\x93NUMPY)");
  NT_CHECK(file_bytes >= 10 && len >= 10, IO, "file is ", file_bytes, " bytes, too short for a .npy header");
  const int major = first[6], minor = first[7];
  NT_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, IO, "unsupported .npy format version ", major,
           ".", minor, " (expected 1.0, 2.0 or 3.0)");
  uint64_t preamble = 10, header_len = first[8] | (static_cast<uint64_t>(first[9]) << 8);
  if (major >= 2) {
    NT_CHECK(file_bytes >= 12 && len >= 12, IO, "file is ", file_bytes, " bytes, too short for a .npy ", major,
             ".0 header");
    preamble = 12;
    header_len |= (static_cast<uint64_t>(first[10]) << 16) | (static_cast<uint64_t>(first[11]) << 24);
  }
  NT_CHECK(header_len <= kNpyMaxHeader, IO, "header length ", header_len, " exceeds the limit of ", kNpyMaxHeader,
           " bytes");
  NT_CHECK(preamble + header_len <= file_bytes, IO, "header length ", header_len, " exceeds the file (",
           file_bytes, " bytes)");
  return preamble + header_len;
}

NpyHeader parse_npy_header(const uint8_t* prefix, size_t prefix_len, uint64_t file_bytes) {
  const uint64_t data_offset = npy_data_offset(prefix, prefix_len, file_bytes);
  NT_CHECK(prefix_len >= data_offset, Internal, "parse_npy_header needs the whole header");
  NpyHeader h;
  h.major = prefix[6];
  h.minor = prefix[7];
  h.data_offset = data_offset;
  const size_t base = h.major == 1 ? 10 : 12;
  const char* text = reinterpret_cast<const char*>(prefix + base);
  const size_t text_len = static_cast<size_t>(data_offset - base);
  for (size_t i = 0; i < text_len; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    NT_CHECK(c >= 0x20 ? c < 0x7f : (c == '\n' || c == '\t' || c == '\r'), IO, "header dict at byte ", base + i,
             ": unexpected byte ", static_cast<int>(c));
  }

  DictReader r(text, text_len, base);
  if (!r.at('{')) r.fail_at(r.pos(), "the header must be a dict literal starting with '{'");
  r.expect('{', "'{'");
  bool have_descr = false, have_order = false, have_shape = false;
  while (!r.at('}')) {
    const size_t key_pos = r.pos();
    const std::string key = r.string_literal();
    r.expect(':', "':' after a dict key");
    if (key == "descr") {
      if (have_descr) r.fail_at(key_pos, "duplicate key 'descr'");
      have_descr = true;
      if (r.at('[')) fail(ErrorCode::Unsupported, "structured dtypes (a list descr) are not supported");
      h.descr = r.string_literal();
    } else if (key == "fortran_order") {
      if (have_order) r.fail_at(key_pos, "duplicate key 'fortran_order'");
      have_order = true;
      h.fortran_order = r.boolean();
    } else if (key == "shape") {
      if (have_shape) r.fail_at(key_pos, "duplicate key 'shape'");
      have_shape = true;
      h.shape = r.tuple();
    } else {
      r.fail_at(key_pos, "unexpected key '" + key + "' (expected descr, fortran_order, shape)");
    }
    if (r.at(',')) r.expect(',', "','");
    else if (!r.at('}')) r.fail_at(r.pos(), "expected ',' or '}' after a dict value");
  }
  r.expect('}', "'}'");
  if (!r.done()) r.fail_at(r.pos(), "unexpected text after the dict");
  NT_CHECK(have_descr, IO, "header dict is missing 'descr'");
  NT_CHECK(have_order, IO, "header dict is missing 'fortran_order'");
  NT_CHECK(have_shape, IO, "header dict is missing 'shape'");
  parse_descr(h.descr, &h);

  uint64_t n = 0;
  NT_CHECK(checked_numel(h.shape, &n) && !__builtin_mul_overflow(n, static_cast<uint64_t>(stored_bits(h.type) / 8), &h.data_bytes),
           IO, "shape ", shape_text(h.shape), " overflows 64-bit size arithmetic");
  const uint64_t have = file_bytes - data_offset;
  NT_CHECK(have >= h.data_bytes, IO, "truncated: shape ", shape_text(h.shape), " of ", h.descr, " needs ",
           h.data_bytes, " data bytes but the file has ", have);
  NT_CHECK(have == h.data_bytes, IO, "the file has ", have - h.data_bytes, " bytes after the data (shape ",
           shape_text(h.shape), " of ", h.descr, " needs ", h.data_bytes, ")");
  return h;
}

NpyHeader parse_npy_buffer(const uint8_t* file, size_t len) {
  const uint64_t offset = npy_data_offset(file, len, len);
  return parse_npy_header(file, static_cast<size_t>(offset), len);
}

std::string build_npy_header(StoredType type, const std::vector<uint64_t>& shape) {
  const char order = host_little_endian() ? '<' : '>';
  std::string descr;
  switch (type) {
    case StoredType::BOOL: descr = "|b1"; break;
    case StoredType::I8: descr = "|i1"; break;
    case StoredType::U8: descr = "|u1"; break;
    case StoredType::I16: descr = std::string(1, order) + "i2"; break;
    case StoredType::U16: descr = std::string(1, order) + "u2"; break;
    case StoredType::I32: descr = std::string(1, order) + "i4"; break;
    case StoredType::U32: descr = std::string(1, order) + "u4"; break;
    case StoredType::I64: descr = std::string(1, order) + "i8"; break;
    case StoredType::U64: descr = std::string(1, order) + "u8"; break;
    case StoredType::F16: descr = std::string(1, order) + "f2"; break;
    case StoredType::F32: descr = std::string(1, order) + "f4"; break;
    case StoredType::F64: descr = std::string(1, order) + "f8"; break;
    default: fail(ErrorCode::Unsupported, "dtype ", stored_name(type), " has no .npy equivalent");
  }
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += (i ? ", " : "") + std::to_string(shape[i]);
  dict += shape.size() == 1 ? ",), }" : "), }";
  // numpy pads with spaces and ends with '\n' so the data is 64-byte aligned.
  size_t preamble = 10;
  size_t total = preamble + dict.size() + 1;
  if (total + (64 - total % 64) % 64 - preamble > 65535) {
    preamble = 12;
    total = preamble + dict.size() + 1;
  }
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  const uint64_t len = dict.size();
  std::string out(kMagic, kMagicLen);
  out += static_cast<char>(preamble == 10 ? 1 : 2);
  out += '\0';
  for (size_t i = 0; i < preamble - 8; ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  return out + dict;
}

}  // namespace nt::io
