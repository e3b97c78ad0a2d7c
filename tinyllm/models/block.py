"""The Transformer block (S7): multi-head self-attention and a feed-forward network, each wrapped in a
residual connection and a LayerNorm (article §3.1: "stacked self-attention and feed-forward networks").

    pre-LN  (GPT-2):  x1 = x + Drop(MHA(LN_1(x)))         y = x1 + Drop(FFN(LN_2(x1)))
    post-LN (BERT):   x1 = LN_1(x + Drop(MHA(x)))         y = LN_2(x1 + Drop(FFN(x1)))

MHA is E3.1-E3.5 (tinyllm.ops.multihead), FFN is S6, LN is S4. The block's parameters are a dict with
local names (``ln_1.gamma``, ``attn.W_Q``, ``ffn.W_1``, ...); the models add the ``h.{i}.`` prefix.
"""

from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.ffn import ffn_backward, ffn_forward
from tinyllm.ops.layernorm import layernorm_backward, layernorm_forward
from tinyllm.ops.multihead import multihead_attention_backward, multihead_attention_forward

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
_ATTN = ("W_Q", "b_Q", "W_K", "b_K", "W_V", "b_V", "W_O", "b_O")


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


def _mha(x, p, n_head, causal, key_mask, past_kv, kernel):
    return multihead_attention_forward(x, *(p["attn." + n] for n in _ATTN), n_head, causal=causal,
                                       key_mask=key_mask, past_kv=past_kv, kernel=kernel)


def _ffn(x, p, activation):
    return ffn_forward(x, p["ffn.W_1"], p["ffn.b_1"], p["ffn.W_2"], p["ffn.b_2"], approximate=activation)


def block_forward(x, p, n_head, norm="pre", causal=False, key_mask=None, past_kv=None,
                  activation="tanh", eps=1e-5, dropout=0.0, rng=None, training=False, kernel=None):
    """One Transformer block. Implements S7 (pre-LN or post-LN) around E3.1-E3.5, S4 and S6.

    x: (B, T, C)   p: local name -> array (see PARAM_SHAPES)   key_mask: (B, P + T) bool or None
    past_kv: (k, v) each (B, H, P, D) or None, prepended to this block's keys and values.
    norm: "pre" (GPT-2) or "post" (BERT).   activation: GELU form of S5, "tanh" or "none".
    Returns y (B, T, C) and a cache; cache["present"] = (k, v), each (B, H, P + T, D).
    """
    drop = dict(rng=rng, training=training)
    ln1 = (p["ln_1.gamma"], p["ln_1.beta"])
    ln2 = (p["ln_2.gamma"], p["ln_2.beta"])
    if norm == "pre":
        a, c_ln1 = layernorm_forward(x, *ln1, eps)                                  # (B, T, C)  S4
        m, c_att = _mha(a, p, n_head, causal, key_mask, past_kv, kernel)            # E3.4
        m, c_d1 = dropout_forward(m, dropout, **drop)
        x1 = x + m                                                                  # S7 residual
        f, c_ln2 = layernorm_forward(x1, *ln2, eps)
        f, c_ffn = _ffn(f, p, activation)                                           # S6
        f, c_d2 = dropout_forward(f, dropout, **drop)
        y = x1 + f
    elif norm == "post":
        m, c_att = _mha(x, p, n_head, causal, key_mask, past_kv, kernel)            # E3.4
        m, c_d1 = dropout_forward(m, dropout, **drop)
        x1, c_ln1 = layernorm_forward(x + m, *ln1, eps)                             # S7, S4
        f, c_ffn = _ffn(x1, p, activation)                                          # S6
        f, c_d2 = dropout_forward(f, dropout, **drop)
        y, c_ln2 = layernorm_forward(x1 + f, *ln2, eps)
    else:
        raise ValueError(f"block: norm must be 'pre' or 'post', got {norm!r}")
    cache = {"norm": norm, "ln1": c_ln1, "att": c_att, "d1": c_d1, "ln2": c_ln2, "ffn": c_ffn,
             "d2": c_d2, "present": c_att["present"]}
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
        df = dropout_backward(dy, cache["d2"])
        df, g["ffn.W_1"], g["ffn.b_1"], g["ffn.W_2"], g["ffn.b_2"] = ffn_backward(
            df, cache["ffn"], need_params)
        dx1_branch, g["ln_2.gamma"], g["ln_2.beta"] = layernorm_backward(df, cache["ln2"])
        dx1 = dy + dx1_branch
        # x1 = x + Drop(MHA(LN_1(x)))
        dm = dropout_backward(dx1, cache["d1"])
        att = multihead_attention_backward(dm, cache["att"], need_params)
        dx_branch, g["ln_1.gamma"], g["ln_1.beta"] = layernorm_backward(att["dx"], cache["ln1"])
        dx = dx1 + dx_branch
    else:
        # y = LN_2(x1 + Drop(FFN(x1)))
        ds, g["ln_2.gamma"], g["ln_2.beta"] = layernorm_backward(dy, cache["ln2"])
        df = dropout_backward(ds, cache["d2"])
        dx1_branch, g["ffn.W_1"], g["ffn.b_1"], g["ffn.W_2"], g["ffn.b_2"] = ffn_backward(
            df, cache["ffn"], need_params)
        dx1 = ds + dx1_branch
        # x1 = LN_1(x + Drop(MHA(x)))
        ds, g["ln_1.gamma"], g["ln_1.beta"] = layernorm_backward(dx1, cache["ln1"])
        dm = dropout_backward(ds, cache["d1"])
        att = multihead_attention_backward(dm, cache["att"], need_params)
        dx = ds + att["dx"]
    for n in _ATTN:
        g["attn." + n] = att["d" + n]
    dpast = None if att["dpast_k"] is None else (att["dpast_k"], att["dpast_v"])
    return dx, (g if need_params else {}), dpast
