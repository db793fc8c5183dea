// File-format parsers on in-memory buffers (valid and hostile), element conversion, and
// the file layer (atomic writes, strided views, truncation), without Node.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

#include "check.h"
#include "core/error.h"
#include "core/half.h"
#include "io/element.h"
#include "io/json.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/tensor_file.h"

using namespace nt::io;
using nt::ErrorCode;

namespace {

// Runs f; true when it throws nt::Error with `code` and a message containing `needle`.
template <typename F>
bool throws(F&& f, ErrorCode code, const std::string& needle) {
  try {
    f();
  } catch (const nt::Error& e) {
    const bool ok = e.code() == code && std::string(e.what()).find(needle) != std::string::npos;
    if (!ok) std::printf("    got %s: %s (wanted '%s')\n", nt::error_code_name(e.code()), e.what(), needle.c_str());
    return ok;
  } catch (const std::exception& e) {
    std::printf("    foreign exception: %s\n", e.what());
    return false;
  }
  std::printf("    no error (wanted '%s')\n", needle.c_str());
  return false;
}

JsonValue json(const std::string& s) { return parse_json(s.data(), s.size(), "doc"); }

// A safetensors buffer: length field + header text (unpadded) + `data` zero bytes.
std::vector<uint8_t> st_file(const std::string& header, size_t data) {
  std::vector<uint8_t> f(8 + header.size() + data, 0);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) f[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(f.data() + 8, header.data(), header.size());
  return f;
}

SafetensorsHeader parse_st(const std::string& header, size_t data) {
  const std::vector<uint8_t> f = st_file(header, data);
  uint64_t start = 0;
  return parse_safetensors_buffer(f.data(), f.size(), &start);
}

std::vector<uint8_t> npy_file(const std::string& dict, size_t data, int major = 1) {
  std::string h = "\x93NUMPY";
  h += static_cast<char>(major);
  h += '\0';
  const size_t len = dict.size();
  h += static_cast<char>(len & 0xff);
  h += static_cast<char>((len >> 8) & 0xff);
  if (major >= 2) {
    h += static_cast<char>((len >> 16) & 0xff);
    h += static_cast<char>((len >> 24) & 0xff);
  }
  h += dict;
  std::vector<uint8_t> f(h.begin(), h.end());
  f.resize(f.size() + data, 0);
  return f;
}

NpyHeader parse_npy(const std::string& dict, size_t data, int major = 1) {
  const std::vector<uint8_t> f = npy_file(dict, data, major);
  return parse_npy_buffer(f.data(), f.size());
}

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("ntensor-test-io-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

nt::TensorView view(void* data, uint64_t bytes, nt::DType d, std::vector<int64_t> shape, std::vector<int64_t> strides,
                    int64_t offset = 0) {
  nt::TensorView v;
  v.data = data;
  v.storage_bytes = bytes;
  v.dtype = d;
  v.ndim = static_cast<int>(shape.size());
  for (int i = 0; i < v.ndim; ++i) {
    v.shape[i] = shape[i];
    v.strides[i] = strides[i];
  }
  v.offset = offset;
  v.check_bounds("test view");
  return v;
}

}  // namespace

// ---------------------------------------------------------------- JSON

TEST_CASE(json_parses_nested_values_escapes_and_numbers) {
  const JsonValue v = json(" {\"a\": [1, -2.5e3, true, false, null], \"b\": {\"c\": \"x\\n\\u00e9\\ud83d\\ude00\\/\"}} ");
  CHECK(v.kind == JsonKind::Object && v.members.size() == 2);
  const JsonValue* a = v.find("a");
  CHECK(a && a->items.size() == 5 && a->items[0].number == 1 && a->items[1].number == -2500);
  CHECK(a && a->items[2].boolean && !a->items[3].boolean && a->items[4].kind == JsonKind::Null);
  const JsonValue* c = v.find("b")->find("c");
  CHECK(c && c->text == "x\n\xc3\xa9\xf0\x9f\x98\x80/");
  CHECK(json("\"caf\xc3\xa9\"").text == "caf\xc3\xa9");  // raw UTF-8 passes through
  CHECK(json("[]").items.empty() && json("{}").members.empty());
}

TEST_CASE(json_rejects_malformed_documents_with_positions) {
  auto bad = [](const std::string& s, const std::string& needle) {
    return throws([&] { json(s); }, ErrorCode::IO, needle);
  };
  CHECK(bad("", "unexpected end of input"));
  CHECK(bad("[1,]", "trailing comma"));
  CHECK(bad("{\"a\":1,}", "trailing comma"));
  CHECK(bad("[01]", "leading zero"));
  CHECK(bad("[1.]", "digit after '.'"));
  CHECK(bad("[1e]", "exponent"));
  CHECK(bad("[-]", "expected a digit"));
  CHECK(bad("{\"a\":1,\"a\":2}", "duplicate key \"a\""));
  CHECK(bad("{\"a\" 1}", "expected ':'"));
  CHECK(bad("{1:2}", "string object key"));
  CHECK(bad("[1] x", "after the end of the document"));
  CHECK(bad("\"a\tb\"", "control character"));
  CHECK(bad("\"\\x\"", "invalid escape"));
  CHECK(bad("\"\\ud800\"", "high surrogate"));
  CHECK(bad("\"\\udc00\"", "lone low surrogate"));
  CHECK(bad("\"\\u12g4\"", "hex digit"));
  CHECK(bad("\"\xc0\xaf\"", "UTF-8"));        // overlong '/'
  CHECK(bad("\"\xed\xa0\x80\"", "UTF-8"));    // encoded surrogate
  CHECK(bad("\"\xf4\x90\x80\x80\"", "UTF-8")); // above U+10FFFF
  CHECK(bad("\"abc", "unterminated string"));
  CHECK(bad("tru", "invalid literal"));
  CHECK(bad("nul", "invalid literal"));
  CHECK(bad("[1 2]", "expected ',' or ']'"));
  CHECK(bad("{\"a\":1 \"b\":2}", "expected ',' or '}'"));
  CHECK(bad("[1,2", "unexpected end"));
  CHECK(bad("@", "expected a value"));
  CHECK(!throws([] { json("[1,2,3]"); }, ErrorCode::IO, ""));  // the helper itself can fail
}

TEST_CASE(json_depth_limit_stops_deep_nesting_without_recursion_blowup) {
  const std::string deep(10000, '[');
  CHECK(throws([&] { json(deep); }, ErrorCode::IO, "nesting deeper than 64"));
  std::string obj;
  for (int i = 0; i < 100000; ++i) obj += "{\"a\":";
  CHECK(throws([&] { json(obj); }, ErrorCode::IO, "nesting deeper than 64"));
  std::string ok(64, '[');
  ok += std::string(64, ']');
  CHECK(json(ok).kind == JsonKind::Array);
  std::string over(65, '[');
  over += std::string(65, ']');
  CHECK(throws([&] { json(over); }, ErrorCode::IO, "nesting deeper"));
}

TEST_CASE(json_size_limit_and_exact_integers) {
  const std::string big(100, ' ');
  CHECK(throws([&] { parse_json(big.data(), big.size(), "doc", {50, 64}); }, ErrorCode::IO, "limit is 50"));
  auto index = [](const std::string& s) {
    JsonReader r(s.data(), s.size(), "doc");
    return r.read_index("dim");
  };
  CHECK(index("0") == 0 && index("123") == 123);
  CHECK(index("9007199254740992") == 9007199254740992ull);
  CHECK(throws([&] { index("9007199254740993"); }, ErrorCode::IO, "exceeds 2^53"));
  CHECK(throws([&] { index("123456789012345678901234567890"); }, ErrorCode::IO, "exceeds 2^53"));
  CHECK(throws([&] { index("-1"); }, ErrorCode::IO, "non-negative integer, got -1"));
  CHECK(throws([&] { index("1.5"); }, ErrorCode::IO, "got 1.5"));
  CHECK(throws([&] { index("1e3"); }, ErrorCode::IO, "got 1e3"));
  CHECK(throws([&] { index("\"3\""); }, ErrorCode::IO, "got a string"));
}

TEST_CASE(json_writer_escapes_round_trip) {
  std::string out;
  const std::string s = std::string("q\"b\\n\n\x01\x1f t\xc3\xa9\0z", 14);  // embedded NUL too
  json_append_string(out, s);
  CHECK(out == "\"q\\\"b\\\\n\\n\\u0001\\u001f t\xc3\xa9\\u0000z\"");
  CHECK(json(out).text == s);
}

// ---------------------------------------------------------------- safetensors

TEST_CASE(safetensors_writer_layout_parses_back) {
  std::vector<SafetensorsOutEntry> entries = {
      {"b.half", StoredType::F16, {3}},
      {"a.byte", StoredType::U8, {5}},
      {"z.f64", StoredType::F64, {2, 1}},
      {"scalar", StoredType::F32, {}},
      {"empty", StoredType::I32, {0, 4}},
  };
  const SafetensorsLayout L = plan_safetensors(entries, {{"format", "pt"}, {"note", "a \"quoted\" value"}});
  CHECK(L.prefix.size() % 8 == 0);
  CHECK(L.data_bytes == 6 + 5 + 16 + 4);
  // data order: widest element first, then by name
  CHECK(L.order.size() == 5 && entries[L.order[0]].name == "z.f64" && entries[L.order[4]].name == "a.byte");
  for (size_t i = 0; i < entries.size(); ++i) CHECK(L.begin[i] % (stored_bits(entries[i].type) / 8) == 0);
  std::vector<uint8_t> file(L.prefix.begin(), L.prefix.end());
  file.resize(file.size() + L.data_bytes, 0);
  uint64_t start = 0;
  const SafetensorsHeader h = parse_safetensors_buffer(file.data(), file.size(), &start);
  CHECK(start == L.prefix.size());
  CHECK(h.tensors.size() == 5 && h.metadata.size() == 2 && h.metadata[1].second == "a \"quoted\" value");
  for (const SafetensorsEntry& e : h.tensors) {
    size_t i = 0;
    while (entries[i].name != e.name) ++i;
    CHECK(e.type == entries[i].type && e.shape == entries[i].shape && e.begin == L.begin[i]);
    CHECK(e.end - e.begin == L.bytes[i]);
  }
  CHECK(std::string(L.prefix.data() + 8, 17) == "{\"__metadata__\":{");
}

TEST_CASE(safetensors_writer_rejects_bad_names) {
  CHECK(throws([] { plan_safetensors({{"", StoredType::F32, {1}}}, {}); }, ErrorCode::Value, "non-empty"));
  CHECK(throws([] { plan_safetensors({{"__metadata__", StoredType::F32, {1}}}, {}); }, ErrorCode::Value, "reserved"));
  CHECK(throws([] { plan_safetensors({{"a", StoredType::F32, {1}}, {"a", StoredType::F32, {2}}}, {}); },
               ErrorCode::Value, "appears twice"));
  CHECK(throws([] { plan_safetensors({}, {{"k", "1"}, {"k", "2"}}); }, ErrorCode::Value, "metadata key 'k'"));
  const SafetensorsLayout empty = plan_safetensors({}, {});
  CHECK(empty.prefix.size() == 16 && empty.prefix.substr(8) == "{}      ");
}

TEST_CASE(safetensors_header_length_field_is_validated) {
  uint8_t buf[8] = {0};
  CHECK(throws([&] { safetensors_header_length(buf, 7); }, ErrorCode::IO, "file is 7 bytes"));
  CHECK(throws([&] { safetensors_header_length(buf, 0); }, ErrorCode::IO, "file is 0 bytes"));
  buf[0] = 100;
  CHECK(throws([&] { safetensors_header_length(buf, 50); }, ErrorCode::IO, "exceeds the 42 bytes"));
  std::memset(buf, 0xff, 8);
  CHECK(throws([&] { safetensors_header_length(buf, 1000); }, ErrorCode::IO, "exceeds the limit of 100000000"));
  const uint64_t n = 100000001;
  for (int i = 0; i < 8; ++i) buf[i] = static_cast<uint8_t>(n >> (8 * i));
  CHECK(throws([&] { safetensors_header_length(buf, 1ull << 40); }, ErrorCode::IO, "limit"));
}

TEST_CASE(safetensors_parses_valid_headers) {
  const SafetensorsHeader h = parse_st(
      "{\"b\":{\"shape\":[2],\"dtype\":\"F32\",\"data_offsets\":[8,16]},"
      "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
      "\"e\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[16,16]},"
      "\"__metadata__\":{\"k\":\"v\"}}   ",
      16);
  CHECK(h.tensors.size() == 3 && h.tensors[0].name == "a" && h.tensors[1].name == "b" && h.tensors[2].name == "e");
  CHECK(h.tensors[0].type == StoredType::BF16 && h.tensors[0].shape == std::vector<uint64_t>({2, 2}));
  CHECK(h.metadata.size() == 1 && h.metadata[0].first == "k");
  CHECK(parse_st("{}", 0).tensors.empty());
  CHECK(parse_st("{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8).tensors[0].shape.empty());
  CHECK(parse_st("{\"f8\":{\"dtype\":\"F8_E4M3\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3).tensors[0].type ==
        StoredType::F8_E4M3);
  CHECK(parse_st("{\"f4\":{\"dtype\":\"F4\",\"shape\":[4],\"data_offsets\":[0,2]}}", 2).tensors.size() == 1);
}

TEST_CASE(safetensors_rejects_hostile_headers) {
  auto bad = [](const std::string& header, size_t data, const std::string& needle) {
    return throws([&] { parse_st(header, data); }, ErrorCode::IO, needle);
  };
  const std::string ok_entry = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
  CHECK(bad("{\"x\":" + ok_entry, 8, "unexpected end"));
  CHECK(bad("[]", 0, "must be a JSON object, got an array"));
  CHECK(bad("\"x\"", 0, "must be a JSON object"));
  CHECK(bad("{\"x\":5}", 0, "tensor 'x' must be an object"));
  CHECK(bad("{\"x\":{\"dtype\":5,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype must be a string, got a number"));
  CHECK(bad("{\"x\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype \"F33\""));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, "shape must be an array"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative integer, got -2"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "got 2.0"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, "got a string"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, "exceeds 2^53"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
            "overflows"));
  {
    std::string dims = "1";
    for (int i = 0; i < 64; ++i) dims += ",1";
    CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[" + dims + "],\"data_offsets\":[0,4]}}", 4, "more than 64"));
  }
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "exactly 2 entries, got 1"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]}}", 8, "exactly 2 entries, got more"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":{\"a\":0}}}", 8, "data_offsets must be an array"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "are reversed"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 8, "span 12 bytes"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", 8,
            "tensor 'x' data_offsets [0, 12] exceed the data section of 8 bytes"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
            12, "overlap tensor 'x'"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "bytes [0, 4) belong to no tensor"));
  CHECK(bad("{\"x\":" + ok_entry + "}", 9, "has 9 bytes but the tensors end at byte 8"));
  CHECK(bad("{\"x\":" + ok_entry + ",\"x\":" + ok_entry + "}", 8, "duplicate tensor name \"x\""));
  CHECK(bad("{\"\":" + ok_entry + "}", 8, "tensor name is empty"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "duplicate key \"dtype\""));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"extra\":1}}", 8, "unexpected key \"extra\""));
  CHECK(bad("{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "missing \"dtype\""));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\""));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\""));
  CHECK(bad("{\"__metadata__\":[]}", 0, "__metadata__ must be an object of strings"));
  CHECK(bad("{\"__metadata__\":{\"a\":1}}", 0, "value of \"a\" must be a string, got a number"));
  CHECK(bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key \"__metadata__\""));
  CHECK(bad("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "duplicate __metadata__ key \"a\""));
  CHECK(bad("{\"x\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "not a whole number of bytes"));
  CHECK(bad(std::string(10000, '['), 0, "must be a JSON object"));
  CHECK(bad("{\"x\":" + std::string(10000, '['), 0, "tensor 'x' must be an object"));
  CHECK(bad("{\"__metadata__\":{\"a\":" + std::string(10000, '{'), 0, "must be a string"));
  CHECK(bad("{\"x\":{\"dtype\":\"F32\",\"shape\":[" + std::string(10000, '['), 0, "non-negative integer, got an array"));
}

// ---------------------------------------------------------------- npy

TEST_CASE(npy_writer_header_parses_back_aligned) {
  for (const auto& shape : std::vector<std::vector<uint64_t>>{{}, {5}, {3, 4}, {2, 0, 7}}) {
    const std::string h = build_npy_header(StoredType::F32, shape);
    CHECK(h.size() % 64 == 0 && h[6] == 1 && h.back() == '\n');
    uint64_t n = 1;
    for (uint64_t d : shape) n *= d;
    std::vector<uint8_t> f(h.begin(), h.end());
    f.resize(f.size() + n * 4);
    const NpyHeader p = parse_npy_buffer(f.data(), f.size());
    CHECK(p.shape == shape && p.type == StoredType::F32 && !p.swap && !p.fortran_order && p.data_offset == h.size());
  }
  CHECK(build_npy_header(StoredType::U8, {5}).find("'descr': '|u1', 'fortran_order': False, 'shape': (5,), }") != std::string::npos);
  CHECK(throws([] { build_npy_header(StoredType::BF16, {1}); }, ErrorCode::Unsupported, "BF16"));
}

TEST_CASE(npy_parses_versions_orders_and_dtypes) {
  NpyHeader h = parse_npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n", 48);
  CHECK(h.type == StoredType::F64 && h.fortran_order && h.shape == std::vector<uint64_t>({2, 3}) && !h.swap);
  const std::string v2 = "{\"shape\": (4,), \"descr\": \">i4\", \"fortran_order\": False}";
  h = parse_npy(v2, 16, 2);
  CHECK(h.major == 2 && h.type == StoredType::I32 && h.swap && h.data_offset == 12 + v2.size());
  h = parse_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (), }", 1, 3);
  CHECK(h.major == 3 && h.type == StoredType::BOOL && h.shape.empty() && !h.swap);
  h = parse_npy("{'descr': '>u1', 'fortran_order': False, 'shape': (3L, 2L), }", 6);
  CHECK(h.type == StoredType::U8 && !h.swap && h.shape == std::vector<uint64_t>({3, 2}));
  h = parse_npy("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 5), }", 0);
  CHECK(h.type == StoredType::F16 && h.data_bytes == 0);
  CHECK(parse_npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,)}", 16).type == StoredType::I64);
}

