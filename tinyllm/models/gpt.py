"""GPT: the GPT-2 architecture, a causal language model trained with the autoregressive loss E3.6.

    x_0 = E[idx] + P[positions]                        token + learned position embedding (S8)
    x_l = Block_l(x_{l-1}), l = 1..L                   pre-LN blocks, causal attention (S7, S3, E3.1-E3.5)
    logits = LN_f(x_L) E^T                             final LayerNorm, output projection tied to E (S8)
    P(x_i | x_<i) = softmax(logits_{i-1})_{x_i}        trained with E3.6 (cross-entropy S2)

Parameter names: ``tok_emb`` (V, C), ``pos_emb`` (max_len, C), ``h.{i}.ln_1.gamma``, ``h.{i}.attn.W_Q``
... (see block.py), ``ln_f.gamma``, ``ln_f.beta``. Every weight is stored (C_in, C_out).
"""

import numpy as np

from tinyllm.models import hf
from tinyllm.models.base import GRAD_INPUTS, Model, check_backward_args, scatter_rows
from tinyllm.models.block import block_stack_shapes
from tinyllm.models.config import GPTConfig
from tinyllm.models.inputs import (check_at, check_embeds, check_ids, check_labels, check_mask, check_past_kv,
                                   check_pos_offset, input_shape)
from tinyllm.kernels.fused import (cross_entropy_backward, cross_entropy_forward, embedding_backward,
                                   layernorm_backward, layernorm_forward, linear_backward, linear_forward)
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.embedding import embedding_forward


def gpt_param_shapes(config):
    """Parameter name -> shape of a GPT with this config."""
    C = config.d_model
    shapes = {"tok_emb": (config.vocab_size, C), "pos_emb": (config.max_len, C)}
    shapes.update(block_stack_shapes(config))
    shapes.update({"ln_f.gamma": (C,), "ln_f.beta": (C,)})
    return shapes


