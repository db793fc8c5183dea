#include "json.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "../core/error.h"

namespace nt::io {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string printable(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

}  // namespace

const char* json_kind_name(JsonKind k) {
  switch (k) {
    case JsonKind::Object: return "an object";
    case JsonKind::Array: return "an array";
    case JsonKind::String: return "a string";
    case JsonKind::Number: return "a number";
    case JsonKind::Bool: return "a boolean";
    case JsonKind::Null: return "null";
  }
  return "?";
}

JsonReader::JsonReader(const char* data, size_t len, std::string context, JsonLimits limits)
    : data_(data), len_(len), context_(std::move(context)), limits_(limits) {
  if (len_ > limits_.max_bytes)
    fail(ErrorCode::IO, context_, " is ", len_, " bytes; the limit is ", limits_.max_bytes);
}

void JsonReader::fail_at(size_t pos, const std::string& what) const {
  fail(ErrorCode::IO, context_, " at byte ", pos, ": ", what);
}

void JsonReader::skip_ws() {
  while (pos_ < len_ && is_ws(data_[pos_])) ++pos_;
}

char JsonReader::next_char(const char* expected) {
  skip_ws();
  if (pos_ >= len_) fail_at(pos_, std::string("unexpected end of input, expected ") + expected);
  return data_[pos_];
}

JsonKind JsonReader::peek() {
  const char c = next_char("a value");
  switch (c) {
    case '{': return JsonKind::Object;
    case '[': return JsonKind::Array;
    case '"': return JsonKind::String;
    case 't': case 'f': return JsonKind::Bool;
    case 'n': return JsonKind::Null;
    default:
      if (c == '-' || is_digit(c)) return JsonKind::Number;
      fail_at(pos_, "expected a value, got " + printable(c));
  }
}

void JsonReader::push(char kind) {
  if (static_cast<int>(stack_.size()) >= limits_.max_depth)
    fail_at(pos_, "nesting deeper than " + std::to_string(limits_.max_depth) + " levels");
  stack_.push_back(kind);
  first_.push_back(true);
  ++pos_;
}

void JsonReader::begin_object() {
  if (peek() != JsonKind::Object) fail_at(pos_, "expected an object");
  push('{');
}

void JsonReader::begin_array() {
  if (peek() != JsonKind::Array) fail_at(pos_, "expected an array");
  push('[');
}

bool JsonReader::next_key(std::string* key, size_t* key_pos) {
  if (stack_.empty() || stack_.back() != '{') fail(ErrorCode::Internal, "JsonReader::next_key outside an object");
  char c = next_char("'\"' or '}'");
  if (c == '}') {  // closes an empty object or follows a member (a trailing comma is caught below)
    ++pos_;
    stack_.pop_back();
    first_.pop_back();
    return false;
  }
  if (!first_.back()) {
    if (c != ',') fail_at(pos_, "expected ',' or '}' after an object member, got " + printable(c));
    ++pos_;
    c = next_char("an object key");
    if (c == '}') fail_at(pos_, "trailing comma before '}'");
  }
  if (c != '"') fail_at(pos_, "expected a string object key, got " + printable(c));
  if (key_pos) *key_pos = pos_;
  *key = read_string();
  c = next_char("':'");
  if (c != ':') fail_at(pos_, "expected ':' after an object key, got " + printable(c));
  ++pos_;
  first_.back() = false;
  return true;
}

bool JsonReader::next_item() {
  if (stack_.empty() || stack_.back() != '[') fail(ErrorCode::Internal, "JsonReader::next_item outside an array");
  const char c = next_char("a value or ']'");
  if (c == ']') {  // closes an empty array or follows an item (a trailing comma is caught below)
    ++pos_;
    stack_.pop_back();
    first_.pop_back();
    return false;
  }
  if (!first_.back()) {
    if (c != ',') fail_at(pos_, "expected ',' or ']' after an array item, got " + printable(c));
    ++pos_;
    if (next_char("a value") == ']') fail_at(pos_, "trailing comma before ']'");
  }
  first_.back() = false;
  return true;
}

uint32_t JsonReader::read_hex4() {
  if (len_ - pos_ < 4) fail_at(pos_, "truncated \\u escape");
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const char c = data_[pos_ + i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else fail_at(pos_ + i, "invalid hex digit " + printable(c) + " in \\u escape");
  }
  pos_ += 4;
  return v;
}

std::string JsonReader::read_string() {
  if (next_char("a string") != '"') fail_at(pos_, "expected a string, got " + printable(data_[pos_]));
  const size_t start = pos_++;
  std::string out;
  for (;;) {
    if (pos_ >= len_) fail_at(start, "unterminated string");
    const unsigned char c = static_cast<unsigned char>(data_[pos_]);
    if (c == '"') {
      ++pos_;
      return out;
    }
    if (c < 0x20) fail_at(pos_, "unescaped control character " + printable(static_cast<char>(c)) + " in a string");
    if (c == '\\') {
      if (++pos_ >= len_) fail_at(pos_, "unterminated escape");
      const char e = data_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const size_t at = pos_ - 2;
          uint32_t cp = read_hex4();
          if (cp >= 0xdc00 && cp <= 0xdfff) fail_at(at, "lone low surrogate in \\u escape");
          if (cp >= 0xd800 && cp <= 0xdbff) {
            if (len_ - pos_ < 6 || data_[pos_] != '\\' || data_[pos_ + 1] != 'u')
              fail_at(at, "high surrogate not followed by a \\u low surrogate");
            pos_ += 2;
            const uint32_t lo = read_hex4();
            if (lo < 0xdc00 || lo > 0xdfff) fail_at(at, "high surrogate not followed by a low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default: fail_at(pos_ - 1, "invalid escape \\" + std::string(1, e));
      }
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++pos_;
      continue;
    }
    // Multi-byte UTF-8: exact lead/continuation ranges (RFC 3629), so overlong forms,
    // surrogates and code points above U+10FFFF are rejected.
    int extra;
    uint8_t lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) extra = 1;
    else if (c == 0xe0) { extra = 2; lo = 0xa0; }
    else if (c >= 0xe1 && c <= 0xec) extra = 2;
    else if (c == 0xed) { extra = 2; hi = 0x9f; }
    else if (c >= 0xee && c <= 0xef) extra = 2;
    else if (c == 0xf0) { extra = 3; lo = 0x90; }
    else if (c >= 0xf1 && c <= 0xf3) extra = 3;
    else if (c == 0xf4) { extra = 3; hi = 0x8f; }
    else fail_at(pos_, "invalid UTF-8 lead " + printable(static_cast<char>(c)) + " in a string");
    if (len_ - pos_ <= static_cast<size_t>(extra)) fail_at(pos_, "truncated UTF-8 sequence in a string");
    for (int i = 1; i <= extra; ++i) {
      const uint8_t b = static_cast<uint8_t>(data_[pos_ + i]);
      if (b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xbf))
        fail_at(pos_ + i, "invalid UTF-8 continuation in a string");
    }
    out.append(data_ + pos_, extra + 1);
    pos_ += extra + 1;
  }
}

