#!/usr/bin/env python3
"""The same logits bits whatever the batching and the thread count.

On a model file: the sequence as one prefill, as a prefill of K then one token at a time (K = 1, 7,
16), and with 1 or 3 threads must dump byte-identical logits for every position.
usage: determinism.py DSK_RUN MODEL.gguf WORKDIR TOKENS(comma separated)
"""
import os
import subprocess
import sys

run, model, work, toks = sys.argv[1:5]
os.makedirs(work, exist_ok=True)


def dump(name, *extra):
    out = os.path.join(work, name + ".bin")
    subprocess.run([run, "-m", model, "--tokens", toks, "-n", "0", "--dump-logits", out] + list(extra), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return open(out, "rb").read()


base = dump("prefill", "-t", "2")
ok = True
for name, extra in (("prefill 1 + decode", ["--n-prefill", "1", "-t", "2"]),
                    ("prefill 7 + decode", ["--n-prefill", "7", "-t", "2"]),
                    ("prefill 16 + decode", ["--n-prefill", "16", "-t", "2"]),
                    ("1 thread", ["-t", "1"]), ("3 threads", ["-t", "3"])):
    same = dump(name.replace(" ", "_").replace("+", ""), *extra) == base
    ok &= same
    print(f"{name:22s}: logits {'bit-identical' if same else 'DIFFER'} ({len(base) // 4} floats)")
sys.exit(0 if ok else 1)
