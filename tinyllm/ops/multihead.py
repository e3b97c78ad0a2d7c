"""Multi-head attention (E3.1, E3.4, E3.5) as one forward/backward pair.

    Q = X W^Q,  K = X W^K,  V = X W^V                                   (E3.1)
    head_i = Attention(Q_i, K_i, V_i)                                    (E3.5)
    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O                 (E3.4)

The article writes head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V) with one small projection per head.
Stacking the h per-head matrices side by side gives one (C, C) matrix, so projecting once and then
cutting the result into h slices of width D = C / h ("split_heads") computes exactly the same heads.
"""

import numpy as np

from tinyllm.ops import attention as _reference_attention
from tinyllm.ops.linear import linear_backward, linear_forward


def split_heads(x, n_head):
    """(B, T, C) -> (B, H, T, D) with D = C / H: head i reads columns [i*D, (i+1)*D)."""
    B, T, C = x.shape
    if C % n_head:
        raise ValueError(f"split_heads: width C={C} is not divisible by n_head={n_head}")
    return x.reshape(B, T, n_head, C // n_head).transpose(0, 2, 1, 3)


def merge_heads(x):
    """(B, H, T, D) -> (B, T, H*D): the Concat(head_1, ..., head_h) of E3.4."""
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)


def split_qkv(qkv, n_head):
    """(B, T, 3C) -> q, k, v, each a (B, H, T, D) view (no copy) with D = C / H.

    qkv is the fused projection x [W_Q | W_K | W_V] + [b_Q | b_K | b_V] (E3.1): columns [0, C) are
    Q, [C, 2C) K and [2C, 3C) V, and head i of each reads its columns [i*D, (i+1)*D) (split_heads).
    """
    if not isinstance(qkv, np.ndarray) or qkv.ndim != 3:
        raise ValueError(f"split_qkv: qkv must be a (B, T, 3C) array, got "
                         f"{getattr(qkv, 'shape', type(qkv).__name__)}")
    if isinstance(n_head, bool) or not isinstance(n_head, (int, np.integer)) or n_head < 1:
        raise ValueError(f"split_qkv: n_head must be an int >= 1, got {n_head!r}")
    C3 = qkv.shape[2]
    if C3 == 0 or C3 % (3 * n_head):
        raise ValueError(f"split_qkv: the last axis of qkv {qkv.shape} must be 3C with C divisible by "
                         f"n_head={n_head}")
    C = C3 // 3
    return tuple(split_heads(qkv[:, :, i * C:(i + 1) * C], n_head) for i in range(3))


def attention_forward_packed(qkv, n_head, causal=False, key_mask=None, scale=None, kernel=None):
    """All h heads of E3.5 from one fused projection, heads merged: the reference definition.

        q, k, v = split_qkv(qkv)                       (B, H, T, D) each
        head_i = Attention(q_i, k_i, v_i)              E3.5 (E3.2, E3.3, S3)
        out = Concat(head_1, ..., head_h)              (B, T, C), the input of W^O in E3.4

    qkv: (B, T, 3C) (see split_qkv)   key_mask: (B, T) bool or None   kernel: an object with
    attention_forward/backward (default: the NumPy reference ``tinyllm.ops.attention``).
    The cython backend computes the same without the split and merge copies: its kernel reads q, k,
    v through their strides in qkv and writes the heads into out directly
    (``tinyllm.kernels.attention_forward_packed`` picks it).
    Returns out (B, T, C) and the cache: attn (the kernel's cache), kernel, n_head.
    """
    kernel = _reference_attention if kernel is None else kernel
    q, k, v = split_qkv(qkv, n_head)                       # (B, H, T, D) views
    heads, c_attn = kernel.attention_forward(q, k, v, causal=causal, key_mask=key_mask, scale=scale)
    return merge_heads(heads), {"attn": c_attn, "kernel": kernel, "n_head": n_head}


def attention_backward_packed(dout, cache):
    """Backward of attention_forward_packed: dout (B, T, C) -> dqkv (B, T, 3C), the gradient of the
    fused projection's output, [dQ | dK | dV] with the heads merged back in place."""
    dheads = split_heads(dout, cache["n_head"])            # (B, H, T, D)
    dq, dk, dv = cache["kernel"].attention_backward(dheads, cache["attn"])   # E3.5 (E3.2, E3.3)
    return np.concatenate([merge_heads(dq), merge_heads(dk), merge_heads(dv)], axis=2)


