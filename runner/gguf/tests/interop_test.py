#!/usr/bin/env python3
"""GGUF interop between dsk and gguf-py (the `gguf` package), both directions.

  interop_test.py DSK_GGUF WORK_DIR

(a) gguf-py's GGUFWriter writes files (every metadata type, nested arrays, tensors of types F32,
    F16, BF16, Q8_0, Q4_K, Q2_K, Q6_K, IQ2_XXS, I8/I16/I32/I64, F64 in odd shapes, a custom
    alignment, and a split set); `dsk-gguf json` must report the same keys, types, values, tensor
    types, dims and bytes (FNV-1a-64).
(b) dsk writes its sample (`dsk-gguf write-sample`, single file and a 3-part split set); gguf-py's
    GGUFReader must read the same values and tensor bytes as dsk reports.
Q8_1 is left out: gguf-py lists it with 40-byte blocks, ggml (and dsk) with 36.
"""
import importlib.metadata
import json
import math
import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as T

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def dsk_json(tool, path):
    out = subprocess.run([tool, "json", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"dsk-gguf json {path} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


# --- value comparison ---------------------------------------------------------------------------
# Values in dsk's JSON form: scalars as JSON values, arrays as {"elem_type", "values"}.

def same_scalar(vtype, a, b):
    if vtype == "FLOAT32":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack("<f", a) == struct.pack("<f", b)
    if vtype == "FLOAT64":
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack("<d", a) == struct.pack("<d", b)
    if vtype == "BOOL":
        return bool(a) == bool(b) and isinstance(b, bool)
    if vtype == "STRING":
        return a == b
    return int(a) == int(b) and not isinstance(b, (bool, float))


def same_value(vtype, a, b):
    if vtype != "ARRAY":
        return same_scalar(vtype, a, b)
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    if a["elem_type"] != b["elem_type"] or len(a["values"]) != len(b["values"]):
        return False
    return all(same_value(a["elem_type"], x, y) for x, y in zip(a["values"], b["values"]))


def compare_metadata(label, want, got):
    """want/got: lists of (key, type, value) in file order."""
    check([k for k, _, _ in want] == [k for k, _, _ in got],
          f"{label}: keys differ:\n  want {[k for k, _, _ in want]}\n  got  {[k for k, _, _ in got]}")
    got_by_key = {k: (t, v) for k, t, v in got}
    for k, t, v in want:
        if k not in got_by_key:
            continue
        gt, gv = got_by_key[k]
        check(gt == t, f"{label}: key {k}: type {gt}, want {t}")
        check(same_value(t, v, gv), f"{label}: key {k}: value {gv!r}, want {v!r}")


def compare_tensors(label, want, got):
    """want/got: lists of dicts with name, type, dims, fnv1a64 (and bytes)."""
    check([t["name"] for t in want] == [t["name"] for t in got], f"{label}: tensor names differ")
    got_by_name = {t["name"]: t for t in got}
    for t in want:
        g = got_by_name.get(t["name"])
        if g is None:
            continue
        for field in ("type", "dims", "bytes", "fnv1a64"):
            check(g[field] == t[field], f"{label}: tensor {t['name']}: {field} {g[field]!r}, want {t[field]!r}")


def dsk_metadata(js):
    return [(m["key"], m["type"], m["value"]) for m in js["metadata"]]


# --- (a) gguf-py writes, dsk reads --------------------------------------------------------------

def expected_array(val, sub_type=None):
    """The dsk JSON form of an array as gguf-py's writer encodes it (element type inferred from
    the first element unless given)."""
    if sub_type is None:
        sub_type = T.get_type(val[0])
    if sub_type == T.ARRAY:
        values = [expected_array(x) for x in val]
    elif sub_type == T.STRING:
        values = [x.decode() if isinstance(x, bytes) else x for x in val]
    else:
        values = list(val)
    return {"elem_type": sub_type.name, "values": values}


def write_gguf_py_files(work):
    rng = np.random.default_rng(1234)
    want_md = [("general.architecture", "STRING", "deepseek2")]

    def add(writer, key, vtype, val, sub_type=None):
        writer.add_key_value(key, val, vtype, sub_type=sub_type)
        if vtype == T.ARRAY:
            want_md.append((key, "ARRAY", expected_array(val, sub_type)))
        else:
            want_md.append((key, vtype.name, float(np.float32(val)) if vtype == T.FLOAT32 else val))

    path = os.path.join(work, "gguf_py.gguf")
    w = gguf.GGUFWriter(path, "deepseek2")
    w.add_custom_alignment(64)
    want_md.append(("general.alignment", "UINT32", 64))
    add(w, "deepseek2.block_count", T.UINT32, 61)
    add(w, "py.u8", T.UINT8, 200)
    add(w, "py.i8", T.INT8, -100)
    add(w, "py.u16", T.UINT16, 65535)
    add(w, "py.i16", T.INT16, -32768)
    add(w, "py.u32", T.UINT32, 4000000000)
    add(w, "py.i32", T.INT32, -2000000000)
    add(w, "py.f32", T.FLOAT32, 0.1)
    add(w, "py.f32_inf", T.FLOAT32, float("-inf"))
    add(w, "py.bool", T.BOOL, True)
    add(w, "py.bool_false", T.BOOL, False)
    add(w, "py.str", T.STRING, "h\u00e9llo \u4e16\u754c \U0001f600")
    add(w, "py.str_escapes", T.STRING, 'quote " backslash \\ newline \n tab \t nul \x00 end')
    add(w, "py.u64", T.UINT64, 2**64 - 1)
    add(w, "py.i64", T.INT64, -(2**63))
    add(w, "py.f64", T.FLOAT64, 1e-310)
    add(w, "py.arr_i32", T.ARRAY, [1, -2, 3])
    add(w, "py.arr_f32", T.ARRAY, [0.5, -1.25, 3.0e38])
    add(w, "py.arr_str", T.ARRAY, ["a", "", "\u00fc", "x" * 300])
    add(w, "py.arr_bool", T.ARRAY, [True, False])
    add(w, "py.arr_u8", T.ARRAY, [0, 255, 7], T.UINT8)
    add(w, "py.arr_i8", T.ARRAY, [-128, 127], T.INT8)
    add(w, "py.arr_u16", T.ARRAY, [65535, 1], T.UINT16)
    add(w, "py.arr_i16", T.ARRAY, [-32768, 2], T.INT16)
    add(w, "py.arr_u32", T.ARRAY, [4294967295], T.UINT32)
    add(w, "py.arr_u64", T.ARRAY, [2**64 - 1, 0], T.UINT64)
    add(w, "py.arr_i64", T.ARRAY, [-(2**63), 2**63 - 1], T.INT64)
    add(w, "py.arr_f64", T.ARRAY, [1.0 / 3.0, -0.0], T.FLOAT64)
    add(w, "py.nested", T.ARRAY, [[1, 2, 3], [4], [5, 6]])
    add(w, "py.nested_str", T.ARRAY, [["a", "b"], ["c"]])
    add(w, "py.nested_3", T.ARRAY, [[[1.5], [2.5, 3.5]], [[4.5]]])
    add(w, "py.nested_mixed", T.ARRAY, [[1], ["s"], [True]])
    tokens = [f"tok{i}" for i in range(1000)]
    add(w, "tokenizer.ggml.tokens", T.ARRAY, tokens)

    want_t = []

    def tensor(name, arr, raw_dtype=None):
        if raw_dtype is None:
            w.add_tensor(name, arr)
        else:
            w.add_tensor(name, arr, raw_dtype=raw_dtype)
        want_t.append(arr)

    f32 = rng.standard_normal((3, 7)).astype(np.float32)
    tensor("token_embd.weight", f32)                                    # ne [7, 3]
    tensor("f16.weight", rng.standard_normal(5).astype(np.float16))    # ne [5]
    tensor("f64.weight", rng.standard_normal((2, 3)).astype(np.float64))
    tensor("i8.weight", rng.integers(-128, 127, 11, dtype=np.int8))
    tensor("i16.weight", rng.integers(-1000, 1000, 3, dtype=np.int16))
    tensor("i32.weight", rng.integers(-10**9, 10**9, (2, 2), dtype=np.int32))
    tensor("i64.weight", rng.integers(-10**18, 10**18, 1, dtype=np.int64))

    def raw(shape_bytes):
        return rng.integers(0, 256, shape_bytes, dtype=np.uint8)

    tensor("bf16.weight", raw((2, 2, 2, 6)), Q.BF16)                  # ne [3, 2, 2, 2]
    tensor("q8_0.weight", raw((3, 34 * 2)), Q.Q8_0)                   # ne [64, 3]
    tensor("q4_k.weight", raw((2, 144)), Q.Q4_K)                      # ne [256, 2]
    tensor("q2_k.weight", raw((3, 1, 84 * 2)), Q.Q2_K)                # ne [512, 1, 3]
    tensor("q6_k.weight", raw((1, 210 * 3)), Q.Q6_K)                  # ne [768, 1]
    tensor("iq2_xxs.weight", raw((2, 66)), Q.IQ2_XXS)                 # ne [256, 2]
    tensor("blk.0.ffn_gate_exps.weight", raw((3, 2, 144)), Q.Q4_K)   # ne [256, 2, 3]

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Expected tensors from what gguf-py itself reads back (types and ggml-order dims), with the
    # bytes we gave it.
    r = gguf.GGUFReader(path)
    want_tensors = []
    for rt, arr in zip(r.tensors, want_t):
        data = arr.tobytes()
        want_tensors.append({"name": rt.name, "type": rt.tensor_type.name,
                             "dims": [int(d) for d in rt.shape], "bytes": len(data),
                             "fnv1a64": fnv1a64(data)})
    return path, want_md, want_tensors


def test_gguf_py_to_dsk(tool, work):
    path, want_md, want_tensors = write_gguf_py_files(work)
    js = dsk_json(tool, path)
    compare_metadata("gguf-py -> dsk", want_md, dsk_metadata(js))
    compare_tensors("gguf-py -> dsk", want_tensors, js["tensors"])
    check(js["parts"][0]["alignment"] == 64, "gguf-py -> dsk: alignment")
    check([t["type"] for t in js["tensors"]][7:] ==
          ["BF16", "Q8_0", "Q4_K", "Q2_K", "Q6_K", "IQ2_XXS", "Q4_K"], "gguf-py -> dsk: quantized types")
    print(f"(a) gguf-py -> dsk: {len(want_md)} keys, {len(want_tensors)} tensors")

    # A split set written by gguf-py (3 tensors per shard, default alignment).
    split_base = os.path.join(work, "gguf_py_split.gguf")
    w = gguf.GGUFWriter(split_base, "deepseek2", split_max_tensors=3)
    w.add_block_count(2)
    w.add_array("py.arr", [1, 2, 3])
    rng = np.random.default_rng(7)
    arrays = []
    for i in range(8):
        a = rng.standard_normal((2, 4 + i)).astype(np.float32)
        w.add_tensor(f"t{i}", a)
        arrays.append(a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    parts = sorted(p for p in os.listdir(work) if p.startswith("gguf_py_split-"))
    check(parts == [f"gguf_py_split-0000{i}-of-00003.gguf" for i in (1, 2, 3)], f"gguf-py split names {parts}")
    for p in parts:
        js = dsk_json(tool, os.path.join(work, p))
        check(len(js["parts"]) == 3, f"gguf-py split via {p}: {len(js['parts'])} parts")
        check([t["name"] for t in js["tensors"]] == [f"t{i}" for i in range(8)], f"gguf-py split via {p}: names")
        for t, a in zip(js["tensors"], arrays):
            check(t["fnv1a64"] == fnv1a64(a.tobytes()), f"gguf-py split via {p}: {t['name']} bytes")
        md = {k: v for k, _, v in dsk_metadata(js)}
        check(md.get("split.count") == 3 and md.get("split.tensors.count") == 8, f"gguf-py split via {p}: split keys")
        check(md.get("deepseek2.block_count") == 2, f"gguf-py split via {p}: metadata of part 1")
    print(f"(a) gguf-py split set -> dsk: {len(parts)} parts")


# --- (b) dsk writes, gguf-py reads --------------------------------------------------------------

def decode_parts(vtype, parts):
    """Rebuilds a value in dsk's JSON form from GGUFReader's raw parts (gguf-py flattens nested
    arrays in ReaderField.contents(), so this walks the parts itself). Returns (value, rest)."""
    if vtype == T.STRING:
        return bytes(parts[1]).decode("utf-8"), parts[2:]
    if vtype == T.ARRAY:
        elem = T(int(parts[0][0]))
        n = int(parts[1][0])
        rest = parts[2:]
        values = []
        for _ in range(n):
            v, rest = decode_parts(elem, rest)
            values.append(v)
        return {"elem_type": elem.name, "values": values}, rest
    x = parts[0][0]
    if vtype == T.BOOL:
        return bool(x), parts[1:]
    if vtype in (T.FLOAT32, T.FLOAT64):
        return float(x), parts[1:]
    return int(x), parts[1:]


def gguf_py_view(path):
    r = gguf.GGUFReader(path)
    md = []
    for key, f in r.fields.items():
        if key.startswith("GGUF."):
            continue
        vtype = T(int(f.parts[2][0]))
        value, rest = decode_parts(vtype, f.parts[3:])
        assert not rest, key
        md.append((key, vtype.name, value))
    tensors = []
    for t in r.tensors:
        data = t.data.tobytes()
        tensors.append({"name": t.name, "type": t.tensor_type.name, "dims": [int(d) for d in t.shape],
                        "bytes": len(data), "fnv1a64": fnv1a64(data), "data_offset": int(t.data_offset)})
    return md, tensors


def test_dsk_to_gguf_py(tool, work):
    path = os.path.join(work, "dsk_sample.gguf")
    subprocess.run([tool, "write-sample", path], check=True)
    js = dsk_json(tool, path)
    md, tensors = gguf_py_view(path)
    compare_metadata("dsk -> gguf-py", dsk_metadata(js), md)
    compare_tensors("dsk -> gguf-py", js["tensors"], tensors)
    data_offset = js["parts"][0]["data_offset"]
    for t, g in zip(js["tensors"], tensors):
        check(data_offset + t["offset"] == g["data_offset"], f"dsk -> gguf-py: {t['name']} data offset")
    # Spot checks against known values, so a fault shared by both sides still shows.
    known = {k: v for k, _, v in md}
    check(known["deepseek2.block_count"] == 61, "dsk -> gguf-py: block_count")
    check(known["sample.i64"] == -(2**63), "dsk -> gguf-py: i64")
    check(known["sample.nested_3"]["values"][1]["values"][0]["values"] == ["y", "z"], "dsk -> gguf-py: nested")
    check(known["general.alignment"] == 64, "dsk -> gguf-py: alignment")
    check([t["type"] for t in tensors] ==
          ["F32", "F16", "BF16", "Q8_0", "Q4_K", "Q2_K", "Q6_K", "IQ2_XXS", "I32"], "dsk -> gguf-py: types")
    print(f"(b) dsk -> gguf-py: {len(md)} keys, {len(tensors)} tensors")

    # A dsk split set: each part reads in gguf-py; together they hold dsk's merged table.
    prefix = os.path.join(work, "dsk_split")
    subprocess.run([tool, "write-sample", prefix, "--split", "3"], check=True)
    parts = [f"{prefix}-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    js = dsk_json(tool, parts[1])
    all_tensors = []
    for i, p in enumerate(parts):
        md, tensors = gguf_py_view(p)
        known = {k: v for k, _, v in md}
        check(known["split.no"] == i and known["split.count"] == 3 and known["split.tensors.count"] == 9,
              f"dsk split part {i + 1}: split keys")
        if i == 0:
            compare_metadata("dsk split -> gguf-py", dsk_metadata(js), md)
        all_tensors += tensors
    compare_tensors("dsk split -> gguf-py", js["tensors"], all_tensors)
    print(f"(b) dsk split set -> gguf-py: {len(parts)} parts, {len(all_tensors)} tensors")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: interop_test.py DSK_GGUF WORK_DIR")
    tool, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    print(f"gguf-py {importlib.metadata.version('gguf')}, numpy {np.__version__}")
    test_gguf_py_to_dsk(tool, work)
    test_dsk_to_gguf_py(tool, work)
    if failures:
        raise SystemExit(f"{len(failures)} interop check(s) failed")
    print("interop OK")


if __name__ == "__main__":
    main()
