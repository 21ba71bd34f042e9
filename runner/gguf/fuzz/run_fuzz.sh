#!/usr/bin/env bash
# Builds the GGUF reader fuzzer with clang++ (libFuzzer + ASan + UBSan, no CMake needed) and runs
# it for a bounded time over a copy of the seed corpus. Fails on any crash, sanitizer report, leak,
# timeout or out-of-memory (libFuzzer exits nonzero and leaves the input under BUILD_DIR/artifacts).
#
#   runner/gguf/fuzz/run_fuzz.sh BUILD_DIR [SECONDS=30] [libFuzzer args...]
#   e.g. runner/gguf/fuzz/run_fuzz.sh /tmp/fuzz 600 -fork=2 /tmp/more-corpus
# (-fork=N runs N fuzzing processes; -jobs=N would write fuzz-N.log files into the current directory.)
#
# CXX_FUZZ selects the compiler (default: clang++). The binary is rebuilt when a source is newer.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS] [libFuzzer args...]}"
secs="${2:-30}"
shift $(( $# < 2 ? $# : 2 ))
cxx="${CXX_FUZZ:-clang++}"
flags=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$root/include" -I"$root/runner")

mkdir -p "$out/obj"
bin="$out/fuzz_gguf_reader"
srcs=("$here/fuzz_gguf_reader.cpp" "$root"/runner/gguf/{dump,metadata,reader,tensor,value,writer}.cpp)
stale=1
if [ -x "$bin" ]; then
  stale=0
  newer="$(find "$here" "$root/runner/gguf" "$root/runner/common" "$root/include/dsk/quant/types.hpp" \
           -name '*.[ch]pp' -newer "$bin" | head -n 1)"
  [ -z "$newer" ] || stale=1
fi
if [ "$stale" = 1 ]; then
  echo "== building $bin"
  # Two compile jobs at a time (CI machines have 2 cores).
  printf '%s\n' "${srcs[@]}" | xargs -P 2 -I{} sh -c \
    '"$0" "$@" -c "{}" -o "'"$out/obj/"'$(basename "{}" .cpp).o"' "$cxx" "${flags[@]}"
  "$cxx" "${flags[@]}" "$out"/obj/*.o -o "$bin"
fi

work="$out/corpus"
rm -rf "$work"
mkdir -p "$work" "$out/artifacts"
cp "$here"/corpus/* "$work"/
echo "== fuzzing for ${secs}s over $(ls "$work" | wc -l) seeds"
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -artifact_prefix="$out/artifacts/" -print_final_stats=1 "$@" "$work" >"$out/fuzz.log" 2>&1 || {
  rc=$?
  tail -n 60 "$out/fuzz.log"
  echo "run_fuzz.sh: the fuzzer failed (exit $rc); inputs under $out/artifacts/" >&2
  exit 1
}
# The summary (-fork mode prints "#N: cov: ... oom/timeout/crash: 0/0/0" lines instead).
grep -E "(INITED|DONE) +cov:|^Done [0-9]+ runs|^stat::|^#[0-9]+: cov:" "$out/fuzz.log" | tail -n 12 || true
echo "== no findings"
