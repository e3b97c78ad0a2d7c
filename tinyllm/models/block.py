"""The Transformer block (S7): multi-head self-attention and a feed-forward network, each wrapped in a
residual connection and a LayerNorm (article §3.1: "stacked self-attention and feed-forward networks").

    pre-LN  (GPT-2):  x1 = x + Drop(MHA(LN_1(x)))         y = x1 + Drop(FFN(LN_2(x1)))
    post-LN (BERT):   x1 = LN_1(x + Drop(MHA(x)))         y = LN_2(x1 + Drop(FFN(x1)))

MHA is E3.1-E3.5 (tinyllm.ops.multihead is its readable reference), FFN is S6, LN is S4. The block
runs them on the fast path: the fused C kernels of tinyllm.kernels.fused (the NumPy reference under
``tinyllm.kernels.use("numpy")``), Q, K and V from one (C, 3C) product, and the attention kernel of
tinyllm.kernels, which reads the heads from that product and writes them merged (no split or
merge copies). The block's parameters are a dict with local names (``ln_1.gamma``, ``attn.W_Q``,
``ffn.W_1``, ...); the models add the ``h.{i}.`` prefix.
"""

import numpy as np

from tinyllm.kernels import fused
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.multihead import append_past, merge_heads, split_heads, split_qkv

PARAM_SHAPES = {
    "ln_1.gamma": ("C",), "ln_1.beta": ("C",),
    "attn.W_Q": ("C", "C"), "attn.b_Q": ("C",),
    "attn.W_K": ("C", "C"), "attn.b_K": ("C",),
    "attn.W_V": ("C", "C"), "attn.b_V": ("C",),
    "attn.W_O": ("C", "C"), "attn.b_O": ("C",),
    "ln_2.gamma": ("C",), "ln_2.beta": ("C",),
    "ffn.W_1": ("C", "F"), "ffn.b_1": ("F",),
    "ffn.W_2": ("F", "C"), "ffn.b_2": ("C",),
}


def attention_kernel():
    """The attention implementation the models use: the ``tinyllm.kernels`` dispatch (the fastest
    backend available, or the one chosen with ``tinyllm.kernels.use``), else the NumPy reference."""
    try:
        import tinyllm.kernels as kernels
    except ImportError:
        from tinyllm.ops import attention as kernels
    return kernels


def block_param_shapes(d_model, d_ff):
    """Local parameter name -> shape for one block with width C = d_model and FFN width F = d_ff."""
    sizes = {"C": d_model, "F": d_ff}
    return {name: tuple(sizes[s] for s in shape) for name, shape in PARAM_SHAPES.items()}


def block_stack_shapes(config):
    """Prefixed name (``h.{i}.attn.W_Q`` ...) -> shape for all config.n_layer blocks."""
    local = block_param_shapes(config.d_model, config.d_ff)
    return {f"h.{i}.{name}": shape for i in range(config.n_layer) for name, shape in local.items()}


def _mha_forward(x, p, n_head, causal, key_mask, past_kv, kernel):
    """Multi-head self-attention (E3.1, E3.5, E3.4) with Q, K and V from one (C, 3C) product.

    The parameters stay W_Q, W_K, W_V (C, C) (the names Hugging Face import/export and the
    gradient checks use); each forward concatenates them into W_QKV (C, 3C), a 3C^2 copy that is
    small next to the (B, T, C) activations, so that x is read once and BLAS runs one larger call.
    Without a past_kv the kernel takes the (B, T, 3C) product as it is and returns the heads merged
    (attention_forward_packed: the cython kernel reads q, k, v and writes the (B, T, C) output
    through their strides, no split or merge copy); with one, the keys and values are concatenated
    after the past ones and the per-head attention_forward runs.
    cache: proj_qkv (the linear cache of W_QKV), attn (the kernel's cache), proj_o (of W_O), kernel,
    packed, P, present.
    """
    B, T, C = x.shape
    W_QKV = np.concatenate([p["attn.W_Q"], p["attn.W_K"], p["attn.W_V"]], axis=1)   # (C, 3C)
    b_QKV = np.concatenate([p["attn.b_Q"], p["attn.b_K"], p["attn.b_V"]])           # (3C,)
    QKV, c_qkv = fused.linear_forward(x, W_QKV, b_QKV)             # (B, T, 3C)   E3.1
    q, k, v = split_qkv(QKV, n_head)                               # (B, H, T, D) views, no copy
    P = 0
    packed = past_kv is None and hasattr(kernel, "attention_forward_packed")
    if packed:
        concat, c_attn = kernel.attention_forward_packed(QKV, n_head, causal=causal,
                                                         key_mask=key_mask)   # (B, T, C)  E3.5
    else:
        k, v, P = append_past(q, k, v, past_kv)                    # (B, H, P + T, D)
        heads, c_attn = kernel.attention_forward(q, k, v, causal=causal, key_mask=key_mask)  # E3.5
        concat = merge_heads(heads)                                # (B, T, C)   Concat(head_1..h)
    y, c_o = fused.linear_forward(concat, p["attn.W_O"], p["attn.b_O"])                  # E3.4
    return y, {"proj_qkv": c_qkv, "attn": c_attn, "proj_o": c_o, "kernel": kernel, "packed": packed,
               "P": P, "present": (k, v)}


