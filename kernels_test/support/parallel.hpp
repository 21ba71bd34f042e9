// Host-side parallel loop for tests whose reference side is large (GPU sweeps): splits [0, n) into
// contiguous ranges over the machine's threads. Results do not depend on the split.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace dsk::test {

template <class F>
void parallel_for(size_t n, F&& f) {
  const size_t nt = std::max<size_t>(1, std::min<size_t>(std::thread::hardware_concurrency(), 64));
  const size_t per = (n + nt - 1) / nt;
  std::vector<std::thread> pool;
  for (size_t t = 0; t < nt; ++t) {
    const size_t b = t * per, e = std::min(n, b + per);
    if (b >= e) break;
    pool.emplace_back([&f, b, e] {
      for (size_t i = b; i < e; ++i) f(i);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace dsk::test