TEST_CASE(npy_rejects_hostile_files) {
  auto bad = [](const std::string& dict, size_t data, ErrorCode code, const std::string& needle, int major = 1) {
    return throws([&] { parse_npy(dict, data, major); }, code, needle);
  };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  CHECK(bad(ok, 4, ErrorCode::IO, "truncated: shape [2] of <f4 needs 8 data bytes but the file has 4"));
  CHECK(bad(ok, 9, ErrorCode::IO, "1 bytes after the data"));
  CHECK(bad("['descr', '<f4']", 8, ErrorCode::IO, "dict literal"));
  CHECK(bad("{'descr': '<f4', 'shape': (2,), }", 8, ErrorCode::IO, "missing 'fortran_order'"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False}", 8, ErrorCode::IO, "missing 'shape'"));
  CHECK(bad("{'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::IO, "missing 'descr'"));
  CHECK(bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::IO, "duplicate key 'descr'"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8, ErrorCode::IO, "unexpected key 'x'"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", 8, ErrorCode::IO, "True or False"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 8, ErrorCode::IO, "non-negative"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,)}", 8, ErrorCode::IO, "expected ',' or ')'"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}", 8, ErrorCode::IO, "not a tuple"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 8, ErrorCode::IO, "'('"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999,)}", 8, ErrorCode::IO, "exceeds 2^53"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296)}", 8, ErrorCode::IO,
            "overflows"));
  CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", 8, ErrorCode::IO, "after the dict"));
  CHECK(bad("{'descr': '<f4' 'fortran_order': False}", 8, ErrorCode::IO, "expected ',' or '}'"));
  CHECK(bad("{'descr': '<f4\\n', 'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::IO, "escapes"));
  CHECK(bad("{'descr': '\xc3\xa9', 'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::IO, "unexpected byte"));
  CHECK(bad("{'descr': '<c8', 'fortran_order': False, 'shape': (2,)}", 16, ErrorCode::Unsupported, "'<c8' (complex)"));
  CHECK(bad("{'descr': '<f16', 'fortran_order': False, 'shape': (2,)}", 32, ErrorCode::Unsupported, "'<f16'"));
  CHECK(bad("{'descr': '<U5', 'fortran_order': False, 'shape': (2,)}", 40, ErrorCode::Unsupported, "string"));
  CHECK(bad("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", 16, ErrorCode::Unsupported, "'|O'"));
  CHECK(bad("{'descr': 'float32', 'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::Unsupported, "'float32'"));
  CHECK(bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", 8, ErrorCode::Unsupported, "structured"));
  {
    std::string dims = "1";
    for (int i = 0; i < 64; ++i) dims += ", 1";
    CHECK(bad("{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + ")}", 4, ErrorCode::IO, "more than 64"));
  }
  // preamble
  auto bad_file = [](std::vector<uint8_t> f, const std::string& needle) {
    return throws([&] { parse_npy_buffer(f.data(), f.size()); }, ErrorCode::IO, needle);
  };
  std::vector<uint8_t> f = npy_file(ok, 8);
  std::vector<uint8_t> g = f;
  g[1] = 'X';
  CHECK(bad_file(g, "bad magic"));
  g = f;
  g[6] = 4;
  CHECK(bad_file(g, "version 4.0"));
  g = f;
  g[7] = 1;
  CHECK(bad_file(g, "version 1.1"));
  CHECK(bad_file(std::vector<uint8_t>(), "file is 0 bytes"));
  CHECK(bad_file(std::vector<uint8_t>(f.begin(), f.begin() + 8), "too short"));
  CHECK(bad_file(std::vector<uint8_t>(f.begin(), f.begin() + 30), "exceeds the file"));
  g = f;
  g[8] = 0xff;
  g[9] = 0xff;
  CHECK(bad_file(g, "exceeds the file"));
  std::vector<uint8_t> v2 = npy_file(ok, 8, 2);
  v2[11] = 0x7f;
  CHECK(bad_file(v2, "exceeds the limit"));
}

// ---------------------------------------------------------------- conversion

TEST_CASE(conversions_round_once_and_check_ranges) {
  // 1 + 2^-11 + 2^-40 is just above an f16 tie: correct rounding gives 1 + 2^-10, rounding
  // through f32 first (1 + 2^-11, a tie) would give 1.0.
  const double above_tie = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  uint16_t h = 0;
  convert_elements(&above_tie, StoredType::F64, 1, &h, nt::DType::F16, 0);
  CHECK(h == 0x3c01);
  const double bf_above_tie = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40);
  convert_elements(&bf_above_tie, StoredType::F64, 1, &h, nt::DType::BF16, 0);
  CHECK(h == 0x3f81);
  const double huge = 1e300;
  convert_elements(&huge, StoredType::F64, 1, &h, nt::DType::F16, 0);
  CHECK(h == 0x7c00);

  const int64_t wide[4] = {-5, 2147483647, 0, 7};
  int32_t out[4] = {0};
  convert_elements(wide, StoredType::I64, 4, out, nt::DType::I32, 0);
  CHECK(out[0] == -5 && out[1] == 2147483647 && out[3] == 7);
  const int64_t too_big[2] = {1, 2147483648ll};
  CHECK(throws([&] { convert_elements(too_big, StoredType::I64, 2, out, nt::DType::I32, 10); }, ErrorCode::Value,
               "element 11 = 2147483648 does not fit i32"));
  const uint64_t u64_big = ~0ull;
  CHECK(throws([&] { convert_elements(&u64_big, StoredType::U64, 1, out, nt::DType::I32, 0); }, ErrorCode::Value,
               "does not fit"));
  const uint8_t bools[3] = {0, 1, 7};
  uint8_t b[3];
  convert_elements(bools, StoredType::BOOL, 3, b, nt::DType::U8, 0);
  CHECK(b[0] == 0 && b[1] == 1 && b[2] == 1);
  const float fl[4] = {1.9f, -1.9f, 1e10f, -1e10f};
  int8_t i8[4];
  convert_elements(fl, StoredType::F32, 4, i8, nt::DType::I8, 0);
  CHECK(i8[0] == 1 && i8[1] == -1 && i8[2] == 127 && i8[3] == -128);
  const float nan = std::nanf("");
  CHECK(throws([&] { convert_elements(&nan, StoredType::F32, 1, i8, nt::DType::I8, 3); }, ErrorCode::Value,
               "element 3 is NaN"));
  const uint16_t halves[2] = {0x3c00, 0xc000};
  double d[2];
  convert_elements(halves, StoredType::F16, 2, d, nt::DType::F64, 0);
  CHECK(d[0] == 1.0 && d[1] == -2.0);
  float f[2];
  convert_elements(halves, StoredType::F16, 2, f, nt::DType::F32, 0);
  CHECK(f[0] == 1.0f && f[1] == -2.0f);
  uint16_t be[2] = {0x003c, 0x00c0};
  swap_bytes(be, 2, 2);
  CHECK(be[0] == 0x3c00 && be[1] == 0xc000);
  nt::DType dt;
  CHECK(!stored_default_dtype(StoredType::F8_E4M3, &dt) && !stored_default_dtype(StoredType::C64, &dt));
  CHECK(stored_default_dtype(StoredType::I16, &dt) && dt == nt::DType::I32);
}

// ---------------------------------------------------------------- files

TEST_CASE(files_round_trip_strided_views_and_reject_truncation) {
  const auto dir = temp_dir();
  const std::string path = (dir / "t.safetensors").string();
  // a 3x4 f32 matrix viewed transposed (4x3, strides 1,4) and an f16 row slice
  std::vector<float> m(12);
  for (int i = 0; i < 12; ++i) m[i] = static_cast<float>(i) - 2.5f;
  std::vector<uint16_t> half(6);
  for (int i = 0; i < 6; ++i) half[i] = nt::f32_to_f16(static_cast<float>(i) * 0.5f);
  const nt::TensorView mt = view(m.data(), 48, nt::DType::F32, {4, 3}, {1, 4});
  const nt::TensorView hs = view(half.data(), 12, nt::DType::F16, {2}, {2}, 1);  // elements 1, 3
  write_safetensors_file(path, {{"mt", mt}, {"hs", hs}}, {{"k", "v"}});
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    CHECK(entry.path().filename().string().find(".tmp-") == std::string::npos);

  const SafetensorsFile info = read_safetensors_header_file(path);
  CHECK(info.header.tensors.size() == 2 && info.header.metadata[0].second == "v");
  std::vector<float> got(12, 0.0f);
  std::vector<double> got16(2, 0.0);
  read_safetensors_tensors(path, {{"mt", view(got.data(), 48, nt::DType::F32, {4, 3}, {3, 1})},
                                  {"hs", view(got16.data(), 16, nt::DType::F64, {2}, {1})}});
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) CHECK(got[r * 3 + c] == m[c * 4 + r]);
  CHECK(got16[0] == 0.5 && got16[1] == 1.5);

  CHECK(throws([&] { read_safetensors_tensors(path, {{"nope", view(got.data(), 48, nt::DType::F32, {12}, {1})}}); },
               ErrorCode::IO, "no tensor named 'nope'"));
  CHECK(throws([&] { read_safetensors_tensors(path, {{"mt", view(got.data(), 48, nt::DType::F32, {12}, {1})}}); },
               ErrorCode::Shape, "has shape [4,3] but the output is [12]"));

  // a truncated copy: the last tensor's bytes are missing
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  CHECK(throws([&] { read_safetensors_header_file(path); }, ErrorCode::IO, path + ": tensor '"));
  CHECK(throws([&] { read_safetensors_header_file((dir / "missing").string()); }, ErrorCode::IO, "cannot open"));
  CHECK(throws([&] { read_safetensors_header_file(dir.string()); }, ErrorCode::IO, "is a directory"));

  // a failed save leaves neither the target nor a temp file
  const std::string nodir = (dir / "no-such-dir" / "x.safetensors").string();
  CHECK(throws([&] { write_safetensors_file(nodir, {{"mt", mt}}, {}); }, ErrorCode::IO, "cannot create"));
  CHECK(throws([&] { write_safetensors_file((dir / "dup.safetensors").string(), {{"a", mt}, {"a", mt}}, {}); },
               ErrorCode::Value, "appears twice"));
  CHECK(!std::filesystem::exists(dir / "dup.safetensors"));

  // npy: a strided view written C-order, read back; truncation named
  const std::string npy = (dir / "m.npy").string();
  write_npy_file(npy, mt);
  const NpyFile nf = read_npy_header_file(npy);
  CHECK(nf.header.shape == std::vector<uint64_t>({4, 3}) && nf.header.data_offset % 64 == 0);
  std::fill(got.begin(), got.end(), 0.0f);
  read_npy_file(npy, view(got.data(), 48, nt::DType::F32, {4, 3}, {3, 1}));
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c) CHECK(got[r * 3 + c] == m[c * 4 + r]);
  std::filesystem::resize_file(npy, std::filesystem::file_size(npy) - 1);
  CHECK(throws([&] { read_npy_file(npy, view(got.data(), 48, nt::DType::F32, {4, 3}, {3, 1})); }, ErrorCode::IO,
               "truncated"));
  std::filesystem::remove_all(dir);
}

TEST_CASE(index_files_are_validated) {
  const auto dir = temp_dir();
  auto write = [&](const std::string& text) {
    std::ofstream((dir / "i.json").string(), std::ios::binary) << text;
    return (dir / "i.json").string();
  };
  StringPairs m = read_safetensors_index(write("{\"metadata\":{\"total_size\":8},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s2.safetensors\"}}"));
  CHECK(m.size() == 2 && m[1].first == "b" && m[1].second == "s2.safetensors");
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":{\"a\":\"../x.safetensors\"}}")); }, ErrorCode::IO,
               "plain file name"));
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":{\"a\":\"/etc/passwd\"}}")); }, ErrorCode::IO,
               "plain file name"));
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":{\"a\":\"..\"}}")); }, ErrorCode::IO, "plain file name"));
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":{\"a\":1}}")); }, ErrorCode::IO, "must be a string"));
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}")); }, ErrorCode::IO,
               "duplicate key"));
  CHECK(throws([&] { read_safetensors_index(write("{\"metadata\":{}}")); }, ErrorCode::IO, "no \"weight_map\""));
  CHECK(throws([&] { read_safetensors_index(write("[]")); }, ErrorCode::IO, "must be a JSON object"));
  CHECK(throws([&] { read_safetensors_index(write("{\"weight_map\":" + std::string(5000, '[') + "}")); }, ErrorCode::IO,
               "nesting deeper"));
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------- mutation fuzzing

