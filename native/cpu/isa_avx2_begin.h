// Compile the functions that follow for AVX2+FMA+F16C (x86-64 only). Include every
// standard header BEFORE this file: only functions defined after it may use AVX2, so
// no inline function shared with other translation units is ever built for AVX2.
#if defined(__x86_64__) || defined(_M_X64)
#define NT_HAVE_AVX2_BUILD 1
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#include <immintrin.h>
#endif
