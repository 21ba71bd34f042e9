// Catch2 v2 / v3 compatibility: CI machines have Debian's Catch2 2.13 (single header), the GPU
// machine has Catch2 3.x. Tests include this header and use the common subset.
#pragma once
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define DSK_CATCH_V3 1
#else
#include <catch2/catch.hpp>
#define DSK_CATCH_V3 0
namespace Catch::Matchers {}
#endif

#include <string>

// CHECK that `text` contains `sub`, showing the text on failure (no matchers: Catch2 v2 and v3
// name them differently).
#define CHECK_HAS(text, sub)                         \
  do {                                               \
    const std::string dsk_text_ = (text);            \
    INFO("text: " << dsk_text_);                     \
    CHECK(dsk_text_.find(sub) != std::string::npos); \
  } while (0)
