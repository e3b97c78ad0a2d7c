"""BERT: a bidirectional encoder trained with the masked-LM (autoencoding) loss E3.7.

    x_0 = LN_emb(E[idx] + P[positions] + S[segments])     three embeddings, then LayerNorm (S8, S4)
    x_l = Block_l(x_{l-1}), l = 1..L                      post-LN blocks, no causal mask (S7, E3.1-E3.5)
    t = LN_mlm(GELU(x_L W_T + b_T))                       MLM head transform (S5, S4)
    logits = t E^T + b_out                                decoder tied to the word embeddings E (S8)
    P(x_i | x_without_i) = softmax(logits_i)_{x_i}        at masked positions, E3.7 (cross-entropy S2)

Padding: attention_mask (B, T), 1 = token, 0 = padding, hides padded keys from every query (S3).

Parameter names: ``tok_emb`` (V, C), ``pos_emb`` (max_len, C), ``seg_emb`` (type_vocab_size, C),
``emb_ln.gamma/beta``, ``h.{i}.attn.W_Q`` ... (block.py), and the MLM head ``mlm.dense.W`` (C, C),
``mlm.dense.b``, ``mlm.ln.gamma/beta``, ``mlm.out_bias`` (V,). A model built with
``mlm_head=False`` (or loaded from a BertModel folder) is an encoder: ``encode`` works, ``forward``
and ``loss_and_grads`` raise.
"""

import numpy as np

from tinyllm.models import hf
from tinyllm.models.base import GRAD_INPUTS, Model, check_backward_args, scatter_rows
from tinyllm.models.block import block_stack_shapes
from tinyllm.models.config import BERTConfig
from tinyllm.models.inputs import (IGNORE_INDEX, check_at, check_embeds, check_ids, check_labels, check_mask,
                                   check_past_kv, check_pos_offset, input_shape)
from tinyllm.kernels.fused import (cross_entropy_backward, cross_entropy_forward, embedding_backward, gelu_backward,
                                   gelu_forward, layernorm_backward, layernorm_forward, linear_backward,
                                   linear_forward)
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.embedding import embedding_forward


def bert_param_shapes(config, mlm_head=True):
    """Parameter name -> shape of a BERT with this config (with or without the MLM head)."""
    C = config.d_model
    shapes = {"tok_emb": (config.vocab_size, C), "pos_emb": (config.max_len, C),
              "seg_emb": (config.type_vocab_size, C), "emb_ln.gamma": (C,), "emb_ln.beta": (C,)}
    shapes.update(block_stack_shapes(config))
    if mlm_head:
        shapes.update({"mlm.dense.W": (C, C), "mlm.dense.b": (C,), "mlm.ln.gamma": (C,),
                       "mlm.ln.beta": (C,), "mlm.out_bias": (config.vocab_size,)})
    return shapes


