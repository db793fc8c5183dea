// A small strict JSON parser (RFC 8259) for untrusted file headers. Two layers:
// JsonReader, a pull parser that lets a format parser (safetensors) consume values as it
// validates them, so memory stays proportional to what it keeps; and parse_json(), a DOM
// for small documents (shard index files). Both enforce an input size limit and a nesting
// depth limit (so recursion is bounded and no input can overflow the stack), reject
// duplicate object keys, invalid UTF-8, lone surrogates, leading zeros, trailing commas and
// trailing garbage. Every error is nt::Error NT_IO "<context> at byte N: <what>".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace nt::io {

struct JsonLimits {
  size_t max_bytes = 100'000'000;
  int max_depth = 64;
};

// Integers that must be exact (shapes, offsets) are at most 2^53, so they survive a trip
// through a JS number.
constexpr uint64_t kJsonMaxExactInteger = 9007199254740992ull;  // 2^53

struct JsonValue;

enum class JsonKind { Object, Array, String, Number, Bool, Null };
const char* json_kind_name(JsonKind k);

class JsonReader {
 public:
  JsonReader(const char* data, size_t len, std::string context, JsonLimits limits = {});

  JsonKind peek();  // kind of the next value (skips whitespace); error at end of input

  // Objects: begin_object(); while (next_key(&key)) { read the value }.
  void begin_object();
  bool next_key(std::string* key, size_t* key_pos = nullptr);  // false at '}'
  // Arrays: begin_array(); while (next_item()) { read the value }.
  void begin_array();
  bool next_item();  // false at ']'

  std::string read_string();
  double read_number(std::string* raw = nullptr);
  // A number token that is a plain non-negative integer <= 2^53 (no sign, fraction or
  // exponent); anything else is an error naming `what`.
  uint64_t read_index(const std::string& what);
  bool read_bool();
  void read_null();
  void skip_value();  // any value, fully validated (bounded recursion)
  void read_value(JsonValue* out);  // any value into a DOM node (null: skip)

  void finish();  // only whitespace may remain

  size_t pos() const { return pos_; }
  [[noreturn]] void fail_at(size_t pos, const std::string& what) const;

 private:
  void skip_ws();
  char next_char(const char* expected);
  void push(char kind);
  size_t scan_number();  // validates the grammar, returns the token end
  uint32_t read_hex4();

  const char* data_;
  size_t len_;
  size_t pos_ = 0;
  std::string context_;
  JsonLimits limits_;
  std::vector<char> stack_;    // '{' or '[' per open container
  std::vector<bool> first_;    // true until the container's first member/item was read
};

struct JsonValue {
  JsonKind kind = JsonKind::Null;
  bool boolean = false;
  double number = 0;
  std::string text;  // string value, or a number's literal token
  std::vector<JsonValue> items;
  std::vector<std::pair<std::string, JsonValue>> members;  // in document order, keys unique

  const JsonValue* find(const std::string& key) const;
};

JsonValue parse_json(const char* data, size_t len, const std::string& context, JsonLimits limits = {});

// Appends s as a JSON string literal (quotes, escapes for '"', '\\' and control chars).
void json_append_string(std::string& out, const std::string& s);

}  // namespace nt::io