def append_past(q, k, v, past_kv):
    """Keys and values that come before this call's own (a KV cache, or a learned prefix, S12).

    q, k, v: (B, H, T, D); past_kv: None or (k_past, v_past), each (B, H, P, D).
    Returns k, v (B, H, P + T, D), the past first, and P (0 without a past_kv).
    """
    if past_kv is None:
        return k, v, 0
    k_past, v_past = past_kv
    if k_past.shape != v_past.shape or k_past.shape[:2] != q.shape[:2] or k_past.shape[3] != q.shape[3]:
        raise ValueError(f"multihead attention: past_kv must be two (B, H, P, D) = "
                         f"{q.shape[:2] + ('P', q.shape[3])} arrays, got {k_past.shape} and {v_past.shape}")
    return np.concatenate([k_past, k], axis=2), np.concatenate([v_past, v], axis=2), k_past.shape[2]


def multihead_attention_forward(x, W_Q, b_Q, W_K, b_K, W_V, b_V, W_O, b_O, n_head,
                                causal=False, key_mask=None, past_kv=None, kernel=None):
    """Self-attention with h heads. Implements E3.1, E3.5 and E3.4 (E3.2-E3.3 inside each head).

    x: (B, T, C)   W_Q, W_K, W_V, W_O: (C, C)   b_*: (C,)
    past_kv: optional (k_past, v_past), each (B, H, P, D): keys and values that come before this
             call's own (a KV cache during generation, or a learned prefix, S12).
    key_mask: (B, P + T) bool, True = keep.   kernel: an object with attention_forward/backward
             (default: the NumPy reference ``tinyllm.ops.attention``).
    Returns y (B, T, C) and the cache: proj_q, proj_k, proj_v, proj_o (the linear caches of W_Q,
    W_K, W_V, W_O), attn (the kernel's cache), kernel, n_head, P, and present = (k, v), each
    (B, H, P + T, D).
    """
    if x.ndim != 3:
        raise ValueError(f"multihead attention: x must be (B, T, C), got shape {x.shape}")
    kernel = _reference_attention if kernel is None else kernel
    Q, c_q = linear_forward(x, W_Q, b_Q)                   # (B, T, C)       E3.1
    K, c_k = linear_forward(x, W_K, b_K)                   # (B, T, C)
    V, c_v = linear_forward(x, W_V, b_V)                   # (B, T, C)
    q = split_heads(Q, n_head)                             # (B, H, T, D)
    k = split_heads(K, n_head)
    v = split_heads(V, n_head)
    k, v, P = append_past(q, k, v, past_kv)                # (B, H, P + T, D)
    heads, c_attn = kernel.attention_forward(q, k, v, causal=causal, key_mask=key_mask)  # E3.5
    concat = merge_heads(heads)                            # (B, T, C)       Concat(head_1..h)
    y, c_o = linear_forward(concat, W_O, b_O)              # (B, T, C)       E3.4
    cache = {"proj_q": c_q, "proj_k": c_k, "proj_v": c_v, "proj_o": c_o, "attn": c_attn,
             "kernel": kernel, "n_head": n_head, "P": P, "present": (k, v)}
    return y, cache


def multihead_attention_backward(dy, cache, need_dW=True):
    """Backward of E3.4 -> E3.5 -> E3.1, walking the forward in reverse.

    dy: (B, T, C) -> dict with dx (B, T, C); dW_Q, dW_K, dW_V, dW_O (C, C); db_Q, db_K, db_V, db_O (C,);
    dpast_k, dpast_v (B, H, P, D) or None. x fed all three projections, so dx is the sum of three paths.
    need_dW=False leaves the eight parameter gradients None (frozen weights, e.g. under a prefix, S12).
    """
    H, P = cache["n_head"], cache["P"]
    dconcat, dW_O, db_O = linear_backward(dy, cache["proj_o"], need_dW)          # E3.4
    dheads = split_heads(dconcat, H)                                        # (B, H, T, D)
    dq, dk, dv = cache["kernel"].attention_backward(dheads, cache["attn"])   # E3.5 (E3.2, E3.3)
    dpast_k = dpast_v = None
    if P:
        dpast_k, dk = dk[:, :, :P], dk[:, :, P:]
        dpast_v, dv = dv[:, :, :P], dv[:, :, P:]
    dxq, dW_Q, db_Q = linear_backward(merge_heads(dq), cache["proj_q"], need_dW)  # E3.1
    dxk, dW_K, db_K = linear_backward(merge_heads(dk), cache["proj_k"], need_dW)
    dxv, dW_V, db_V = linear_backward(merge_heads(dv), cache["proj_v"], need_dW)
    return {"dx": dxq + dxk + dxv,
            "dW_Q": dW_Q, "db_Q": db_Q, "dW_K": dW_K, "db_K": db_K,
            "dW_V": dW_V, "db_V": db_V, "dW_O": dW_O, "db_O": db_O,
            "dpast_k": dpast_k, "dpast_v": dpast_v}
