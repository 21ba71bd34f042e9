#!/usr/bin/env bash
# dsk's one entry point for building and checking.
#
#   bash scripts/dsk.sh demo   build, make a tiny synthetic DeepSeek-V3-shaped model and generate
#                              with it on the CPU (dsk-mkmodel + dsk-run)
#   bash scripts/dsk.sh test   build everything and run the whole test suite (what CI runs)
#   bash scripts/dsk.sh gpu    on the GPU machine: build all instances, run the GPU tests and the
#                              benches, print a short table (logs under $OUT when set);
#                              DSK_SANITIZE=1 also runs compute-sanitizer memcheck and racecheck
#                              on the GPU tests (without their [deepseek], [half], [math], [long] cases;
#                              DSK_SANITIZE_TESTS: a regex of test names, DSK_SANITIZE_TIMEOUT: s;
#                              DSK_BENCHES: the kernel benches to run; DSK_MODEL_BENCH=0: no dsk-bench)
#
# Needs: a C++20 compiler (g++ 12+), python3 with venv, Catch2 (Debian: apt-get install catch2);
# optional: CUDA 13 (nvcc) for the GPU parts, clang + libFuzzer for the fuzz smoke test.
# CMake >= 3.30, ninja and the Python `gguf` package come from PyPI into .venv when the machine
# lacks them (Debian 12's CMake 3.25 cannot build CUDA 13 code).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
mode="${1:-}"
jobs="${DSK_JOBS:-$(nproc)}"

die() { echo "dsk.sh: $*" >&2; exit 1; }

cmake_ok() {  # cmake on PATH and new enough?
  command -v "$1" >/dev/null 2>&1 || return 1
  local v
  v="$("$1" --version | head -n1 | sed 's/[^0-9.]*\([0-9][0-9.]*\).*/\1/')"
  [ "$(printf '%s\n3.30\n' "$v" | sort -V | head -n1)" = "3.30" ]
}

setup_venv() {  # .venv with cmake, ninja, gguf, numpy from PyPI
  local py=.venv/bin/python
  if [ ! -x "$py" ] || ! "$py" -c 'import gguf, numpy, cmake, ninja' >/dev/null 2>&1; then
    echo "== setting up .venv (cmake, ninja, gguf, numpy from PyPI)"
    python3 -m venv .venv || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    .venv/bin/python -m pip install -q --disable-pip-version-check 'cmake>=3.30' ninja 'gguf>=0.17' numpy \
      || die "pip install failed"
  fi
  CMAKE="$root/.venv/bin/cmake"
  CTEST="$root/.venv/bin/ctest"
  PYTHON="$root/.venv/bin/python"
  export PATH="$root/.venv/bin:$PATH"
}

check_catch2() {
  if [ ! -e /usr/include/catch2/catch.hpp ] && [ ! -e /usr/include/catch2/catch_all.hpp ] \
     && [ ! -e /usr/local/include/catch2/catch_all.hpp ] && [ -z "${Catch2_DIR:-}" ]; then
    die "Catch2 not found: install it (Debian/Ubuntu: apt-get install catch2) or set Catch2_DIR"
  fi
}

configure() {  # configure <build dir> [cmake args...]
  local dir="$1"; shift
  "$CMAKE" -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
}

