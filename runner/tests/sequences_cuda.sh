#!/usr/bin/env bash
# dsk-sequences-check on the CUDA backend for synthetic models (q-LoRA, lite and 384-expert shapes,
# several mixes; 4 sequences = the GEMV decode path, 5 = the grouped path), each dump byte-identical
# to the CPU backend's. Exit 77 (skipped) without a CUDA device.
# usage: sequences_cuda.sh DSK_SEQUENCES_CHECK DSK_MKMODEL WORKDIR
set -u
chk=$1 mk=$2 work=$3
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
done
exit $fail
