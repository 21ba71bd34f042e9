// Runs before main() in every dsk program: the references are built for x86-64-v3, where std::fma
// is one instruction; on an older CPU they would die of an illegal instruction instead of saying
// why. Compiled for the baseline ISA so this check itself always runs.
#include <cstdio>
#include <cstdlib>

namespace {
__attribute__((constructor(101))) void dsk_require_host_fma() {
#if defined(DSK_REQUIRE_X86_64_V3) && defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("fma") || !__builtin_cpu_supports("avx2")) {
    std::fprintf(stderr,
                 "dsk: this CPU lacks FMA/AVX2 (x86-64-v3), which dsk's host code is built for "
                 "(docs/numerics.md). Configure with -DDSK_HOST_ARCH_FLAGS= to build for this CPU "
                 "(same results, slower).\n");
    std::exit(1);
  }
#endif
}
}  // namespace
