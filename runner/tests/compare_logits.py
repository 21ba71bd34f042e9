#!/usr/bin/env python3
"""Compare two float32 logit dumps bit for bit, NaNs made canonical (their positions must match).

usage: compare_logits.py A.bin B.bin [n_vocab]   exit 0 when equal; else prints where they differ.
"""
import array
import sys


def load(path):
    a = array.array("I")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    if sys.byteorder != "little":
        a.byteswap()
    return a


def canonical(u):
    return 0x7FC00000 if (u & 0x7F800000) == 0x7F800000 and (u & 0x007FFFFF) else u


a, b = load(sys.argv[1]), load(sys.argv[2])
nv = int(sys.argv[3]) if len(sys.argv) > 3 else 0
if len(a) != len(b):
    print(f"sizes differ: {len(a)} vs {len(b)} floats")
    sys.exit(1)
diff = [i for i in range(len(a)) if canonical(a[i]) != canonical(b[i])]
nan_payload = sum(1 for i in range(len(a)) if a[i] != b[i] and canonical(a[i]) == canonical(b[i]))
if not diff:
    note = f" ({nan_payload} NaNs with other payloads)" if nan_payload else ""
    print(f"identical: {len(a)} floats{note}")
    sys.exit(0)
conv = array.array("f")
conv.frombytes(a.tobytes())
convb = array.array("f")
convb.frombytes(b.tobytes())
where = [(i // nv, i % nv) if nv else (0, i) for i in diff[:8]]
print(f"{len(diff)} of {len(a)} floats differ; first (row, col, A, B): " +
      ", ".join(f"({r}, {c}, {conv[i]!r}, {convb[i]!r})" for (r, c), i in zip(where, diff[:8])))
sys.exit(1)