// Random byte edits, truncations and splices of valid files: every outcome is a parse or an
// nt::Error (run under ASan/UBSan to also prove no out-of-bounds access).
TEST_CASE(mutated_files_parse_or_fail_cleanly) {
  const SafetensorsLayout L = plan_safetensors(
      {{"a", StoredType::F32, {2, 3}}, {"b.bias", StoredType::BF16, {5}}, {"c", StoredType::I64, {}}}, {{"format", "pt"}});
  std::vector<uint8_t> st(L.prefix.begin(), L.prefix.end());
  st.resize(st.size() + L.data_bytes, 0x41);
  const std::string nh = build_npy_header(StoredType::F32, {3, 2});
  std::vector<uint8_t> npy(nh.begin(), nh.end());
  npy.resize(npy.size() + 24, 0x3f);
  std::mt19937 rng(1234);
  const char tokens[] = "[]{}\",:0123456789-.eE \\u'()TrueFalse<>|";
  int parsed = 0, failed = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::vector<uint8_t> f = (iter & 1) ? npy : st;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !f.empty(); ++k) {
      const size_t at = rng() % f.size();
      switch (rng() % 5) {
        case 0: f[at] = static_cast<uint8_t>(rng()); break;
        case 1: f[at] = static_cast<uint8_t>(tokens[rng() % (sizeof(tokens) - 1)]); break;
        case 2: f.resize(at); break;
        case 3: f.insert(f.begin() + at, static_cast<uint8_t>(tokens[rng() % (sizeof(tokens) - 1)])); break;
        case 4: f.erase(f.begin() + at); break;
      }
    }
    try {
      if (iter & 1) parse_npy_buffer(f.data(), f.size());
      else {
        uint64_t start = 0;
        parse_safetensors_buffer(f.data(), f.size(), &start);
      }
      ++parsed;
    } catch (const nt::Error& e) {
      CHECK(e.code() == ErrorCode::IO || e.code() == ErrorCode::Unsupported);
      ++failed;
    }
  }
  CHECK(parsed > 100 && failed > 1000);  // the edits reach both outcomes
}

TEST_MAIN()
