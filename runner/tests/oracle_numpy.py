#!/usr/bin/env python3
"""dsk-run vs an independent float64 numpy forward of deepseek2, on synthetic dsk-mkmodel files.

The oracle reads the GGUF with gguf-py's GGUFReader only (tensors dequantized with gguf.quants when not
F32; every hyperparameter from the deepseek2.* metadata) and follows llama.cpp / ik_llama.cpp semantics,
but formulates attention differently from dsk: NAIVE (non-absorbed) MLA, K_nope and V decompressed per
head from attn_kv_b when the file has it (ik layout), else from attn_k_b / attn_v_b (mainline layout).
RoPE is ggml's NORM mode (adjacent pairs) with ggml's rope_yarn (corr dims, ramp, ext_factor, mscale) and
deepseek2's attn_factor / kq_scale; MoE as llm_build_moe_ffn (softmax or sigmoid scores, exp_probs_b for
selection only, group-limited selection when expert_group_count > 1, normalization, scale, shared experts).

For each case: dsk-mkmodel makes the model, dsk-run dumps float32 logits of ~24 tokens (one prefill, and
--n-prefill 5 + decode); the bound is relative error <= 1e-5 and the same argmax at every position.
Near ties in the expert choice (k-th vs (k+1)-th selection score, or group cut) closer than 1e-5
relative make float32 vs float64 routing ill-posed: the case then FAILS with a message asking for
another seed (the bound is never loosened).
usage: oracle_numpy.py DSK_RUN DSK_MKMODEL WORKDIR
"""
import math
import os
import subprocess
import sys
import time

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType
from gguf.quants import dequantize

TIE_REL = 1e-5  # relative margin below which a routing choice counts as a near tie
REL_BOUND = 1e-5


class Model:
    def __init__(self, path):
        self.r = GGUFReader(path)
        self.t = {t.name: t for t in self.r.tensors}
        self.cache = {}
        f = self.r.fields
        arch = f["general.architecture"].contents()
        assert arch == "deepseek2", arch

        def kv(key, default=None):
            k = "deepseek2." + key
            if k in f:
                return f[k].contents()
            if default is None:
                raise KeyError(k)
            return default

        self.n_layer = int(kv("block_count")) - int(kv("nextn_predict_layers", 0))
        self.n_embd = int(kv("embedding_length"))
        self.n_head = int(kv("attention.head_count"))
        n_head_kv = int(kv("attention.head_count_kv", self.n_head))
        self.kv_lora = int(kv("attention.kv_lora_rank"))
        self.q_lora = int(kv("attention.q_lora_rank", 0))
        self.d_rope = int(kv("rope.dimension_count"))
        if n_head_kv == 1:  # mainline MLA layout
            self.layout = "mainline"
            self.d_qk = int(kv("attention.key_length_mla"))
            self.d_v = int(kv("attention.value_length_mla"))
            assert int(kv("attention.key_length")) == self.kv_lora + self.d_rope
            assert int(kv("attention.value_length")) == self.kv_lora
        else:
            assert n_head_kv == self.n_head
            self.layout = "ik"
            self.d_qk = int(kv("attention.key_length"))
            self.d_v = int(kv("attention.value_length"))
        self.d_nope = self.d_qk - self.d_rope
        self.eps = float(kv("attention.layer_norm_rms_epsilon"))
        # RoPE / YaRN (llama.cpp hparams + cparams defaults)
        self.freq_base = float(kv("rope.freq_base", 10000.0))
        scaling_type = kv("rope.scaling.type", "linear")
        factor = float(kv("rope.scaling.factor", 0.0))
        self.freq_scale = 1.0 if factor == 0.0 else 1.0 / factor
        self.n_ctx_orig = int(kv("rope.scaling.original_context_length", kv("context_length")))
        self.yarn_log_mul = float(kv("rope.scaling.yarn_log_multiplier", 0.0))
        self.beta_fast = float(kv("rope.scaling.yarn_beta_fast", 32.0))
        self.beta_slow = float(kv("rope.scaling.yarn_beta_slow", 1.0))
        ext = float(kv("rope.scaling.yarn_ext_factor", -1.0))
        self.ext_factor = (1.0 if scaling_type == "yarn" else 0.0) if ext < 0 else ext
        self.attn_factor = float(kv("rope.scaling.yarn_attn_factor", 1.0))
        self.scaling_type = scaling_type
        # MoE
        self.n_dense = int(kv("leading_dense_block_count", 0))
        self.n_expert = int(kv("expert_count", 0))
        self.n_used = int(kv("expert_used_count", 0)) if self.n_expert else 0
        self.n_shared = int(kv("expert_shared_count", 0))
        ws = float(kv("expert_weights_scale", 1.0))
        self.w_scale = 1.0 if ws == 0.0 else ws
        self.w_norm = bool(kv("expert_weights_norm", False))
        g = int(kv("expert_gating_func", 0))
        if g == 0:
            g = 2 if int(kv("block_count")) in (47, 48) else 1
        self.gating = g
        self.n_groups = int(kv("expert_group_count", 1))
        self.n_groups_used = int(kv("expert_group_used_count", 1))
        self.n_vocab = int(kv("vocab_size", 0)) or self.t["token_embd.weight"].data.shape[0]

    def has(self, name):
        return name in self.t

    def w(self, name):
        """The whole tensor as float64 in numpy order (ggml ne reversed)."""
        if name not in self.cache:
            t = self.t[name]
            if t.tensor_type == GGMLQuantizationType.F32:
                a = np.asarray(t.data, dtype=np.float64)
            else:
                a = dequantize(t.data, t.tensor_type).astype(np.float64)
            self.cache[name] = a
        return self.cache[name]

    def expert(self, name, e):
        """Matrix e of a 3-D expert tensor as float64 (only the experts used are read)."""
        t = self.t[name]
        if t.tensor_type == GGMLQuantizationType.F32:
            return np.asarray(t.data[e], dtype=np.float64)
        return dequantize(t.data[e], t.tensor_type).astype(np.float64)


