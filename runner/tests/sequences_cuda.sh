#!/usr/bin/env bash
# dsk-sequences-check on the CUDA backend for synthetic models (q-LoRA, lite and 384-expert shapes,
# several mixes; 4 sequences = the GEMV decode path, 5 = the grouped path), each dump byte-identical
# to the CPU backend's; and dsk-run's generated text with temperature / top-k / top-p sampling
# (drawn on the GPU, no logits copied back) the same as the CPU's. Exit 77 (skipped) without a
# CUDA device.
# usage: sequences_cuda.sh DSK_SEQUENCES_CHECK DSK_MKMODEL DSK_RUN WORKDIR
set -u
chk=$1 mk=$2 run=$3 work=$4
mkdir -p "$work"
fail=0
for spec in tiny:q8_0:4 tiny:2bit:5 tiny-lite:q4_k:4 tiny-384:q6_k:3 tiny:bf16:1; do
  IFS=: read -r shape mix nseq <<<"$spec"
  f="$work/$shape-$mix.gguf"
  "$mk" --shape "$shape" --mix "$mix" --seed 21 -o "$f" >"$f.log" 2>&1 || { echo "dsk-mkmodel $spec failed"; exit 1; }
  "$chk" -m "$f" --backend cuda --n-seq "$nseq" --out "$work/$shape-$mix.cuda" >"$work/$shape-$mix.cuda.log" 2>&1
  rc=$?
  if [ $rc -eq 77 ]; then cat "$work/$shape-$mix.cuda.log"; exit 77; fi
  if [ $rc -ne 0 ]; then echo "$spec: cuda: $(tail -1 "$work/$shape-$mix.cuda.log")"; fail=1; continue; fi
  "$chk" -m "$f" --backend cpu --n-seq "$nseq" --out "$work/$shape-$mix.cpu" >"$work/$shape-$mix.cpu.log" 2>&1 ||
    { echo "$spec: cpu: $(tail -1 "$work/$shape-$mix.cpu.log")"; fail=1; continue; }
  if cmp -s "$work/$shape-$mix.cpu" "$work/$shape-$mix.cuda"; then
    echo "$spec: $(head -1 "$work/$shape-$mix.cuda.log"); $(sed -n 2p "$work/$shape-$mix.cuda.log"); CPU == CUDA by bytes"
  else
    echo "$spec: CPU and CUDA dumps differ"; fail=1
  fi
  for sampling in "--temp 0.8 --top-k 40 --seed 5" "--temp 1.1 --top-p 0.9 --min-p 0.01 --seed 9" "--temp 0"; do
    # shellcheck disable=SC2086
    a=$("$run" -m "$f" -p "The quick brown fox" -n 40 $sampling --backend cpu 2>/dev/null | od -An -tx1)
    # shellcheck disable=SC2086
    b=$("$run" -m "$f" -p "The quick brown fox" -n 40 $sampling --backend cuda 2>/dev/null | od -An -tx1)
    if [ -z "$a" ] || [ "$a" != "$b" ]; then echo "$spec: dsk-run $sampling: CPU and CUDA text differ"; fail=1
    else echo "$spec: dsk-run $sampling: same text"; fi
  done
done
exit $fail
