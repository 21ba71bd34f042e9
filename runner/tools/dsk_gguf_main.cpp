// dsk-gguf: inspect GGUF files (docs/gguf.md).
//   dsk-gguf info FILE   metadata and tensor table, human-readable
//   dsk-gguf json FILE   complete machine-readable dump (the interop test reads it)
// Hidden, for tests: dsk-gguf write-sample OUT [--split N]
// Any error is one line on stderr and exit code 1.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "gguf/dump.hpp"
#include "gguf/reader.hpp"
#include "gguf/sample.hpp"

namespace {

constexpr const char* kUsage =
    "usage: dsk-gguf <command> FILE\n"
    "\n"
    "commands:\n"
    "  info FILE   print the header, every metadata key with its type and value (long arrays and\n"
    "              strings abbreviated) and the tensor table (name, type, dims, part, offset, bytes)\n"
    "  json FILE   print a complete JSON dump: every key with type and full value, every tensor with\n"
    "              type, dims, part, offset, bytes and the FNV-1a-64 hash of its bytes\n"
    "  --help      print this text\n"
    "\n"
    "FILE may be any part of a split set (NAME-00001-of-00003.gguf); all parts are opened and\n"
    "checked. Errors are printed as one line on stderr, with exit code 1.\n";

int fail(const std::string& msg) {
  std::fprintf(stderr, "dsk-gguf: %s\n", msg.c_str());
  return 1;
}

int print(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() || std::fflush(stdout) != 0)
    return fail(std::string("cannot write the output: ") + std::strerror(errno));
  return 0;
}

int write_sample(int argc, char** argv) {
  if (argc != 3 && !(argc == 5 && std::string_view(argv[3]) == "--split"))
    return fail("usage: dsk-gguf write-sample OUT [--split N]");
  auto sample = dsk::gguf::make_sample();
  if (argc == 3) {
    auto r = sample->writer.write(argv[2]);
    return r ? 0 : fail(r.error().message());
  }
  char* end = nullptr;
  const unsigned long n = std::strtoul(argv[4], &end, 10);
  if (*end != '\0' || n == 0 || n > 100) return fail(std::string("bad part count '") + argv[4] + "'");
  auto r = sample->writer.write_split(argv[2], static_cast<uint32_t>(n));
  return r ? 0 : fail(r.error().message());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("no command (see dsk-gguf --help)");
  const std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "write-sample") return write_sample(argc, argv);
  if (cmd != "info" && cmd != "json")
    return fail("unknown command '" + std::string(cmd) + "' (see dsk-gguf --help)");
  if (argc != 3) return fail(std::string(cmd) + " needs exactly one FILE (see dsk-gguf --help)");

  auto reader = dsk::gguf::Reader::open(argv[2]);
  if (!reader) return fail(reader.error().message());
  std::string out;
  if (cmd == "info") dsk::gguf::append_info(out, *reader);
  else dsk::gguf::append_json(out, *reader);
  return print(out);
}