class BERT(Model):
    """BERT style masked LM (or encoder) with explicit forward and backward passes (no autograd).

    >>> b = BERT(BERTConfig.preset("tiny", vocab_size=100), seed=0)
    >>> logits = b.forward(idx, attention_mask)          # (B, T, V)
    >>> loss, grads = b.loss_and_grads(idx, labels)      # E3.7: labels -100 except at masked positions
    >>> h = b.encode(idx, attention_mask)                # (B, T, C) last hidden states
    """

    config_class = BERTConfig

    def __init__(self, config, seed=0, dtype=np.float32, mlm_head=True, params=None):
        self.has_mlm_head = bool(mlm_head)
        super().__init__(config, seed=seed, dtype=dtype, params=params)

    def param_shapes(self):
        return bert_param_shapes(self.config, self.has_mlm_head)

    # ------------------------------------------------------------ public face

    def encode(self, idx=None, attention_mask=None, token_type_ids=None, rng=None, inputs_embeds=None,
               past_kv=None):
        """Last hidden states (B, T, C): the contextual token representations of the encoder.

        idx (B, T) int; attention_mask (B, T) 1 = token, 0 = padding; token_type_ids (B, T) segment
        ids in [0, type_vocab_size), default 0. inputs_embeds (B, T, C) replaces E[idx] (S12).
        past_kv: optional per-layer key/value prefixes (k, v) each (B, H, P, D), seen by every query.
        """
        h, _ = self._encode(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv)
        return h

    def forward(self, idx=None, attention_mask=None, token_type_ids=None, rng=None, inputs_embeds=None,
                past_kv=None):
        """MLM logits (B, T, V) at every position (arguments as in `encode`)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, rng=rng,
                                            token_type_ids=token_type_ids)
        return logits

    def loss(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None):
        """The masked-LM loss E3.7 as a mean over positions with labels != -100."""
        loss, _, _ = self._loss(idx, labels, attention_mask, token_type_ids, rng, None, None)
        return float(loss)

    def loss_and_grads(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None,
                       inputs_embeds=None, past_kv=None, wrt=None):
        """The masked-LM loss E3.7 (mean NLL over labels != -100, S2) and its gradients.

        labels: (B, T) int, the original token at masked positions and -100 elsewhere (S10).
        wrt: None = every parameter (grads has exactly params' keys and shapes); or a list of names
             among the parameters and "inputs_embeds" (B, T, C) / "past_kv" (a list of (dk, dv)).
        The MLM head runs only on the labelled rows (the others do not enter the loss).
        Returns (loss as a Python float, grads dict).
        """
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        loss, ce_cache, cache = self._loss(idx, labels, attention_mask, token_type_ids, rng,
                                           inputs_embeds, past_kv)
        dlogits = cross_entropy_backward(1.0, ce_cache)                        # (n, V)  S2
        return float(loss), self.backward(dlogits, cache, sorted(wanted))

    # ------------------------------------------------------------ forward and backward

    def forward_with_cache(self, idx=None, attention_mask=None, inputs_embeds=None, past_kv=None,
                           pos_offset=None, at=None, rng=None, token_type_ids=None):
        """The forward pass (encoder, then the MLM head) with everything ``backward`` needs.

        idx (B, T) int or inputs_embeds (B, T, C) (exactly one); past_kv: per-layer (k, v) prefixes
        each (B, H, P, D), seen by every query and taking no positions (S12); pos_offset: position
        of the first token (None = 0); at: None -> logits (B, T, V), or an int array (n, 2) of
        (row, time) pairs -> logits (n, V), the MLM head run on those rows only ([MASK] slots).
        Returns (logits, cache).
        """
        self._require_head("forward_with_cache")
        h, enc_cache = self._encode(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv,
                                    pos_offset)
        B, T, C = h.shape
        sel = None if at is None else check_at(at, B, T)
        if sel is not None:
            h = h[sel[:, 0], sel[:, 1]]                                        # (n, C)
        logits, head_cache = self._head_forward(h)                             # (B, T, V) or (n, V)
        cache = {"enc": enc_cache, "head": head_cache, "at": sel, "shape": (B, T, C),
                 "logits_shape": logits.shape, "has_past": past_kv is not None}
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
        dh, grads, d_decoder = self._head_backward(dlogits, cache["head"], wanted)
        dh = scatter_rows(dh, cache["at"], cache["shape"])                     # (B, T, C)
        grads.update(self._encode_backward(dh, cache["enc"], wanted))
        if "tok_emb" in wanted:
            grads["tok_emb"] = grads["tok_emb"] + d_decoder                    # the two uses of E (S8)
        return {k: grads[k] for k in self._in_order(wanted)}

    # ------------------------------------------------------------ encoder

    def _require_head(self, what):
        if not self.has_mlm_head:
            raise RuntimeError(
                f"BERT.{what}: this model has no MLM head (it was built with mlm_head=False or loaded "
                "from a BertModel checkpoint); use encode() for the hidden states")

    def _encode(self, idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv, pos_offset=None):
        cfg, p = self.config, self.params
        input_shape(idx, inputs_embeds)
        start = 0 if pos_offset is None else check_pos_offset(pos_offset)
        if inputs_embeds is None:
            idx = check_ids("idx", idx, cfg.vocab_size, cfg.max_len, past=start)
            tok, c_tok = embedding_forward(idx, p["tok_emb"])                  # (B, T, C)  S8
        else:
            tok = check_embeds("inputs_embeds", inputs_embeds, cfg.d_model, self.dtype, cfg.max_len, start)
            c_tok = None
        B, T, _ = tok.shape
        if token_type_ids is None:
            token_type_ids = np.zeros((B, T), np.int64)
        else:
            token_type_ids = check_ids("token_type_ids", token_type_ids, cfg.type_vocab_size, cfg.max_len)
            if token_type_ids.shape != (B, T):
                raise ValueError(f"token_type_ids must have shape {(B, T)}, got {token_type_ids.shape}")
        P = 0
        if past_kv is not None:
            P = check_past_kv("past_kv", past_kv, cfg.n_layer, cfg.n_head, cfg.head_dim, self.dtype)
            if past_kv[0][0].shape[0] != B:
                raise ValueError(f"past_kv has batch size {past_kv[0][0].shape[0]} but the input has {B}")
        key_mask = None
        if attention_mask is not None:
            key_mask = check_mask("attention_mask", attention_mask, (B, T))     # (B, T)  S3
        if key_mask is not None and P:
            key_mask = np.concatenate([np.ones((B, P), bool), key_mask], axis=1)  # prefixes always seen
        pos, c_pos = embedding_forward(np.arange(start, start + T), p["pos_emb"])   # (T, C)  S8
        seg, c_seg = embedding_forward(token_type_ids, p["seg_emb"])           # (B, T, C)  S8
        x, c_ln = layernorm_forward(tok + pos + seg, p["emb_ln.gamma"], p["emb_ln.beta"], cfg.layer_norm_eps)
        drop = self._dropout_args(rng)
        x, c_drop = dropout_forward(x, drop["dropout"], drop["rng"], drop["training"])
        x, blocks = self._blocks_forward(x, "post", False, key_mask, past_kv, drop)  # S7, post-LN
        cache = {"tok": c_tok, "pos": c_pos, "seg": c_seg, "ln": c_ln, "drop": c_drop, "blocks": blocks,
                 "shape": (B, T, cfg.d_model)}
        return x, cache

    def _encode_backward(self, dx, cache, wanted):
        """Backward of _encode. dx (B, T, C) -> grads of the `wanted` embeddings and blocks, plus
        "inputs_embeds" (the token embeddings' gradient) and "past_kv" (per-layer pairs, or Nones);
        frozen blocks skip their weight gradients. With inputs_embeds the token table was not read:
        its gradient here is zero."""
        grads = {}
        dx, dpast = self._blocks_backward(dx, cache["blocks"], wanted, grads)
        dx = dropout_backward(dx, cache["drop"])
        dx, grads["emb_ln.gamma"], grads["emb_ln.beta"] = layernorm_backward(dx, cache["ln"])
        if "pos_emb" in wanted:
            grads["pos_emb"] = embedding_backward(dx.sum(axis=0), cache["pos"])  # shared by the batch
        if "seg_emb" in wanted:
            grads["seg_emb"] = embedding_backward(dx, cache["seg"])
        grads["inputs_embeds"] = dx
        if "tok_emb" in wanted:
            grads["tok_emb"] = (np.zeros_like(self.params["tok_emb"]) if cache["tok"] is None
                                else embedding_backward(dx, cache["tok"]))
        grads["past_kv"] = dpast
        return grads

    # ------------------------------------------------------------ MLM head

    def _head_forward(self, h):
        """h (..., C) -> logits (..., V): dense + GELU + LayerNorm, then the tied decoder (S8)."""
        cfg, p = self.config, self.params
        t, c_dense = linear_forward(h, p["mlm.dense.W"], p["mlm.dense.b"])
        t, c_act = gelu_forward(t, cfg.activation)                             # S5
        t, c_ln = layernorm_forward(t, p["mlm.ln.gamma"], p["mlm.ln.beta"], cfg.layer_norm_eps)
        logits, c_dec = linear_forward(t, p["tok_emb"].T, p["mlm.out_bias"])   # (..., V)  tied to E
        return logits, (c_dense, c_act, c_ln, c_dec)

    def _head_backward(self, dlogits, cache, wanted):
        """Backward of _head_forward -> dh, the head's grads, and the decoder's share of dE (V, C)
        (None when "tok_emb" is not wanted)."""
        c_dense, c_act, c_ln, c_dec = cache
        g = {}
        dt, dW_dec, g["mlm.out_bias"] = linear_backward(dlogits, c_dec, bool(wanted & {"tok_emb", "mlm.out_bias"}))
        dt, g["mlm.ln.gamma"], g["mlm.ln.beta"] = layernorm_backward(dt, c_ln)
        dt = gelu_backward(dt, c_act)
        dh, g["mlm.dense.W"], g["mlm.dense.b"] = linear_backward(dt, c_dense, bool(wanted & {"mlm.dense.W", "mlm.dense.b"}))
        return dh, g, None if dW_dec is None else dW_dec.T

    def _loss(self, idx, labels, attention_mask, token_type_ids, rng, inputs_embeds, past_kv):
        """E3.7 with the MLM head on the labelled positions only -> (loss, ce cache, forward cache)."""
        self._require_head("loss_and_grads")
        cfg = self.config
        input_shape(idx, inputs_embeds)                                        # exactly one of the two
        if idx is not None:
            idx = check_ids("idx", idx, cfg.vocab_size, cfg.max_len)           # before the labels' shape
        labels = check_labels("labels", labels, input_shape(idx, inputs_embeds), cfg.vocab_size)
        at = np.argwhere(labels != IGNORE_INDEX)                               # (n, 2) the masked positions
        logits, cache = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, at=at,
                                                rng=rng, token_type_ids=token_type_ids)   # (n, V)
        loss, ce_cache = cross_entropy_forward(logits, labels[at[:, 0], at[:, 1]],   # E3.7 as a mean, S2
                                               overwrite_logits=True)
        return loss, ce_cache, cache

    # ------------------------------------------------------------ checkpoints

    def save_pretrained(self, folder, tokenizer=None):
        """Write a Hugging Face folder: BertForMaskedLM with the MLM head, else BertModel."""
        hf_config = self.config.to_hf(with_mlm_head=self.has_mlm_head)
        hf_config["dtype"] = hf_config["torch_dtype"] = hf.hf_dtype_name(self.dtype)
        hf.write_folder(folder, hf_config, hf.bert_params_to_hf(self.params, self.config, self.has_mlm_head),
                        tokenizer=tokenizer, framing="cls_sep")

    @classmethod
    def from_pretrained(cls, folder, dtype=np.float32):
        """Load a Hugging Face BertForMaskedLM / BertModel folder (or one written by save_pretrained).

        A folder without the MLM head (BertModel) loads as an encoder: ``has_mlm_head`` is False, a
        warning says so, ``encode`` works and ``forward`` raises. Returns the model in evaluation
        mode; ``model.skipped_keys`` lists checkpoint entries that are not used (pooler, buffers).
        `dtype`: float32, float64 or "auto", and the stored precisions, as in ``GPT.from_pretrained``."""
        import warnings

        hf_config, state = hf.read_folder(folder)
        dtype = hf.compute_dtype(dtype, hf_config, folder)
        config = hf.config_from_hf(BERTConfig, hf_config, folder, state)
        params, has_head, skipped = hf.bert_params_from_hf(state, config, bert_param_shapes(config, True))
        params = hf.converted(params, dtype, folder)
        model = cls(config, dtype=dtype, mlm_head=has_head, params=params)
        model.skipped_keys = skipped
        if not has_head:
            warnings.warn(f"{folder}: no MLM head in the checkpoint (a BertModel); loaded as an encoder "
                          "only: use encode(), forward() will raise", stacklevel=2)
        return model.eval()
