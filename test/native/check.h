// A minimal test harness for the C++ kernel tests (no framework dependency):
// CHECK(cond) and CHECK_CLOSE(a, b, tol) record failures; main returns the failure count.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace nt_test {

inline int& failures() { static int n = 0; return n; }
inline std::vector<std::pair<std::string, std::function<void()>>>& cases() {
  static std::vector<std::pair<std::string, std::function<void()>>> c;
  return c;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { cases().emplace_back(name, std::move(fn)); }
};

inline int run_all() {
  for (auto& [name, fn] : cases()) {
    const int before = failures();
    try {
      fn();
    } catch (const std::exception& e) {
      std::printf("  exception: %s\n", e.what());
      ++failures();
    }
    std::printf("%s %s\n", failures() == before ? "ok  " : "FAIL", name.c_str());
  }
  std::printf("%d failure(s)\n", failures());
  return failures() == 0 ? 0 : 1;
}

}  // namespace nt_test

#define TEST_CASE(name) \
  static void name(); \
  static nt_test::Register name##_registration(#name, name); \
  static void name()

#define CHECK(cond) \
  do { if (!(cond)) { std::printf("  %s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); ++nt_test::failures(); } } while (0)

#define CHECK_CLOSE(a, b, tol)                                                                       \
  do {                                                                                               \
    const double va_ = (a), vb_ = (b);                                                               \
    if (!(std::fabs(va_ - vb_) <= (tol))) {                                                          \
      std::printf("  %s:%d: %s = %.9g vs %s = %.9g (tol %g)\n", __FILE__, __LINE__, #a, va_, #b, vb_, (double)(tol)); \
      ++nt_test::failures();                                                                         \
    }                                                                                                \
  } while (0)

#define TEST_MAIN() int main() { return nt_test::run_all(); }
