// Helper of the quant_gguf_crosscheck test (crosscheck_gguf.py drives it through files):
//   quant_crosscheck tables <dir>                    writes iq2xxs_grid.bin (256 x u64 LE), ksigns.bin
//   quant_crosscheck dequant <type> <in> <out> <K>   raw blocks of a row of K -> float32
//   quant_crosscheck quantize <type> <in> <out> <K>  float32 -> raw blocks (ggml_ref flavour)
// <type> is a ggml type name (Q8_0, Q4_K, ...). Exit status 0 on success.
#include <cstdio>
#include <exception>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "dsk/quant/tables.hpp"
#include "reference/quant.hpp"

namespace {

std::vector<char> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const void* p, size_t n) {
  std::ofstream f(path, std::ios::binary);
  f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  if (!f) throw std::runtime_error("cannot write " + path);
}

dsk::GgmlType type_of(const std::string& name) {
  for (const auto& t : dsk::kGgmlTypes)
    if (t.name == name) return t.type;
  throw std::runtime_error("unknown type " + name);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<std::string> a(argv + 1, argv + argc);
    if (a.size() == 2 && a[0] == "tables") {
      uint64_t grid[256];
      uint8_t signs[128];
      for (int i = 0; i < 256; ++i) grid[i] = dsk::quant::iq2xxs_grid(i);
      for (int i = 0; i < 128; ++i) signs[i] = dsk::quant::ksigns_iq2xs(i);
      write_file(a[1] + "/iq2xxs_grid.bin", grid, sizeof grid);
      write_file(a[1] + "/ksigns.bin", signs, sizeof signs);
      return 0;
    }
    if (a.size() == 5 && (a[0] == "dequant" || a[0] == "quantize")) {
      const dsk::GgmlType t = type_of(a[1]);
      const int64_t K = std::stoll(a[4]);
      const std::vector<char> in = read_file(a[2]);
      if (a[0] == "dequant") {
        if (in.size() != dsk::ref::row_bytes(t, K)) throw std::runtime_error("input size");
        std::vector<float> y(static_cast<size_t>(K));
        dsk::ref::dequantize_row(t, in.data(), y.data(), K);
        write_file(a[3], y.data(), y.size() * sizeof(float));
      } else {
        if (in.size() != static_cast<size_t>(K) * sizeof(float)) throw std::runtime_error("input size");
        std::vector<char> y(dsk::ref::row_bytes(t, K));
        dsk::ref::quantize_row(t, reinterpret_cast<const float*>(in.data()), y.data(), K);
        write_file(a[3], y.data(), y.size());
      }
      return 0;
    }
    std::fprintf(stderr, "usage: quant_crosscheck tables <dir> | dequant|quantize <type> <in> <out> <K>\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "quant_crosscheck: %s\n", e.what());
    return 1;
  }
}