size_t JsonReader::scan_number() {
  size_t p = pos_;
  if (p < len_ && data_[p] == '-') ++p;
  if (p >= len_ || !is_digit(data_[p])) fail_at(p, "invalid number: expected a digit");
  if (data_[p] == '0') {
    ++p;
    if (p < len_ && is_digit(data_[p])) fail_at(pos_, "invalid number: leading zero");
  } else {
    while (p < len_ && is_digit(data_[p])) ++p;
  }
  if (p < len_ && data_[p] == '.') {
    ++p;
    if (p >= len_ || !is_digit(data_[p])) fail_at(p, "invalid number: expected a digit after '.'");
    while (p < len_ && is_digit(data_[p])) ++p;
  }
  if (p < len_ && (data_[p] == 'e' || data_[p] == 'E')) {
    ++p;
    if (p < len_ && (data_[p] == '+' || data_[p] == '-')) ++p;
    if (p >= len_ || !is_digit(data_[p])) fail_at(p, "invalid number: expected a digit in the exponent");
    while (p < len_ && is_digit(data_[p])) ++p;
  }
  return p;
}

double JsonReader::read_number(std::string* raw) {
  if (peek() != JsonKind::Number) fail_at(pos_, "expected a number, got " + printable(data_[pos_]));
  const size_t end = scan_number();
  // strtod needs a terminated copy; tokens are short except for hostile inputs, which the
  // size limit bounds. Node never calls setlocale, so the decimal point is '.'.
  std::string token(data_ + pos_, end - pos_);
  pos_ = end;
  if (raw) *raw = token;
  return std::strtod(token.c_str(), nullptr);
}

