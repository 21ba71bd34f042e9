#!/usr/bin/env python3
"""Logits of dsk-run on ../shared/oracle/ik's quantized deepseek2 file vs ik_llama.cpp's.

ik quantizes activations with its own x86 paths and requantizes weights for batches >= 32, so its
logits are a statistical target only (oracle/ik/README.md): relative RMS <= 0.15 and top-1
agreement >= 0.75 per sequence, including the decode sequence. Against the float64 references on the
dequantized weights (np64-absorbed, same tensors as dsk's forward) the expectation is much tighter.
usage: oracle_ik.py DSK_RUN ORACLE_IK_DIR WORKDIR
"""
import os
import subprocess
import sys

import numpy as np

dsk_run, oracle, work = sys.argv[1:4]
model = os.path.join(oracle, "models", "dsv3-tiny-q8-q2k-iq2xxs.gguf")
ref = np.fromfile(os.path.join(oracle, "logits", "dsv3-tiny-q8-q2k-iq2xxs.ref.bin"), dtype="<f4").reshape(-1, 512)
np64 = np.fromfile(os.path.join(oracle, "logits", "dsv3-tiny-q8-q2k-iq2xxs.np64-absorbed.bin"), dtype="<f4").reshape(-1, 512)
os.makedirs(work, exist_ok=True)
ok = True
row = 0
for line in open(os.path.join(oracle, "sequences.txt")):
    if line.startswith("#") or not line.strip():
        continue
    f = line.split()
    name, n_prefill, toks = f[0], int(f[1]), f[2:]
    out = os.path.join(work, name + ".bin")
    subprocess.run([dsk_run, "-m", model, "--tokens", ",".join(toks), "--n-prefill", str(n_prefill), "-n", "0",
                    "--dump-logits", out, "-t", "2"], check=True, stdout=subprocess.DEVNULL)
    got = np.fromfile(out, dtype="<f4").reshape(-1, 512)
    n = len(toks)
    assert got.shape == (n, 512), got.shape
    want, w64 = ref[row:row + n], np64[row:row + n]
    row += n
    rel = np.linalg.norm(got - want) / np.linalg.norm(want)
    top1 = float(np.mean(got.argmax(1) == want.argmax(1)))
    rel64 = np.linalg.norm(got - w64) / np.linalg.norm(w64)
    top64 = float(np.mean(got.argmax(1) == w64.argmax(1)))
    good = rel <= 0.15 and top1 >= 0.75
    ok &= good
    print(f"{name:9s} tokens {n:4d}: vs ik ref rel RMS {rel:.4f} top-1 {top1:.3f} | vs float64 (dequantized weights, "
          f"float activations) rel {rel64:.4f} top-1 {top64:.3f} {'ok' if good else 'FAIL'}")
sys.exit(0 if ok else 1)
