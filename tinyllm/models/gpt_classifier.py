"""GPTClassifier: the fine-tuning baseline E2.1 on GPT, y* = argmax_y P(y | x; theta) from a task head.

A causal model's last real token is the only one that has read the whole input, so the head sits
there (as in GPT2ForSequenceClassification):

    x_L = Blocks(E[idx] + P[positions])              (B, T, C)   gpt.py (S8, S7, E3.1-E3.5)
    h = LN_f(x_L[b, last_b])                         (B, C)      last_b: the last non-padding token
    logits = h W_c + b_c                             (B, K)      one score per label
    P(y | x) = softmax(logits)_y                     trained with classification_loss (S2)

Parameter names: the GPT's (gpt.py; tok_emb still embeds the input, the LM head is unused) plus
``classifier.W`` (C, K) and ``classifier.b`` (K,).
"""

import numpy as np

from tinyllm.models.base import GRAD_INPUTS, check_backward_args, check_num_labels
from tinyllm.models.classifier import classification_loss
from tinyllm.models.gpt import GPT, gpt_param_shapes
from tinyllm.ops.layernorm import layernorm_backward, layernorm_forward
from tinyllm.ops.linear import linear_backward, linear_forward


class GPTClassifier(GPT):
    """GPT trunk + a classification head on the last non-padding token (E2.1).

    >>> clf = GPTClassifier.from_model(gpt, num_labels=2, seed=0)   # start from a pre-trained GPT
    >>> logits = clf.forward(idx, attention_mask)                  # (B, 2)
    >>> loss, grads = clf.loss_and_grads(idx, labels, wrt=clf.head_param_names())   # head-only
    """

    def __init__(self, config, num_labels=2, seed=0, dtype=np.float32, params=None):
        self.num_labels = check_num_labels(num_labels)
        super().__init__(config, seed=seed, dtype=dtype, params=params)

    def param_shapes(self):
        shapes = gpt_param_shapes(self.config)
        shapes.update({"classifier.W": (self.config.d_model, self.num_labels), "classifier.b": (self.num_labels,)})
        return shapes

    @classmethod
    def from_model(cls, gpt, num_labels, seed=0):
        """A classifier that starts from a (pre-trained) GPT: a copy of its weights and a new head
        drawn from ``seed`` (E2.1: fine-tuning starts from theta_pretrained). The GPT is unchanged."""
        if not isinstance(gpt, GPT) or isinstance(gpt, GPTClassifier):
            raise TypeError(f"from_model needs a GPT language model, got {type(gpt).__name__}")
        clf = cls(gpt.config, num_labels=num_labels, seed=seed, dtype=gpt.dtype)
        for name in gpt_param_shapes(gpt.config):
            clf.params[name] = gpt.params[name].copy()
        clf.training = gpt.training
        return clf

    def head_param_names(self):
        """The parameters of the task head: what head-only fine-tuning trains."""
        return ["classifier.W", "classifier.b"]

    # ------------------------------------------------------------ public face

    def forward(self, idx=None, attention_mask=None, rng=None, inputs_embeds=None, past_kv=None,
                pos_offset=None):
        """Label scores (B, num_labels) (arguments as in GPT.forward)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, pos_offset, rng=rng)
        return logits

    def forward_cached(self, *args, **kwargs):
        raise TypeError("GPTClassifier scores whole sequences; forward_cached (generation) is GPT's")

    def predict(self, idx=None, attention_mask=None):
        """y* = argmax_y P(y | x; theta) (E2.1), in evaluation mode -> (B,) int."""
        training, self.training = self.training, False
        try:
            return np.argmax(self.forward(idx, attention_mask), axis=-1)
        finally:
            self.training = training

    def loss(self, idx, labels, attention_mask=None, rng=None, temperature=1.0):
        """The classification loss (classifier.classification_loss) of labels (B,) or soft targets (B, K)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, rng=rng)
        return classification_loss(logits, labels, temperature)[0]

    def loss_and_grads(self, idx, labels, attention_mask=None, wrt=None, temperature=1.0, rng=None,
                       inputs_embeds=None, past_kv=None):
        """The classification loss and its gradients (E2.1, full or head-only fine-tuning).

        labels: (B,) ints in [0, num_labels) (-100 = ignored), or (B, K) soft targets with
        ``temperature`` (distillation). wrt: None = every parameter; or names among the parameters
        and "inputs_embeds" / "past_kv" (``head_param_names()`` for head-only fine-tuning).
        Returns (loss as a Python float, grads dict).
        """
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        logits, cache = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, rng=rng)
        loss, dlogits = classification_loss(logits, labels, temperature)
        return loss, self.backward(dlogits, cache, sorted(wanted))

    # ------------------------------------------------------------ forward and backward

    def forward_with_cache(self, idx=None, attention_mask=None, inputs_embeds=None, past_kv=None,
                           pos_offset=None, rng=None):
        """Trunk, LN_f at each row's last non-padding token, the head -> logits (B, K) and a cache."""
        p = self.params
        x, cache = self._hidden(idx, attention_mask, inputs_embeds, past_kv, pos_offset, rng)
        B, T, C = x.shape
        last = self._last_tokens(cache["key_mask"], B, T)                      # (B,)
        h, c_lnf = layernorm_forward(x[np.arange(B), last], p["ln_f.gamma"], p["ln_f.beta"],
                                     self.config.layer_norm_eps)               # (B, C)
        logits, c_cls = linear_forward(h, p["classifier.W"], p["classifier.b"])  # (B, K)
        cache.update({"last": last, "lnf": c_lnf, "cls": c_cls, "logits_shape": logits.shape})
        return logits, cache

    def backward(self, dlogits, cache, wrt=None):
        """Walk forward_with_cache in reverse: dlogits (B, K) -> exactly the wanted gradients
        (parameters, "inputs_embeds", "past_kv"); head-only training stops at the head."""
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        check_backward_args(dlogits, cache, wanted, self.dtype)
        grads = {}
        dh, grads["classifier.W"], grads["classifier.b"] = linear_backward(
            dlogits, cache["cls"], bool(wanted & set(self.head_param_names())))
        if wanted - set(self.head_param_names()):
            dh, grads["ln_f.gamma"], grads["ln_f.beta"] = layernorm_backward(dh, cache["lnf"])
            B, T, C = cache["shape"]
            dx = np.zeros((B, T, C), self.dtype)
            dx[np.arange(B), cache["last"]] = dh                               # only the last tokens feed the head
            self._hidden_backward(dx, cache, wanted, grads)
        return {k: grads[k] for k in self._in_order(wanted)}

    @staticmethod
    def _last_tokens(key_mask, B, T):
        """Index of each row's last real token: the last 1 of the mask over the T new positions."""
        if key_mask is None:
            return np.full(B, T - 1)
        real = key_mask[:, -T:]                                                # (B, T)
        empty = np.flatnonzero(~real.any(axis=1))
        if empty.size:
            raise ValueError(f"attention_mask: row {int(empty[0])} has no real token; a classifier "
                             "needs at least one")
        return T - 1 - np.argmax(real[:, ::-1], axis=1)

    # ------------------------------------------------------------ checkpoints

    def save_pretrained(self, folder, tokenizer=None):
        raise NotImplementedError("GPTClassifier has no Hugging Face layout here; save its params "
                                  "with tinyllm.models.safetensors_io.save_file")

    @classmethod
    def from_pretrained(cls, folder, dtype=np.float32):
        raise NotImplementedError("start a GPTClassifier with GPTClassifier.from_model(GPT.from_pretrained(folder), "
                                  "num_labels)")