def _mha_backward(dy, cache, need_dW):
    """Backward of _mha_forward: E3.4 -> E3.5 -> E3.1. dy (B, T, C) -> dx (B, T, C), the
    gradients of the eight attn.* parameters (None when frozen) and dpast (dk, dv) or None."""
    B, T, C = dy.shape
    P = cache["P"]
    dconcat, dW_O, db_O = fused.linear_backward(dy, cache["proj_o"], need_dW)          # E3.4
    dpast = None
    if cache["packed"]:
        dQKV = cache["kernel"].attention_backward_packed(dconcat, cache["attn"])      # (B, T, 3C)
    else:
        H = cache["present"][0].shape[1]
        dq, dk, dv = cache["kernel"].attention_backward(split_heads(dconcat, H), cache["attn"])  # E3.5
        if P:
            dpast = (dk[:, :, :P], dv[:, :, :P])
            dk, dv = dk[:, :, P:], dv[:, :, P:]
        dQKV = np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=2)
    dx, dW_QKV, db_QKV = fused.linear_backward(dQKV, cache["proj_qkv"], need_dW)
    g = {"W_O": dW_O, "b_O": db_O}
    for i, n in enumerate("QKV"):
        g["W_" + n] = None if dW_QKV is None else np.ascontiguousarray(dW_QKV[:, i * C:(i + 1) * C])
        g["b_" + n] = None if db_QKV is None else db_QKV[i * C:(i + 1) * C].copy()
    return dx, g, dpast


def _ffn_forward(x, p, activation):
    """S6: GELU(x W_1 + b_1) W_2 + b_2. cache: fc_1, gelu, fc_2 (the three ops' caches)."""
    h, c_1 = fused.linear_forward(x, p["ffn.W_1"], p["ffn.b_1"])   # (B, T, F)
    a, c_g = fused.gelu_forward(h, activation)                     # (B, T, F)   S5
    y, c_2 = fused.linear_forward(a, p["ffn.W_2"], p["ffn.b_2"])   # (B, T, C)
    return y, {"fc_1": c_1, "gelu": c_g, "fc_2": c_2}


def _ffn_backward(dy, cache, need_dW):
    """Backward of S6 in reverse: fc_2, GELU (written over its own input gradient), fc_1."""
    da, dW_2, db_2 = fused.linear_backward(dy, cache["fc_2"], need_dW)
    dh = fused.gelu_backward(da, cache["gelu"], overwrite_dy=True)  # da is ours: no new buffer
    dx, dW_1, db_1 = fused.linear_backward(dh, cache["fc_1"], need_dW)
    return dx, {"W_1": dW_1, "b_1": db_1, "W_2": dW_2, "b_2": db_2}