case "$mode" in
  demo)
    setup_venv
    check_catch2
    configure build -DDSK_PYTHON="$PYTHON" >/dev/null
    "$CMAKE" --build build -j "$jobs" --target dsk-run dsk-mkmodel
    model=build/demo/tiny-q8_0.gguf
    mkdir -p build/demo
    tok_args=()
    tj="$root/../shared/data/deepseek-v3-tokenizer/tokenizer.json.xz"
    if [ -f "$tj" ] && command -v xz >/dev/null; then  # the real DeepSeek-V3 vocabulary when at hand
      xz -dkc "$tj" > build/demo/tokenizer.json
      cp "$(dirname "$tj")/tokenizer_config.json" build/demo/ 2>/dev/null || true
      tok_args=(--tokenizer build/demo/tokenizer.json)
    fi
    echo "== dsk-mkmodel --shape tiny --mix q8_0 --seed 1 ${tok_args[*]} -o $model"
    build/bin/dsk-mkmodel --shape tiny --mix q8_0 --seed 1 "${tok_args[@]}" -o "$model"
    echo "== dsk-run -m $model -p \"Once upon a time\" -n 48 --temp 0.7 --top-k 40 --seed 1"
    echo "   (random weights, so the text is random; the point is the whole pipeline running)"
    exec build/bin/dsk-run -m "$model" -p "Once upon a time" -n 48 --temp 0.7 --top-k 40 --seed 1
    ;;
  test)
    setup_venv
    check_catch2
    # CI machines have 2 cores: a bounded set of template instances (DSK_INSTANCES=ci).
    configure build -DDSK_PYTHON="$PYTHON" -DDSK_REQUIRE_PYTHON_GGUF=ON -DDSK_INSTANCES="${DSK_INSTANCES:-ci}" \
      -DDSK_WERROR=ON
    "$CMAKE" --build build -j "$jobs"
    "$CTEST" --test-dir build --output-on-failure -j "$jobs" --timeout 900
    ;;
  gpu)
    # The GPU machine has CMake 4.x, ninja and Catch2 3 but no registry: use what is there.
    if cmake_ok cmake; then CMAKE=cmake; CTEST=ctest; else setup_venv; fi
    check_catch2
    out="${OUT:-$root/build-gpu/out}"
    mkdir -p "$out"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv | tee "$out/gpu.txt"
    configure build-gpu -DDSK_INSTANCES=all -DDSK_CUDA=ON ${DSK_CMAKE_ARGS:-} 2>&1 | tail -n 3
    "$CMAKE" --build build-gpu -j "$jobs" 2>&1 | tee "$out/build.log" | grep -E "error|warning|FAILED" || true
    [ "${PIPESTATUS[0]}" -eq 0 ] || die "GPU build failed (see $out/build.log)"
    set +e
    "$CTEST" --test-dir build-gpu -L gpu --output-on-failure -V --timeout 600 >"$out/ctest-gpu.log" 2>&1
    gpu_rc=$?
    "$CTEST" --test-dir build-gpu -L cpu --output-on-failure -j "$jobs" --timeout 900 >"$out/ctest-cpu.log" 2>&1
    cpu_rc=$?
    set -e
    san_rc=0
    if [ "${DSK_SANITIZE:-0}" = 1 ]; then
      # Every GPU test binary under both tools, at most DSK_SANITIZE_TIMEOUT s each (default 240);
      # the DeepSeek-shape cases, the all-floats sweeps ([half], [math]) and the 32K-context cases
      # ([long]) are left out (minutes
      # to hours under the tools) and run unsanitized above.
      for t in $("$CTEST" --test-dir build-gpu -L gpu -N | sed -n 's/^ *Test *#[0-9]*: //p' \
                 | grep -E "${DSK_SANITIZE_TESTS:-.}"); do
        bin=$(find build-gpu -type f -name "$t" -perm -u+x | head -n1)
        [ -n "$bin" ] || continue
        for tool in memcheck racecheck; do
          timeout "${DSK_SANITIZE_TIMEOUT:-240}" compute-sanitizer --tool "$tool" --error-exitcode 9 "$bin" \
            "~[deepseek]~[half]~[math]~[long]" >"$out/san-$tool-$t.log" 2>&1
          rc=$?
          echo "$tool $t rc=$rc $(grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$out/san-$tool-$t.log" | tail -n1)" \
            | tee -a "$out/sanitize.txt"
          [ "$rc" -eq 0 ] || san_rc=$rc
        done
      done
    fi
    set -e
    bench_rc=0
    for b in ${DSK_BENCHES:-kernels gemv router ops moe attention}; do
      if [ -x "build-gpu/bench/dsk-bench-$b" ]; then
        "build-gpu/bench/dsk-bench-$b" >"$out/bench-$b.md" 2>&1 || bench_rc=$?
      fi
    done
    # Whole-model speed (dsk-bench, synthetic weights made on the GPU): the issue-6 shapes.
    if [ "${DSK_MODEL_BENCH:-1}" = 1 ] && [ -x build-gpu/bin/dsk-bench ]; then
      { build-gpu/bin/dsk-bench --synthetic v2-lite --mix q8_0 -p 512 -n 128 -r 3 &&
        build-gpu/bin/dsk-bench --synthetic v3 --mix 2bit --layers 8 -p 512 -n 128 -r 3 | tail -n +3; } \
        >"$out/bench-model.md" 2>&1 || bench_rc=$?
    fi
    echo
    echo "== summary ($(date -u +%F), $(head -n2 "$out/gpu.txt" | tail -n1))"
    grep -E "tests passed|tests failed|Total Test time" "$out/ctest-gpu.log" | sed 's/^/gpu: /'
    grep -E "^ *[0-9]+/[0-9]+ Test" "$out/ctest-gpu.log" | sed 's/^/  /'
    grep -E "tests passed|tests failed" "$out/ctest-cpu.log" | sed 's/^/cpu: /'
    [ ! -f "$out/sanitize.txt" ] || sed 's/^/sanitize: /' "$out/sanitize.txt"
    grep -hE "read_bw|read bandwidth" "$out"/bench-*.md | head -n 3 | sed 's/^/bench: /'
    # GEMV at N = 1 on the matrices of >= 32 MB (the issue's target set), and the router target line.
    awk -F'|' '$5+0 >= 32 && $2 ~ /[A-Z]/ && $3+0 > 0 {print "gemv:" $2 "K=" $3+0 " M=" $4+0 " N=1 " $6+0 " us " $9+0 " % of read_bw, N4/N1 " $13+0}' \
      "$out/bench-gemv.md" 2>/dev/null || true
    grep -E "\*\*(yes|no)\*\*" "$out/bench-router.md" 2>/dev/null | sed "s/^/router: /" || true
    grep -E "^\| (synthetic|[^|]*gguf)" "$out/bench-model.md" 2>/dev/null | sed "s/^/model: /" || true
    [ "$gpu_rc" -eq 0 ] && [ "$cpu_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$san_rc" -eq 0 ]
    ;;
  *)
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    [ -z "$mode" ] || [ "$mode" = "-h" ] || [ "$mode" = "--help" ] || exit 2
    ;;
esac
