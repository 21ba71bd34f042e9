#!/usr/bin/env python3
"""quant_gguf_crosscheck: dsk's quant formats against gguf-py (ggml's Python reference).

Usage: crosscheck_gguf.py <path to quant_crosscheck>

1. The IQ2_XXS tables (iq2xxs_grid, ksigns_iq2xs) equal gguf-py's copies.
2. Random valid blocks of every type (random quant bytes, random fp16 scales incl. zeros,
   subnormals, infinities and NaNs) dequantize to the same float32 bits as gguf.quants.dequantize
   (NaNs compared as NaN): dsk uses ggml's operation order for every type, and so does gguf-py.
3. Q8_0, F16 and BF16 quantization of random floats (many scales, exact .5 ties, zero blocks,
   fp16-overflowing scales) give the same bytes as gguf.quants.quantize (gguf-py's Q8_0 is
   bit-exact with ggml's quantize_row_q8_0_ref).
"""
import os
import subprocess
import sys
import tempfile

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

HELPER = sys.argv[1]
rng = np.random.default_rng(20240611)
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures += 1


def run(*args):
    subprocess.run([HELPER, *map(str, args)], check=True)


def same_floats(a, b):
    """Bitwise equality with every NaN equal to every NaN."""
    a, b = a.view(np.uint32), b.view(np.uint32)
    an = (a & 0x7FFFFFFF) > 0x7F800000
    bn = (b & 0x7FFFFFFF) > 0x7F800000
    bad = (an != bn) | (~an & (a != b))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        print(f"     first of {int(bad.sum())} differences at {i}: dsk {a[i]:08x} gguf {b[i]:08x}")
    return not bad.any()


def random_f16_bits(n):
    """Random fp16 patterns: mostly normal, some subnormal, zero, inf, NaN."""
    bits = rng.integers(0, 1 << 16, n, dtype=np.uint32)
    exp = rng.integers(1, 31, n, dtype=np.uint32)  # normal exponents
    bits = (bits & 0x83FF) | (exp << 10)
    kind = rng.integers(0, 100, n)
    bits = np.where(kind == 0, bits & 0x83FF, bits)       # subnormal or zero
    bits = np.where(kind == 1, bits & 0x8000, bits)       # +-0
    bits = np.where(kind == 2, (bits & 0x8000) | 0x7C00, bits)  # +-inf
    bits = np.where(kind == 3, 0x7E00, bits)              # NaN
    return bits.astype(np.uint16)


# offsets of the fp16 scale fields in each block
SCALE_FIELDS = {T.Q8_0: [0], T.Q4_K: [0, 2], T.Q6_K: [208], T.Q2_K: [80, 82], T.IQ2_XXS: [0]}


def random_blocks(qtype, nb):
    _, type_size = GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, (nb, type_size), dtype=np.uint8)
    for off in SCALE_FIELDS.get(qtype, []):
        raw[:, off:off + 2] = random_f16_bits(nb).view(np.uint8).reshape(nb, 2)
    if qtype == T.F16:
        raw = random_f16_bits(nb * type_size // 2).view(np.uint8).reshape(nb, type_size)
    return raw


with tempfile.TemporaryDirectory() as tmp:
    # 1. tables
    run("tables", tmp)
    grid = np.fromfile(os.path.join(tmp, "iq2xxs_grid.bin"), dtype=np.uint64)
    quants.IQ2_XXS.init_grid()
    want = quants.IQ2_XXS.grid.reshape(256, 8).astype(np.uint64)
    want = sum(want[:, j] << np.uint64(8 * j) for j in range(8))
    check(np.array_equal(grid, want), "iq2xxs_grid equals gguf-py's IQ2_XXS grid (256 entries)")
    ks = np.fromfile(os.path.join(tmp, "ksigns.bin"), dtype=np.uint8)
    check(np.array_equal(ks, np.frombuffer(quants.IQ2_XXS.ksigns, dtype=np.uint8)),
          "ksigns_iq2xs equals gguf-py's IQ2_XXS.ksigns (128 entries)")

    # 2. dequantization
    for qtype, nb in [(T.Q8_0, 20000), (T.Q4_K, 4000), (T.Q6_K, 4000), (T.Q2_K, 4000),
                      (T.IQ2_XXS, 4000), (T.F16, 20000), (T.BF16, 20000)]:
        block_size, _ = GGML_QUANT_SIZES[qtype]
        raw = random_blocks(qtype, nb)
        K = nb * block_size
        src, dst = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        raw.tofile(src)
        run("dequant", qtype.name, src, dst, K)
        got = np.fromfile(dst, dtype=np.float32)
        with np.errstate(all="ignore"):
            ref = quants.dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        check(got.size == ref.size and same_floats(got, ref),
              f"dequantize {qtype.name}: {nb} random blocks, bit-exact with gguf-py")

    # 3. quantization
    def q8_0_inputs(nblocks):
        x = np.empty((nblocks, 32), dtype=np.float32)
        for i in range(nblocks):
            kind = i % 5
            scale = np.float32(2.0) ** rng.integers(-30, 30)
            if kind == 0:    # gaussian
                x[i] = rng.standard_normal(32) * scale
            elif kind == 1:  # exact ties: amax = 127 * 2^k, values (n + 1/2) * 2^k
                k = np.float32(2.0) ** rng.integers(-20, 10)
                x[i] = (rng.integers(-127, 127, 32) + 0.5) * k
                x[i, rng.integers(0, 32)] = 127 * k * rng.choice([-1, 1])
            elif kind == 2:  # uniform with a negative max
                x[i] = rng.uniform(-1, 0.5, 32) * scale
            elif kind == 3:  # zeros and signed zeros
                x[i] = 0.0
                x[i, rng.integers(0, 32, 4)] = -0.0
            else:            # large: d overflows fp16 (amax / 127 > 65504)
                x[i] = rng.standard_normal(32) * np.float32(1e7)
        return x.reshape(-1)

    for qtype, n in [(T.Q8_0, 20000), (T.F16, 640000), (T.BF16, 640000)]:
        if qtype == T.Q8_0:
            x = q8_0_inputs(n)
        else:
            bits = rng.integers(0, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
            x = bits.view(np.float32).copy()
            if qtype == T.F16:
                # every float class, but NaNs only as canonical quiet NaNs (numpy keeps fp16 NaN
                # payloads, ggml and dsk give sign | 0x7e00)
                nan = np.isnan(x)
                x[nan] = np.where(x[nan].view(np.uint32) >> 31 == 1, np.float32(-np.nan), np.float32(np.nan))
                x[: n // 2] = (rng.standard_normal(n // 2) * np.float32(2.0) ** rng.integers(-30, 18, n // 2)).astype(np.float32)
        src, dst = os.path.join(tmp, "in.bin"), os.path.join(tmp, "out.bin")
        x.astype(np.float32).tofile(src)
        run("quantize", qtype.name, src, dst, x.size)
        got = np.fromfile(dst, dtype=np.uint8)
        with np.errstate(all="ignore"):
            ref = quants.quantize(x.reshape(1, -1), qtype).view(np.uint8).reshape(-1)
        diff = np.flatnonzero(got != ref)
        if diff.size:
            print(f"     first of {diff.size} differing bytes at {int(diff[0])}")
        check(diff.size == 0, f"quantize {qtype.name}: {x.size} values, same bytes as gguf-py")

sys.exit(1 if failures else 0)
