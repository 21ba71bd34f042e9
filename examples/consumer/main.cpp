// Uses one dsk header from an installed dsk: the transcendentals that give the same bits on the
// host and the GPU.
#include <dsk/core/math.hpp>

#include <cstdio>

int main() {
  const float xs[] = {-4.0f, -1.0f, 0.0f, 0.5f, 3.0f};
  std::printf("x        silu(x)        sqrt_softplus(x)\n");
  for (float x : xs) std::printf("%-8g %-14.9g %.9g\n", x, dsk::math::silu(x), dsk::math::sqrt_softplus(x));
  // A known value: silu(1) = 1 / (1 + e^-1) = 0.7310586...
  const float s = dsk::math::silu(1.0f);
  return (s > 0.7310585f && s < 0.7310587f) ? 0 : 1;
}