uint64_t JsonReader::read_index(const std::string& what) {
  skip_ws();
  const size_t at = pos_;
  if (pos_ >= len_ || (data_[pos_] != '-' && !is_digit(data_[pos_])))
    fail_at(at, what + " must be a non-negative integer, got " +
                    (pos_ < len_ ? json_kind_name(peek()) : std::string("end of input")));
  const size_t end = scan_number();
  const std::string token(data_ + pos_, end - pos_);
  if (token.find_first_not_of("0123456789") != std::string::npos)
    fail_at(at, what + " must be a non-negative integer, got " + token);
  if (token.size() > 16) fail_at(at, what + " " + token + " exceeds 2^53");
  const uint64_t v = std::strtoull(token.c_str(), nullptr, 10);
  if (v > kJsonMaxExactInteger) fail_at(at, what + " " + token + " exceeds 2^53");
  pos_ = end;
  return v;
}

bool JsonReader::read_bool() {
  if (peek() != JsonKind::Bool) fail_at(pos_, "expected true or false");
  if (len_ - pos_ >= 4 && std::memcmp(data_ + pos_, "true", 4) == 0) {
    pos_ += 4;
    return true;
  }
  if (len_ - pos_ >= 5 && std::memcmp(data_ + pos_, "false", 5) == 0) {
    pos_ += 5;
    return false;
  }
  fail_at(pos_, "invalid literal (expected true or false)");
}

void JsonReader::read_null() {
  if (peek() != JsonKind::Null) fail_at(pos_, "expected null");
  if (len_ - pos_ >= 4 && std::memcmp(data_ + pos_, "null", 4) == 0) {
    pos_ += 4;
    return;
  }
  fail_at(pos_, "invalid literal (expected null)");
}



void JsonReader::finish() {
  skip_ws();
  if (pos_ != len_) fail_at(pos_, "unexpected " + printable(data_[pos_]) + " after the end of the document");
}

void JsonReader::skip_value() { read_value(nullptr); }

// Parses one value; builds it into `out` unless null. Recursion depth is bounded by the
// reader's depth limit (push() refuses to go deeper), so no input can exhaust the stack.
void JsonReader::read_value(JsonValue* out) {
  JsonValue scratch;
  JsonValue& v = out ? *out : scratch;
  v.kind = peek();
  switch (v.kind) {
    case JsonKind::Object: {
      begin_object();
      std::string key;
      std::vector<size_t> key_pos;
      std::vector<std::string> keys;
      size_t at = 0;
      while (next_key(&key, &at)) {
        keys.push_back(key);
        key_pos.push_back(at);
        if (out) {
          v.members.emplace_back(std::move(key), JsonValue());
          read_value(&v.members.back().second);
        } else {
          read_value(nullptr);
        }
        key.clear();
      }
      // duplicate keys: sort indices by key, compare neighbours (O(n log n) for big maps)
      std::vector<size_t> order(keys.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return keys[a] < keys[b] || (keys[a] == keys[b] && a < b); });
      for (size_t i = 1; i < order.size(); ++i)
        if (keys[order[i]] == keys[order[i - 1]]) fail_at(key_pos[order[i]], "duplicate key \"" + keys[order[i]] + "\"");
      break;
    }
    case JsonKind::Array:
      begin_array();
      while (next_item()) {
        if (out) {
          v.items.emplace_back();
          read_value(&v.items.back());
        } else {
          read_value(nullptr);
        }
      }
      break;
    case JsonKind::String: v.text = read_string(); break;
    case JsonKind::Number: v.number = read_number(&v.text); break;
    case JsonKind::Bool: v.boolean = read_bool(); break;
    case JsonKind::Null: read_null(); break;
  }
}

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const auto& [k, v] : members)
    if (k == key) return &v;
  return nullptr;
}

JsonValue parse_json(const char* data, size_t len, const std::string& context, JsonLimits limits) {
  JsonReader r(data, len, context, limits);
  JsonValue v;
  r.read_value(&v);
  r.finish();
  return v;
}

void json_append_string(std::string& out, const std::string& s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

}  // namespace nt::io