def block_forward(x, p, n_head, norm="pre", causal=False, key_mask=None, past_kv=None,
                  activation="tanh", eps=1e-5, dropout=0.0, rng=None, training=False, kernel=None):
    """One Transformer block. Implements S7 (pre-LN or post-LN) around E3.1-E3.5, S4 and S6.

    x: (B, T, C)   p: local name -> array (see PARAM_SHAPES)   key_mask: (B, P + T) bool or None
    past_kv: (k, v) each (B, H, P, D) or None, prepended to this block's keys and values.
    norm: "pre" (GPT-2) or "post" (BERT).   activation: GELU form of S5, "tanh" or "none".
    kernel: the attention implementation (default: ``attention_kernel()``). LayerNorm, GELU, the
    bias adds and sums run on the fused C kernels of tinyllm.kernels.fused unless the NumPy
    reference is selected (``tinyllm.kernels.use("numpy")``).
    Returns y (B, T, C) and the cache, whose keys follow the parameter names:
        norm        "pre" | "post"
        ln_1, ln_2  LayerNorm caches (x (B*T, C), mean, rstd (B*T,), gamma; or the reference's)
        attn        multi-head attention: proj_qkv, attn (kernel), proj_o, P, present
        ffn         fc_1, gelu, fc_2
        drop_1, drop_2  dropout masks (mask (B, T, C) or None)
        present     (k, v), each (B, H, P + T, D): this block's keys and values for a KV cache
    """
    kernel = attention_kernel() if kernel is None else kernel
    drop = dict(rng=rng, training=training)
    ln1 = (p["ln_1.gamma"], p["ln_1.beta"])
    ln2 = (p["ln_2.gamma"], p["ln_2.beta"])
    if norm == "pre":
        a, c_ln1 = fused.layernorm_forward(x, *ln1, eps)                            # (B, T, C)  S4
        m, c_att = _mha_forward(a, p, n_head, causal, key_mask, past_kv, kernel)    # E3.4
        m, c_d1 = dropout_forward(m, dropout, **drop)
        x1 = x + m                                                                  # S7 residual
        f, c_ln2 = fused.layernorm_forward(x1, *ln2, eps)
        f, c_ffn = _ffn_forward(f, p, activation)                                   # S6
        f, c_d2 = dropout_forward(f, dropout, **drop)
        f += x1                                                                     # y = x1 + f
        y = f
    elif norm == "post":
        m, c_att = _mha_forward(x, p, n_head, causal, key_mask, past_kv, kernel)    # E3.4
        m, c_d1 = dropout_forward(m, dropout, **drop)
        x1, c_ln1 = fused.layernorm_forward(x + m, *ln1, eps)                       # S7, S4
        f, c_ffn = _ffn_forward(x1, p, activation)                                  # S6
        f, c_d2 = dropout_forward(f, dropout, **drop)
        y, c_ln2 = fused.layernorm_forward(x1 + f, *ln2, eps)
    else:
        raise ValueError(f"block: norm must be 'pre' or 'post', got {norm!r}")
    cache = {"norm": norm, "ln_1": c_ln1, "attn": c_att, "drop_1": c_d1, "ln_2": c_ln2,
             "ffn": c_ffn, "drop_2": c_d2, "present": c_att["present"]}
    return y, cache


def block_backward(dy, cache, need_params=True):
    """Backward of S7, walking block_forward in reverse.

    dy: (B, T, C) -> dx (B, T, C), grads (local name -> array, same keys as PARAM_SHAPES),
    dpast (dk, dv) each (B, H, P, D), or None when the forward had no past_kv.
    need_params=False skips the weight gradients (a frozen block) and returns grads = {}.
    """
    g = {}
    if cache["norm"] == "pre":
        # y = x1 + Drop(FFN(LN_2(x1))): the residual passes dy straight to x1, the branch adds to it
        df = dropout_backward(dy, cache["drop_2"])
        df, g_ffn = _ffn_backward(df, cache["ffn"], need_params)
        dx1, g["ln_2.gamma"], g["ln_2.beta"] = fused.layernorm_backward(df, cache["ln_2"])
        dx1 += dy
        # x1 = x + Drop(MHA(LN_1(x)))
        dm = dropout_backward(dx1, cache["drop_1"])
        da, g_att, dpast = _mha_backward(dm, cache["attn"], need_params)
        dx, g["ln_1.gamma"], g["ln_1.beta"] = fused.layernorm_backward(da, cache["ln_1"])
        dx += dx1
    else:
        # y = LN_2(x1 + Drop(FFN(x1)))
        ds, g["ln_2.gamma"], g["ln_2.beta"] = fused.layernorm_backward(dy, cache["ln_2"])
        df = dropout_backward(ds, cache["drop_2"])
        dx1, g_ffn = _ffn_backward(df, cache["ffn"], need_params)
        dx1 += ds
        # x1 = LN_1(x + Drop(MHA(x)))
        ds, g["ln_1.gamma"], g["ln_1.beta"] = fused.layernorm_backward(dx1, cache["ln_1"])
        dm = dropout_backward(ds, cache["drop_1"])
        dx, g_att, dpast = _mha_backward(dm, cache["attn"], need_params)
        dx += ds
    g.update({"ffn." + k: v for k, v in g_ffn.items()})
    g.update({"attn." + k: v for k, v in g_att.items()})
    return dx, (g if need_params else {}), dpast
