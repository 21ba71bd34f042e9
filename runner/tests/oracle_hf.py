#!/usr/bin/env python3
"""dsk-convert + dsk-run on ../shared/oracle/hf/dsv3-tiny vs Hugging Face transformers' float64 logits.

The bf16 checkpoint converted with --type bf16 keeps every weight exact, and the forward computes in
float32, so the logits must agree to float32 rounding: relative error <= 1e-5 and the same argmax at
every position, for the prompt as one prefill and with --n-prefill 32 (the rest decoded one by one).
usage: oracle_hf.py DSK_CONVERT DSK_RUN HF_ORACLE_DIR(dsv3-tiny) WORKDIR
"""
import json
import lzma
import os
import shutil
import subprocess
import sys

import numpy as np

convert, run, src, work = sys.argv[1:5]
os.makedirs(work, exist_ok=True)
hf = os.path.join(work, "hf")
os.makedirs(hf, exist_ok=True)
shutil.copy(os.path.join(src, "config.json"), hf)
with lzma.open(os.path.join(src, "model.safetensors.xz")) as f, open(os.path.join(hf, "model.safetensors"), "wb") as g:
    shutil.copyfileobj(f, g)
gguf = os.path.join(work, "dsv3-tiny-bf16.gguf")
subprocess.run([convert, hf, gguf, "--type", "bf16"], check=True)
oracle = json.load(open(os.path.join(src, "oracle.json")))
toks = oracle["tokens"]
n_vocab = oracle["n_vocab"]
want = np.fromfile(os.path.join(src, "logits_f64.bin"), dtype="<f8").reshape(len(toks), n_vocab)
ok = True
for name, extra in (("prefill", []), ("prefill 32 + decode", ["--n-prefill", "32"])):
    out = os.path.join(work, "logits.bin")
    subprocess.run([run, "-m", gguf, "--tokens", ",".join(map(str, toks)), "-n", "0", "--dump-logits", out, "-t", "2"]
                   + extra, check=True, stdout=subprocess.DEVNULL)
    got = np.fromfile(out, dtype="<f4").reshape(len(toks), n_vocab).astype(np.float64)
    rel = np.linalg.norm(got - want) / np.linalg.norm(want)
    same = int(np.sum(got.argmax(1) == want.argmax(1)))
    good = rel <= 1e-5 and same == len(toks)
    ok &= good
    print(f"dsv3-tiny {name}: relative error {rel:.3e}, argmax equal at {same}/{len(toks)} positions "
          f"{'ok' if good else 'FAIL'}")
sys.exit(0 if ok else 1)
