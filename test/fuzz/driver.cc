// Standalone fuzz driver for fuzz_parsers.cc, for machines without libFuzzer (clang): replays
// every corpus file, then runs N seeded random mutations of them (byte and bit flips, splices
// of two inputs, inserted/deleted ranges, edits of the length fields, numbers and dictionary
// tokens of the formats). Iteration i uses its own generator seeded from (seed, i), so any
// finding is reproduced by `fuzz_driver --seed S --only i <corpus dirs>`; the input is also
// written to fuzz-finding-<seed>-<i>.bin in the current folder.
//   fuzz_driver [--iterations N] [--seed S] [--only I] [--max-len B] <file or dir>...
#include <sanitizer/common_interface_defs.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/scratch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  size_t below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(next() % n); }
  bool coin(int one_in) { return below(static_cast<size_t>(one_in)) == 0; }
};

// Tokens of the three formats, so mutations reach past the first syntax check.
const char* const kDictionary[] = {
    "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"F16\"", "\"BF16\"", "\"I64\"",
    "\"U64\"", "\"BOOL\"", "\"F8_E4M3\"", "\"F4\"", "\"F6_E2M3\"", "\"C64\"", "\"F64\"", "\"U8\"", "{", "}", "[", "]",
    ",", ":", "\"", "\\", "\\u", "\\ud800", "\\udc00", "\\u0000", "\"\\ud83d\\ude00\"", "null", "true", "false", "[]",
    "{}", "0", "-0", "1e999", "-1", "0.5", "2.5e3", "9007199254740992", "9007199254740993", "18446744073709551615",
    "18446744073709551616", "4294967296", "2147483648", "99999999999999999999", "[0,0]", "[0, 18446744073709551615]",
    "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff", "\xe2\x82", "'descr'", "'fortran_order'", "'shape'",
    "'<f4'", "'>f8'", "'|b1'", "'<i8'", "'<u8'", "'<f2'", "'<c8'", "'|O'", "'<U3'", "'V8'", "[('a', '<f4')]",
    "True", "False", "(", ")", "(,)", "()", "(0,)", "(1,)", "(3, 4)", "(4294967296, 4294967296)", "L", "\x93NUMPY",
    "\x93NUMPY\x01\x00", "\x93NUMPY\x02\x00", "\x93NUMPY\x03\x00", "\n", " ", "\t",
};
constexpr size_t kDictionarySize = sizeof(kDictionary) / sizeof(kDictionary[0]);

const uint64_t kInteresting[] = {0, 1, 2, 7, 8, 9, 16, 63, 64, 127, 128, 255, 256, 4095, 65535, 65536, 100000000,
                                 100000001, 0x7fffffffull, 0x80000000ull, 0xffffffffull, 0x100000000ull,
                                 0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull,
                                 0xfffffffffffffff8ull};
constexpr size_t kInterestingSize = sizeof(kInteresting) / sizeof(kInteresting[0]);

