"""Prefix tuning (S12; Li & Liang 2021): m trainable key/value vectors at every layer, which every
token of the input attends to. The model stays frozen; the prefix takes no positions from the text
(GPT runs with pos_offset=0), so x keeps the positions it had in pre-training.

    K_l = [K_prefix_l ; X W_K],  V_l = [V_prefix_l ; X W_V]         per layer l, (H, m + T, D)

With ``prefix_projection`` the prefix is reparameterised by an MLP (Li & Liang's P_theta = MLP(P'),
PEFT's PrefixEncoder), which trains more stably than the raw vectors:

    [K_1, V_1, ..., K_L, V_L] = tanh(P' W_1 + b_1) W_2 + b_2          P': (m, C) -> (m, 2 L C)

Without it the (m, 2 L C) matrix is the parameter itself, initialised with the keys and values the
frozen model computes for m real words (Li & Liang found real-word initialisation helps).
Layout of a row: (L, 2, H, D), the order of PEFT's past_key_values. Parameters: ``prefix.P`` and,
with the projection, ``prefix.W_1`` (C, h), ``prefix.b_1``, ``prefix.W_2`` (h, 2 L C), ``prefix.b_2``.
"""

import numpy as np

from tinyllm.prompt.mlp import mlp_backward, mlp_forward, mlp_init
from tinyllm.prompt.peft_module import PeftModule, special_ids_of, word_ids


class PrefixEncoder(PeftModule):
    """A trained prefix for every layer (S12). ``forward()`` -> list over layers of (k, v) each
    (1, H, m, D); ``backward(dpast)`` -> gradients of ``params``."""

    kind = "past_kv"

    def __init__(self, config, model, tokenizer=None, seed=0, init_ids=None, params=None):
        self.projection = bool(config.prefix_projection)
        self.hidden = int(config.encoder_hidden_size or model.config.d_model)
        super().__init__(config, model, seed, params)
        if self.params is None:
            self.params = self._init(model, tokenizer, init_ids)

    def param_shapes(self):
        m, C, width = self.num_virtual_tokens, self.d_model, 2 * self.n_layer * self.d_model
        if not self.projection:
            return {"prefix.P": (m, width)}
        return {"prefix.P": (m, C), "prefix.W_1": (C, self.hidden), "prefix.b_1": (self.hidden,),
                "prefix.W_2": (self.hidden, width), "prefix.b_2": (width,)}

    def _init(self, model, tokenizer, init_ids):
        rng = np.random.default_rng(self.seed)
        ids = word_ids(self.num_virtual_tokens, init_ids, self.vocab_size, special_ids_of(tokenizer), rng)
        if not self.projection:
            return {"prefix.P": _real_word_kv(model, ids)}
        params = {"prefix.P": model.params["tok_emb"][ids].astype(self.dtype)}
        params.update(mlp_init("prefix", (self.d_model, self.hidden, 2 * self.n_layer * self.d_model),
                               rng, self.dtype))
        return params

    def forward(self):
        """The prefix: a list of n_layer pairs (k, v), each (1, H, m, D), and a cache."""
        flat, c_mlp = self.params["prefix.P"], None                            # (m, 2 L C)
        if self.projection:
            flat, c_mlp = mlp_forward(flat, self.params, "prefix", 2, "tanh")
        m, L, H, D = self.num_virtual_tokens, self.n_layer, self.n_head, self.head_dim
        kv = flat.reshape(m, L, 2, H, D).transpose(1, 2, 3, 0, 4)             # (L, 2, H, m, D)
        return [(kv[l, 0][None].copy(), kv[l, 1][None].copy()) for l in range(L)], c_mlp

    def backward(self, dout, cache):
        """dout: list of n_layer pairs (dk, dv), each (1, H, m, D) (or (B, H, m, D), summed over B)
        -> gradients of every parameter."""
        m, L, H, D = self.num_virtual_tokens, self.n_layer, self.n_head, self.head_dim
        if not isinstance(dout, (list, tuple)) or len(dout) != L:
            got = len(dout) if isinstance(dout, (list, tuple)) else type(dout).__name__
            raise ValueError(f"dout must be a list of n_layer={L} (dk, dv) pairs, got {got}")
        shape = (H, m, D)
        d = np.stack([np.stack([self._check_dout(dk, shape, f"dout[{l}].k"),
                                self._check_dout(dv, shape, f"dout[{l}].v")])
                      for l, (dk, dv) in enumerate(dout)])                    # (L, 2, H, m, D)
        dflat = d.transpose(3, 0, 1, 2, 4).reshape(m, 2 * L * H * D)           # (m, 2 L C)
        if not self.projection:
            return {"prefix.P": dflat}
        dP, grads = mlp_backward(dflat, cache)
        grads["prefix.P"] = dP
        return grads


def _real_word_kv(model, ids):
    """The keys and values the frozen model computes for the words ``ids`` (positions 0..m-1), as one
    (m, 2 L C) matrix in the prefix layout: the direct prefix starts from real activations."""
    training, model.training = model.training, False
    try:
        if hasattr(model, "_hidden"):                                          # GPT
            _, cache = model._hidden(ids[None], None, None, None, None, None)
        else:                                                                  # BERT
            _, cache = model._encode(ids[None], None, None, None, None, None)
    finally:
        model.training = training
    kv = np.stack([np.stack(b["present"]) for b in cache["blocks"]])[:, :, 0]  # (L, 2, H, m, D)
    m = len(ids)
    return np.ascontiguousarray(kv.transpose(3, 0, 1, 2, 4).reshape(m, -1))
