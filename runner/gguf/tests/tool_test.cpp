// The dsk-gguf tool: output of info/json, --help, and one-line errors with exit code 1.
#include <sys/wait.h>

#include <cstdlib>
#include <string>

#include "gguf/sample.hpp"
#include "gguf_test_util.hpp"

#ifndef DSK_GGUF_TOOL
#error "DSK_GGUF_TOOL (the path of dsk-gguf) must be defined"
#endif

using namespace dsk::gguf;
using namespace dsk::gguf::test;

namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

// Runs dsk-gguf with `args` (shell words), capturing stdout and stderr.
Run run(const TempDir& dir, const std::string& args) {
  const std::string out = dir.file("stdout.txt"), err = dir.file("stderr.txt");
  const std::string cmd = std::string("'") + DSK_GGUF_TOOL + "' " + args + " >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const auto o = read_file(out), e = read_file(err);
  r.out.assign(o.begin(), o.end());
  r.err.assign(e.begin(), e.end());
  return r;
}

size_t lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace

TEST_CASE("tool: --help", "[gguf][tool]") {
  TempDir dir;
  const Run r = run(dir, "--help");
  CHECK(r.code == 0);
  CHECK_HAS(r.out, "usage: dsk-gguf <command> FILE");
  CHECK_HAS(r.out, "info FILE");
  CHECK_HAS(r.out, "json FILE");
  CHECK(r.err.empty());
}

TEST_CASE("tool: info and json of the sample", "[gguf][tool]") {
  TempDir dir;
  const std::string path = dir.file("s.gguf");
  const Run w = run(dir, "write-sample '" + path + "'");
  REQUIRE(w.code == 0);
  const Run info = run(dir, "info '" + path + "'");
  CHECK(info.code == 0);
  CHECK(info.err.empty());
  CHECK_HAS(info.out, ": GGUF v3, 40 keys, 9 tensors\n");
  CHECK_HAS(info.out, "  deepseek2.block_count = UINT32 61\n");
  CHECK_HAS(info.out, "  sample.tokens = ARRAY[STRING] (300) [\"tok0\", \"tok1\", \"tok2\", \"tok3\", \"tok4\", \"tok5\", "
                      "\"tok6\", \"tok7\", ... 292 more]\n");
  CHECK_HAS(info.out, "  sample.nested_3 = ARRAY[ARRAY] (2) [[[\"x\"]], [[\"y\", \"z\"], []]]\n");
  CHECK_HAS(info.out, "blk.0.q2_k.weight      Q2_K     [512, 1, 3]");
  const Run json = run(dir, "json '" + path + "'");
  CHECK(json.code == 0);
  CHECK_HAS(json.out, "{\"key\": \"deepseek2.block_count\", \"type\": \"UINT32\", \"value\": 61}");
  CHECK_HAS(json.out, "\"elem_type\": \"FLOAT32\", \"values\": [0.5, -0.0, Infinity, NaN, 9.9999461e-41]");
  CHECK_HAS(json.out, "\"value\": \"a\\u0000b\\n\\\"q\\\"\\\\\\u0000\"");
  CHECK_HAS(json.out, "\"fnv1a64\": \"");
}

TEST_CASE("tool: a split set", "[gguf][tool]") {
  TempDir dir;
  REQUIRE(run(dir, "write-sample '" + dir.file("s") + "' --split 3").code == 0);
  const Run info = run(dir, "info '" + dir.file("s-00002-of-00003.gguf") + "'");
  CHECK(info.code == 0);
  CHECK_HAS(info.out, "split set of 3 parts, 43 keys, 9 tensors");
}

TEST_CASE("tool: errors are one line on stderr and exit code 1", "[gguf][tool]") {
  TempDir dir;
  const std::vector<std::string> bad = {"", "frobnicate x", "info", "info a b",
                                       "json '" + dir.file("missing.gguf") + "'", "write-sample",
                                       "write-sample x --split 0"};
  for (const std::string& args : bad) {
    INFO("dsk-gguf " << args);
    const Run r = run(dir, args);
    CHECK(r.code == 1);
    CHECK(r.out.empty());
    CHECK(lines(r.err) == 1);
    CHECK(r.err.rfind("dsk-gguf: ", 0) == 0);
  }
  write_file(dir.file("bad.gguf"), Bytes().header(0, 1).key("k", ValueType::BOOL).u8(3).b);
  const Run r = run(dir, "info '" + dir.file("bad.gguf") + "'");
  CHECK(r.code == 1);
  CHECK(r.err == "dsk-gguf: " + dir.file("bad.gguf") + ": offset 37: key 'k': invalid BOOL value 3 (must be 0 or 1)\n");
}