class GPT(Model):
    """GPT-2 style causal LM with explicit forward and backward passes (no autograd).

    >>> m = GPT(GPTConfig.preset("tiny", vocab_size=100), seed=0)
    >>> logits = m.forward(idx)                          # (B, T) -> (B, T, V)
    >>> loss, grads = m.loss_and_grads(idx, targets)     # E3.6 as a mean over non-ignored targets
    """

    config_class = GPTConfig

    def param_shapes(self):
        return gpt_param_shapes(self.config)

    def _residual_scale(self):
        return 1.0 / np.sqrt(2 * self.config.n_layer)

    # ------------------------------------------------------------ public face

    def forward(self, idx=None, attention_mask=None, rng=None, inputs_embeds=None, past_kv=None,
                pos_offset=None):
        """Next-token logits. idx (B, T) int -> (B, T, V); logits[:, t] scores token t + 1.

        attention_mask: optional (B, T) (or (B, P + T) with past_kv), 1 = real token, 0 = padding.
        inputs_embeds: (B, T, C) used instead of the token embedding E[idx] (soft prompts, S12).
        past_kv: optional per-layer (k, v) prefixes, each (B, H, P, D).
        pos_offset: position of the first token; None = P (a KV cache), 0 for a trained prefix (S12).
        """
        logits, _ = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, pos_offset,
                                            rng=rng)
        return logits

    def forward_cached(self, idx=None, past_kv=None, attention_mask=None, inputs_embeds=None,
                       pos_offset=None):
        """Incremental decoding with a KV cache, always in evaluation mode (no dropout).

        idx: (B, T) int, the new tokens (or inputs_embeds (B, T, C), e.g. a soft prompt, S12);
        past_kv: None or the `present` of the previous call, a list of n_layer pairs (k, v) each
        (B, H, P, D). Positions of the new tokens start at pos_offset (default P; a trained prefix
        in the cache takes no positions, so generation with one passes P - m).
        Returns logits (B, T, V) and present: the list of (k, v) each (B, H, P + T, D).
        """
        training, self.training = self.training, False
        try:
            logits, cache = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, pos_offset)
        finally:
            self.training = training
        return logits, [c["present"] for c in cache["blocks"]]

    def loss(self, idx, targets, attention_mask=None, rng=None):
        """Mean cross-entropy (S2) of `targets` (B, T) under the model, -100 = ignored: E3.6 when
        targets are the inputs shifted left (tinyllm.ops.causal_lm_targets)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, rng=rng)
        targets = check_labels("targets", targets, logits.shape[:2], self.config.vocab_size)
        return float(cross_entropy_forward(logits, targets)[0])

    def loss_and_grads(self, idx, targets, attention_mask=None, rng=None, inputs_embeds=None,
                       past_kv=None, wrt=None):
        """The loss E3.6 (mean NLL over targets != -100, S2) and its gradients.

        targets: (B, T) int, usually idx shifted left by one (tinyllm.ops.causal_lm_targets).
        wrt: None = every parameter (grads has exactly params' keys and shapes); or a list of names
             among the parameters and "inputs_embeds" (B, T, C) / "past_kv" (a list of (dk, dv)).
        Returns (loss as a Python float, grads dict).
        """
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        logits, cache = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, rng=rng)
        targets = check_labels("targets", targets, logits.shape[:2], self.config.vocab_size)
        loss, ce_cache = cross_entropy_forward(logits, targets, overwrite_logits=True)   # S2
        dlogits = cross_entropy_backward(1.0, ce_cache)                        # (B, T, V), in the logits' buffer
        return float(loss), self.backward(dlogits, cache, sorted(wanted))

    # ------------------------------------------------------------ forward and backward

    def forward_with_cache(self, idx=None, attention_mask=None, inputs_embeds=None, past_kv=None,
                           pos_offset=None, at=None, rng=None):
        """The forward pass with everything ``backward`` needs (S8, S7, the tied head).

        idx (B, T) int or inputs_embeds (B, T, C) (exactly one); past_kv: per-layer (k, v) each
        (B, H, P, D), a KV cache or a trained prefix (S12); pos_offset: position of the first token
        (None = P; a prefix passes 0 so the text keeps its pre-training positions);
        at: None -> logits (B, T, V), or an int array (n, 2) of (row, time) pairs -> logits (n, V),
        the final LayerNorm and the tied head run on those rows only.
        Returns (logits, cache).
        """
        p = self.params
        x, cache = self._hidden(idx, attention_mask, inputs_embeds, past_kv, pos_offset, rng)
        B, T, C = x.shape
        sel = None if at is None else check_at(at, B, T)
        if sel is not None:
            x = x[sel[:, 0], sel[:, 1]]                                        # (n, C)
        h, c_lnf = layernorm_forward(x, p["ln_f.gamma"], p["ln_f.beta"], self.config.layer_norm_eps)
        logits, c_head = linear_forward(h, p["tok_emb"].T)                     # (B, T, V) or (n, V)  tied, S8
        cache.update({"lnf": c_lnf, "head": c_head, "at": sel, "logits_shape": logits.shape})
        return logits, cache

    def backward(self, dlogits, cache, wrt=None):
        """Walk forward_with_cache in reverse. dlogits: the shape of the logits it returned.

        wrt: None = every parameter; or names among the parameters and "inputs_embeds" (B, T, C)
        (the gradient with respect to the token embeddings, given or looked up from E) and
        "past_kv" (a list of (dk, dv) each (B, H, P, D)). Returns exactly the wanted keys; weight
        gradients nobody asked for are not computed (a frozen model under a soft prompt, S12).
        """
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        check_backward_args(dlogits, cache, wanted, self.dtype)
        grads = {}
        need_E = "tok_emb" in wanted
        dh, dW_head, _ = linear_backward(dlogits, cache["head"], need_E)      # logits = h E^T
        dx, grads["ln_f.gamma"], grads["ln_f.beta"] = layernorm_backward(dh, cache["lnf"])
        dx = scatter_rows(dx, cache["at"], cache["shape"])                     # (B, T, C)
        self._hidden_backward(dx, cache, wanted, grads)
        if need_E:
            grads["tok_emb"] = grads["tok_emb"] + dW_head.T                    # E used twice (S8)
        return {k: grads[k] for k in self._in_order(wanted)}

    def _hidden(self, idx, attention_mask, inputs_embeds, past_kv, pos_offset, rng):
        """Embeddings (S8) and the block stack (S7): the final hidden states x_L (B, T, C), before
        ln_f, and a cache (the trunk that the LM head and GPTClassifier's head share)."""
        cfg, p = self.config, self.params
        input_shape(idx, inputs_embeds)
        P = 0 if past_kv is None else check_past_kv(
            "past_kv", past_kv, cfg.n_layer, cfg.n_head, cfg.head_dim, self.dtype)
        start = P if pos_offset is None else check_pos_offset(pos_offset)
        if inputs_embeds is None:
            idx = check_ids("idx", idx, cfg.vocab_size, cfg.max_len, past=start)
            tok, c_tok = embedding_forward(idx, p["tok_emb"])                  # (B, T, C)  S8
        else:
            tok = check_embeds("inputs_embeds", inputs_embeds, cfg.d_model, self.dtype, cfg.max_len, start)
            c_tok = None
        B, T, C = tok.shape
        if past_kv is not None and past_kv[0][0].shape[0] != B:
            raise ValueError(f"past_kv has batch size {past_kv[0][0].shape[0]} but the input has {B}")
        key_mask = None
        if attention_mask is not None:
            shape = (B, P + T) if (P and np.shape(attention_mask) == (B, P + T)) else (B, T)
            key_mask = check_mask("attention_mask", attention_mask, shape)
            if key_mask.shape[1] != P + T:
                key_mask = np.concatenate([np.ones((B, P), bool), key_mask], axis=1)   # (B, P + T)
        pos, c_pos = embedding_forward(np.arange(start, start + T), p["pos_emb"])   # (T, C)  S8
        drop = self._dropout_args(rng)
        x, c_drop = dropout_forward(tok + pos, drop["dropout"], drop["rng"], drop["training"])
        x, blocks = self._blocks_forward(x, "pre", True, key_mask, past_kv, drop)   # S7, pre-LN
        cache = {"tok": c_tok, "pos": c_pos, "drop": c_drop, "blocks": blocks, "shape": (B, T, C),
                 "has_past": past_kv is not None, "key_mask": key_mask}
        return x, cache

    def _hidden_backward(self, dx, cache, wanted, grads):
        """Backward of _hidden: dx (B, T, C) -> adds the wanted block and embedding gradients to
        ``grads``, plus "inputs_embeds" (the token embeddings' gradient) and "past_kv" (or Nones);
        "tok_emb" holds only the lookup's share (zero when inputs_embeds were given)."""
        dx, dpast = self._blocks_backward(dx, cache["blocks"], wanted, grads)
        dx = dropout_backward(dx, cache["drop"])                               # (B, T, C)
        if "pos_emb" in wanted:
            grads["pos_emb"] = embedding_backward(dx.sum(axis=0), cache["pos"])  # shared by the batch
        grads["inputs_embeds"] = dx
        if "tok_emb" in wanted:
            grads["tok_emb"] = (np.zeros_like(self.params["tok_emb"]) if cache["tok"] is None
                                else embedding_backward(dx, cache["tok"]))
        grads["past_kv"] = dpast
        return grads

    # ------------------------------------------------------------ checkpoints

    def save_pretrained(self, folder, tokenizer=None):
        """Write a Hugging Face GPT2LMHeadModel folder (config.json + model.safetensors); with a
        ``tokenizer``, its files too (a Hugging Face tokenizer.json that adds [BOS]) and its
        bos/eos/pad ids in config.json, so that transformers' ``pipeline`` and ``generate`` work."""
        hf_config = self.config.to_hf()
        hf_config["dtype"] = hf_config["torch_dtype"] = hf.hf_dtype_name(self.dtype)
        hf.write_folder(folder, hf_config, hf.gpt_params_to_hf(self.params, self.config),
                        tokenizer=tokenizer, framing="bos")

    @classmethod
    def from_pretrained(cls, folder, dtype=np.float32):
        """Load a Hugging Face GPT2LMHeadModel / GPT2Model folder (or one written by save_pretrained).

        `dtype`: the compute dtype, float32 or float64, or "auto" (float64 when config.json says the
        weights are float64, else float32). Stored weights of any float precision (F16, BF16, F32,
        F64) are converted to it; config.json's dtype/torch_dtype must name a float precision (a
        quantized checkpoint is refused). Returns the model in evaluation mode; `model.skipped_keys`
        lists checkpoint entries that are not parameters (attention-bias buffers)."""
        hf_config, state = hf.read_folder(folder)
        dtype = hf.compute_dtype(dtype, hf_config, folder)
        config = hf.config_from_hf(GPTConfig, hf_config, folder, state)
        params, skipped = hf.gpt_params_from_hf(state, config, gpt_param_shapes(config))
        params = hf.converted(params, dtype, folder)
        model = cls(config, dtype=dtype, params=params)
        model.skipped_keys = skipped
        return model.eval()