def rms(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax(x, axis=-1):
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def rope_tables(m, positions):
    """cos/sin [T, d_rope/2] as ggml's rope_yarn, with deepseek2's attn_factor_scaled."""
    n_dims = m.d_rope

    def corr_dim(beta):
        return n_dims * math.log(m.n_ctx_orig / (beta * 2 * math.pi)) / (2 * math.log(m.freq_base))

    low = max(0.0, math.floor(corr_dim(m.beta_fast)))
    high = min(n_dims - 1.0, math.ceil(corr_dim(m.beta_slow)))
    # deepseek2 passes attn_factor_scaled = 1 / (1 + 0.1 ln(1/freq_scale)) to ggml_rope_ext
    attn_factor_scaled = 1.0 / (1.0 + 0.1 * math.log(1.0 / m.freq_scale))
    i = np.arange(n_dims // 2, dtype=np.float64)  # pair index = i0 / 2
    theta_ext = positions[:, None].astype(np.float64) * m.freq_base ** (-2.0 * i / n_dims)[None, :]
    theta_int = m.freq_scale * theta_ext
    mscale = attn_factor_scaled
    if m.ext_factor != 0.0:
        y = (i - low) / max(0.001, high - low)
        ramp = (1.0 - np.clip(y, 0.0, 1.0)) * m.ext_factor
        theta = theta_int * (1 - ramp) + theta_ext * ramp
        mscale *= 1.0 + 0.1 * math.log(1.0 / m.freq_scale)
    else:
        theta = theta_int
    return np.cos(theta) * mscale, np.sin(theta) * mscale, (low, high, mscale)


def rope(x, cos, sin):
    """NORM mode: pairs (x[2i], x[2i+1]); x [T, ..., d_rope], cos/sin [T, d_rope/2]."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (cos.shape[1],)
    c, s = cos.reshape(shape), sin.reshape(shape)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(m, tokens, stats):
    T = len(tokens)
    H, dn, dr, dv, L = m.n_head, m.d_nope, m.d_rope, m.d_v, m.kv_lora
    pos = np.arange(T)
    cos, sin, rinfo = rope_tables(m, pos)
    stats["rope"] = rinfo
    mscale = m.attn_factor * (1.0 + m.yarn_log_mul * math.log(1.0 / m.freq_scale))
    kq_scale = mscale * mscale / math.sqrt(dn + dr)
    stats["kq_scale"] = kq_scale
    emb = m.w("token_embd.weight")
    x = emb[np.asarray(tokens)].copy()  # [T, n_embd]
    causal = np.triu(np.ones((T, T), dtype=bool), 1)
    for il in range(m.n_layer):
        p = f"blk.{il}."
        # ---- attention (naive MLA) ----
        h = rms(x, m.w(p + "attn_norm.weight"), m.eps)
        if m.q_lora:
            cq = rms(h @ m.w(p + "attn_q_a.weight").T, m.w(p + "attn_q_a_norm.weight"), m.eps)
            q = cq @ m.w(p + "attn_q_b.weight").T
        else:
            q = h @ m.w(p + "attn_q.weight").T
        q = q.reshape(T, H, dn + dr)
        q_nope, q_pe = q[..., :dn], rope(q[..., dn:], cos, sin)
        kva = h @ m.w(p + "attn_kv_a_mqa.weight").T  # [T, L + dr] = [c_kv | k_rope]
        c_kv = rms(kva[:, :L], m.w(p + "attn_kv_a_norm.weight"), m.eps)
        k_pe = rope(kva[:, L:], cos, sin)  # [T, dr], shared by all heads
        if m.has(p + "attn_kv_b.weight"):
            kvb = m.w(p + "attn_kv_b.weight").reshape(H, dn + dv, L)  # per head rows [W_UK_h ; W_UV_h]
            w_uk, w_uv = kvb[:, :dn, :], kvb[:, dn:, :]
            if m.has(p + "attn_k_b.weight") and m.has(p + "attn_v_b.weight"):  # ik files carry both: consistent?
                d = max(np.max(np.abs(np.transpose(m.w(p + "attn_k_b.weight").reshape(H, L, dn), (0, 2, 1)) - w_uk)),
                        np.max(np.abs(m.w(p + "attn_v_b.weight").reshape(H, dv, L) - w_uv)))
                stats["kv_b_vs_k_b_v_b"] = max(stats.get("kv_b_vs_k_b_v_b", 0.0), float(d))
        else:
            w_uk = np.transpose(m.w(p + "attn_k_b.weight").reshape(H, L, dn), (0, 2, 1))  # [H, dn, L]
            w_uv = m.w(p + "attn_v_b.weight").reshape(H, dv, L)
        k_nope = np.einsum("hnc,tc->thn", w_uk, c_kv)  # [T, H, dn]
        v = np.einsum("hjc,tc->thj", w_uv, c_kv)  # [T, H, dv]
        K = np.concatenate([k_nope, np.broadcast_to(k_pe[:, None, :], (T, H, dr))], axis=-1)
        Q = np.concatenate([q_nope, q_pe], axis=-1)
        s = np.einsum("thd,shd->hts", Q, K) * kq_scale
        s[:, causal] = -np.inf
        P = softmax(s, axis=-1)
        o = np.einsum("hts,shj->thj", P, v).reshape(T, H * dv)
        x = x + o @ m.w(p + "attn_output.weight").T
        # ---- FFN ----
        h = rms(x, m.w(p + "ffn_norm.weight"), m.eps)
        if m.n_expert == 0 or il < m.n_dense:
            g = h @ m.w(p + "ffn_gate.weight").T
            u = h @ m.w(p + "ffn_up.weight").T
            x = x + (silu(g) * u) @ m.w(p + "ffn_down.weight").T
            continue
        logits = h @ m.w(p + "ffn_gate_inp.weight").T  # [T, n_expert]
        probs = 1.0 / (1.0 + np.exp(-logits)) if m.gating == 2 else softmax(logits, axis=-1)
        sel = probs + m.w(p + "exp_probs_b.bias") if m.has(p + "exp_probs_b.bias") else probs.copy()
        y = np.zeros_like(x)
        for t in range(T):
            st = sel[t].copy()
            if m.n_groups > 1:
                gs = st.reshape(m.n_groups, -1)
                gscore = np.sort(gs, axis=1)[:, -2:].sum(1) if m.gating == 2 else gs.max(1)
                order = np.argsort(-gscore, kind="stable")
                if m.n_groups_used < m.n_groups:
                    a, b = gscore[order[m.n_groups_used - 1]], gscore[order[m.n_groups_used]]
                    note_margin(stats, "group", il, t, a, b)
                keep = np.zeros(m.n_groups, dtype=bool)
                keep[order[: m.n_groups_used]] = True
                st = np.where(np.repeat(keep, m.n_expert // m.n_groups), st, -np.inf)
            order = np.argsort(-st, kind="stable")
            top = order[: m.n_used]
            if np.isfinite(st[order[m.n_used]]):
                note_margin(stats, "expert", il, t, st[order[m.n_used - 1]], st[order[m.n_used]])
            w = probs[t, top]
            if m.w_norm:
                w = w / w.sum()
            w = w * m.w_scale
            for e, we in zip(top, w):
                ge = m.expert(p + "ffn_gate_exps.weight", e) @ h[t]
                ue = m.expert(p + "ffn_up_exps.weight", e) @ h[t]
                y[t] += we * (m.expert(p + "ffn_down_exps.weight", e) @ (silu(ge) * ue))
        if m.n_shared:
            g = h @ m.w(p + "ffn_gate_shexp.weight").T
            u = h @ m.w(p + "ffn_up_shexp.weight").T
            y = y + (silu(g) * u) @ m.w(p + "ffn_down_shexp.weight").T
        x = x + y
    x = rms(x, m.w("output_norm.weight"), m.eps)
    out = m.w("output.weight") if m.has("output.weight") else emb
    return x @ out.T


def note_margin(stats, kind, il, t, a, b):
    rel = (a - b) / max(abs(a), 1e-30)
    key = "min_" + kind
    if key not in stats or rel < stats[key][0]:
        stats[key] = (rel, il, t)
    if rel < TIE_REL:
        stats.setdefault("ties", []).append(f"{kind} near tie: layer {il} token {t}: {float(a)!r} vs {float(b)!r} (rel {rel:.2e})")


def token_sequence(n_vocab, seed, n=24):
    return [(seed * 7919 + 131 * i * i + 17 * i + 3) % n_vocab for i in range(n)]


# (name, shape, layout, mix, seed). Seeds chosen (scan of seeds 1-6) for large routing margins: min relative
# margin of the k-th vs (k+1)-th selection score >= 3.7e-4, of the group cut >= 2.1e-4, top-1 logit gap >= 3.4e-3
# of max |logit| (tiny-384 seed 3, for instance, has a group near tie of 6.5e-6 at layer 2).
CASES = [
    ("tiny mainline f32 (q-LoRA, sigmoid + bias, norm, scale 2.5)", "tiny", "mainline", "f32", 4),
    ("tiny ik f32 (naive from attn_kv_b)", "tiny", "ik", "f32", 4),
    ("tiny-lite f32 (attn_q, softmax, 2 shared)", "tiny-lite", "mainline", "f32", 2),
    ("tiny-384 f32 (384 experts top-8, 8 groups keep 4, YaRN x40)", "tiny-384", "mainline", "f32", 5),
    ("tiny-lite ik bf16 (gguf.quants dequantization)", "tiny-lite", "ik", "bf16", 3),
]


def main():
    run, mkmodel, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    ok = True
    t_start = time.time()
    for name, shape, layout, mix, seed in CASES:
        gguf = os.path.join(work, f"{shape}-{layout}-{mix}-s{seed}.gguf")
        subprocess.run([mkmodel, "--shape", shape, "--layout", layout, "--mix", mix, "--seed", str(seed), "-o", gguf],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        m = Model(gguf)
        toks = token_sequence(m.n_vocab, seed)
        stats = {}
        want = forward(m, toks, stats)
        ties = stats.get("ties", [])
        for tie in ties:
            print(f"{name}: {tie}")
        srt = np.sort(want, axis=1)
        gap = np.min((srt[:, -1] - srt[:, -2]) / np.max(np.abs(want), axis=1))
        info = (f"[{m.layout}, q_lora {m.q_lora}, gating {m.gating}, groups {m.n_groups}/{m.n_groups_used}, "
                + (f"rope yarn x{1 / m.freq_scale:g} ext {m.ext_factor:g} corr dims {stats['rope'][0]:g}..{stats['rope'][1]:g}"
                   f" mscale {stats['rope'][2]:.6g}" if m.ext_factor else f"rope {m.scaling_type} scale {m.freq_scale:g}")
                + f", kq_scale {stats['kq_scale']:.6g}"
                + (f", max |kv_b - k_b/v_b| {stats['kv_b_vs_k_b_v_b']:g}" if "kv_b_vs_k_b_v_b" in stats else "")
                + f"; min routing margins: expert "
                f"{stats.get('min_expert', (float('nan'),))[0]:.2e}"
                + (f", group {stats['min_group'][0]:.2e}" if "min_group" in stats else "")
                + f"; min top-1 logit gap {gap:.2e}]")
        print(f"{name} seed {seed}: {info}")
        for mode, extra in (("prefill", []), ("--n-prefill 5 + decode", ["--n-prefill", "5"])):
            out = os.path.join(work, "logits.bin")
            subprocess.run([run, "-m", gguf, "--tokens", ",".join(map(str, toks)), "-n", "0", "--dump-logits", out,
                            "-t", "2"] + extra, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            got = np.fromfile(out, dtype="<f4").reshape(len(toks), m.n_vocab).astype(np.float64)
            rel = np.linalg.norm(got - want) / np.linalg.norm(want)
            rows = np.linalg.norm(got - want, axis=1) / np.linalg.norm(want, axis=1)
            same = int(np.sum(got.argmax(1) == want.argmax(1)))
            good = rel <= REL_BOUND and same == len(toks) and not ties
            ok &= good
            verdict = "ok" if good else ("FAIL (near tie in routing: pick another seed)" if ties else "FAIL")
            print(f"  {mode}: relative error {rel:.3e} (worst position {rows.max():.3e} at {int(rows.argmax())}), "
                  f"argmax equal at {same}/{len(toks)} positions {verdict}")
        os.remove(gguf)
    print(f"total {time.time() - t_start:.1f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
