#!/usr/bin/env bash
# GPU logits == CPU logits, bit for bit (issue 6): for synthetic models in every weight mix and the
# tiny shapes (q-LoRA, lite, 384 experts in groups), and any GGUF files given, dsk-run's dumped
# logits of every position (a prompt, then 6 greedy tokens fed back) must be byte-identical between
# --backend cpu and --backend cuda, with the prompt as one prefill, token by token (--n-prefill 1)
# and as a prefill of 7 then decode. Exit 77 (skipped) without a CUDA device.
# Compared by compare_logits.py (NaNs canonical, positions must match).
# With --hf DIR (and --convert DSK_CONVERT): a Hugging Face checkpoint (config.json +
# model.safetensors.xz, e.g. ../shared/oracle/hf/dsv3-tiny) converted to bf16 and q8_0 joins them.
# usage: cuda_vs_cpu.sh DSK_RUN DSK_MKMODEL WORKDIR [--convert DSK_CONVERT --hf DIR] [MODEL.gguf ...]
set -u
here=$(cd "$(dirname "$0")" && pwd)
run=$1 mk=$2 work=$3
shift 3
mkdir -p "$work"
toks=1,300,17,22,400,5,9,81,255,2,3,4,100,200,300,301,302,303,7,8,9,10,11,12,13,14,15,16,18,19,20,21,23,24,25
models=()
for spec in tiny:f32 tiny:bf16 tiny:q8_0 tiny:q4_k tiny:q6_k tiny:2bit tiny-lite:q8_0 tiny-lite:2bit \
            tiny-384:2bit tiny-384:q4_k; do
  shape=${spec%%:*} mix=${spec##*:}
  f="$work/$shape-$mix.gguf"
  "$mk" --shape "$shape" --mix "$mix" --seed 11 -o "$f" >"$f.log" 2>&1 || { echo "dsk-mkmodel $spec failed: $(tail -1 "$f.log")"; exit 1; }
  models+=("$f")
done
convert="" hf=""
while [ $# -gt 0 ]; do
  case "$1" in
    --convert) convert=$2; shift 2 ;;
    --hf) hf=$2; shift 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
if [ -n "$hf" ] && [ -n "$convert" ]; then
  mkdir -p "$work/hf"
  cp "$hf/config.json" "$work/hf/"
  python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
    "$hf/model.safetensors.xz" "$work/hf/model.safetensors" || { echo "cannot unpack $hf"; exit 1; }
  for t in bf16 q8_0; do
    "$convert" "$work/hf" "$work/hf-$t.gguf" --type "$t" >/dev/null 2>&1 || { echo "dsk-convert --type $t failed"; exit 1; }
    models+=("$work/hf-$t.gguf")
  done
fi

probe=$("$run" -m "${models[0]}" --tokens 1 -n 0 --backend cuda 2>&1 >/dev/null)
if echo "$probe" | grep -q "no CUDA device\|no CUDA backend"; then
  echo "skipped: $probe"
  exit 77
fi

fail=0
for m in "${models[@]}"; do
  name=$(basename "$m" .gguf)
  dump() {  # dump OUT [args...]
    local out=$1
    shift
    "$run" -m "$m" --tokens "$toks" -n 6 --dump-logits "$out" "$@" >/dev/null 2>"$out.err" || {
      echo "$name: dsk-run $* failed: $(tail -1 "$out.err")"
      return 1
    }
  }
  dump "$work/$name-cpu.bin" --backend cpu -t 4 || { fail=1; continue; }
  for mode in "prefill:" "token-by-token:--n-prefill 1" "prefill-7:--n-prefill 7"; do
    label=${mode%%:*} args=${mode#*:}
    # shellcheck disable=SC2086
    if dump "$work/$name-cuda-$label.bin" --backend cuda $args; then
      if res=$(python3 "$here/compare_logits.py" "$work/$name-cpu.bin" "$work/$name-cuda-$label.bin"); then
        echo "$name: cuda $label == cpu: $res"
      else
        echo "$name: cuda $label DIFFERS from cpu: $res"
        fail=1
      fi
    else
      fail=1
    fi
  done
done
exit $fail