void put_le(Bytes& b, size_t at, uint64_t v, int width) {
  for (int i = 0; i < width && at + i < b.size(); ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get_le(const Bytes& b, size_t at, int width) {
  uint64_t v = 0;
  for (int i = width - 1; i >= 0; --i) v = (v << 8) | (at + i < b.size() ? b[at + i] : 0);
  return v;
}

void insert(Bytes& b, size_t at, const uint8_t* p, size_t n) { b.insert(b.begin() + std::min(at, b.size()), p, p + n); }

void mutate_once(Bytes& b, const std::vector<Bytes>& corpus, Rng& r, size_t max_len) {
  const size_t n = b.size();
  switch (r.below(11)) {
    case 0:  // flip a bit
      if (n) b[r.below(n)] ^= static_cast<uint8_t>(1u << r.below(8));
      break;
    case 1:  // set a byte
      if (n) b[r.below(n)] = static_cast<uint8_t>(r.next());
      break;
    case 2: {  // delete a range
      if (!n) break;
      const size_t at = r.below(n), len = 1 + r.below(std::min<size_t>(n - at, r.coin(4) ? n : 16));
      b.erase(b.begin() + at, b.begin() + at + std::min(len, n - at));
      break;
    }
    case 3: {  // duplicate a range
      if (!n) break;
      const size_t at = r.below(n), len = 1 + r.below(std::min<size_t>(n - at, 64));
      Bytes piece(b.begin() + at, b.begin() + at + len);
      insert(b, r.below(n + 1), piece.data(), piece.size());
      break;
    }
    case 4: {  // truncate
      if (n) b.resize(r.below(n));
      break;
    }
    case 5: {  // splice with another corpus input
      const Bytes& o = corpus[r.below(corpus.size())];
      if (o.empty()) break;
      const size_t cut = r.below(n + 1), from = r.below(o.size());
      b.resize(cut);
      b.insert(b.end(), o.begin() + from, o.end());
      break;
    }
    case 6: {  // the safetensors length field
      const uint64_t cur = get_le(b, 0, 8);
      const uint64_t v = r.coin(2) ? kInteresting[r.below(kInterestingSize)] : cur + static_cast<uint64_t>(r.below(17)) - 8;
      if (b.size() < 8) b.resize(8, 0);
      put_le(b, 0, v, 8);
      break;
    }
    case 7: {  // the .npy version and header length fields
      if (b.size() < 12) b.resize(12, 0);
      if (r.coin(3)) b[6] = static_cast<uint8_t>(r.below(5));
      const int width = b[6] == 1 ? 2 : 4;
      const uint64_t cur = get_le(b, 8, width);
      put_le(b, 8, r.coin(2) ? kInteresting[r.below(kInterestingSize)] : cur + r.below(129) - 64, width);
      break;
    }
    case 8: {  // a dictionary token, inserted or overwriting
      const char* t = kDictionary[r.below(kDictionarySize)];
      const size_t len = std::strlen(t), at = r.below(n + 1);
      if (r.coin(2) || at + len > n) insert(b, at, reinterpret_cast<const uint8_t*>(t), len);
      else std::memcpy(b.data() + at, t, len);
      break;
    }
    case 9: {  // replace a decimal number in the text with an interesting one
      if (!n) break;
      size_t at = r.below(n);
      while (at < n && !(b[at] >= '0' && b[at] <= '9')) ++at;
      if (at >= n) break;
      size_t end = at;
      while (end < n && b[end] >= '0' && b[end] <= '9') ++end;
      uint64_t v = kInteresting[r.below(kInterestingSize)];
      if (r.coin(3)) v = std::strtoull(std::string(b.begin() + at, b.begin() + end).c_str(), nullptr, 10) + r.below(9) - 4;
      const std::string s = std::to_string(v);
      b.erase(b.begin() + at, b.begin() + end);
      insert(b, at, reinterpret_cast<const uint8_t*>(s.data()), s.size());
      break;
    }
    default: {  // deep nesting or a long run of one byte
      const size_t at = r.below(n + 1), len = 1 + r.below(r.coin(4) ? 4096 : 80);
      const uint8_t c = "[{(\"0 ,\\"[r.below(8)];
      Bytes run(len, c);
      insert(b, at, run.data(), run.size());
      break;
    }
  }
  if (b.size() > max_len) b.resize(max_len);
}

std::vector<Bytes> g_corpus;
const Bytes* g_current = nullptr;
std::string g_label;

void dump_current() {
  std::fprintf(stderr, "fuzz_driver: finding on %s (%zu bytes)\n", g_label.c_str(), g_current ? g_current->size() : 0);
  if (!g_current) return;
  std::string name = "fuzz-finding-" + g_label + ".bin";
  for (char& c : name) if (c == '/' || c == ' ') c = '_';
  if (std::FILE* f = std::fopen(name.c_str(), "wb")) {
    std::fwrite(g_current->data(), 1, g_current->size(), f);
    std::fclose(f);
    std::fprintf(stderr, "fuzz_driver: input written to %s\n", name.c_str());
  }
}

void read_inputs(const std::string& path, std::vector<Bytes>* out, std::vector<std::string>* names) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) files.push_back(e.path());
  } else {
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());  // deterministic order
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    out->emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    names->push_back(f.string());
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t iterations = 10000, seed = 1;
  long long only = -1;
  size_t max_len = 1 << 16;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--iterations") iterations = std::strtoull(value(), nullptr, 10);
    else if (a == "--seed") seed = std::strtoull(value(), nullptr, 10);
    else if (a == "--only") only = std::strtoll(value(), nullptr, 10);
    else if (a == "--max-len") max_len = std::strtoull(value(), nullptr, 10);
    else paths.push_back(a);
  }
  __sanitizer_set_death_callback(dump_current);
  // Native scratch requests sized from hostile inputs: NT_OOM, never an abort or a crash.
  for (const size_t count : {static_cast<size_t>(1) << 62, SIZE_MAX / 2, static_cast<size_t>(1) << 44}) {
    try {
      nt::Scratch<float> s(count);
      std::fprintf(stderr, "fuzz_driver: Scratch<float>(%zu) succeeded\n", count);
      return 1;
    } catch (const nt::Error& e) {
      if (e.code() != nt::ErrorCode::OOM) {
        std::fprintf(stderr, "fuzz_driver: Scratch<float>(%zu) failed with a code other than NT_OOM\n", count);
        return 1;
      }
    }
  }
  std::vector<std::string> names;
  for (const auto& p : paths) read_inputs(p, &g_corpus, &names);
  if (g_corpus.empty()) g_corpus.emplace_back();  // mutate from nothing
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t tried = 0;
  if (only < 0) {
    for (size_t i = 0; i < g_corpus.size(); ++i) {
      g_current = &g_corpus[i];
      g_label = names.empty() ? "empty" : names[i];
      LLVMFuzzerTestOneInput(g_corpus[i].data(), g_corpus[i].size());
      ++tried;
    }
  }
  Bytes input;
  g_current = &input;
  for (uint64_t i = 0; i < iterations; ++i) {
    if (only >= 0 && i != static_cast<uint64_t>(only)) continue;
    Rng r(seed * 0x100000001b3ull ^ (i + 1) * 0x9e3779b97f4a7c15ull);
    input = g_corpus[r.below(g_corpus.size())];
    const int rounds = 1 + static_cast<int>(r.below(r.coin(8) ? 16 : 4));
    for (int k = 0; k < rounds; ++k) mutate_once(input, g_corpus, r, max_len);
    g_label = std::to_string(seed) + "-" + std::to_string(i);
    LLVMFuzzerTestOneInput(input.data(), input.size());
    ++tried;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("fuzz_driver: %llu inputs (%zu corpus files + %llu mutations, seed %llu) in %.1f s: 0 crashes, 0 findings\n",
              static_cast<unsigned long long>(tried), only < 0 ? g_corpus.size() : size_t{0},
              static_cast<unsigned long long>(only < 0 ? iterations : 1), static_cast<unsigned long long>(seed), secs);
  return 0;
}
