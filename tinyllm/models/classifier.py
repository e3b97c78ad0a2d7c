"""Fine-tuning with a task head (E2.1): y* = argmax_y P(y | x; theta), predicted from the input alone.

BERTClassifier is BERT's encoder plus the classification head of BertForSequenceClassification:

    h = Encoder(x)                                    (B, T, C)   bert.py (S8, S7, E3.1-E3.5)
    u = tanh(h[:, 0] W_p + b_p)                       (B, C)      the "pooler" on the [CLS] position
    logits = Drop(u) W_c + b_c                        (B, K)      one score per label
    P(y | x) = softmax(logits)_y                      trained with cross-entropy (S2)

Parameter names: the encoder's (bert.py, without the MLM head) plus ``pooler.W`` (C, C), ``pooler.b``,
``classifier.W`` (C, K), ``classifier.b`` (K,). Checkpoints use the BertForSequenceClassification
layout; any BERT folder (BertModel, BertForMaskedLM) can start a classifier, with the head parameters
it lacks freshly initialised (and a warning that says which).
"""

import warnings

import numpy as np

from tinyllm.models import hf
from tinyllm.models.base import check_dtype
from tinyllm.models.bert import BERT, bert_param_shapes
from tinyllm.models.config import BERTConfig
from tinyllm.models.inputs import check_labels
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.linear import linear_backward, linear_forward
from tinyllm.ops.losses import cross_entropy_backward, cross_entropy_forward


class BERTClassifier(BERT):
    """BERT encoder + [CLS] classification head (E2.1), trained with explicit forward and backward.

    >>> clf = BERTClassifier(BERTConfig.preset("tiny", vocab_size=100), num_labels=3)
    >>> logits = clf.forward(idx, attention_mask)          # (B, 3)
    >>> loss, grads = clf.loss_and_grads(idx, labels)      # labels (B,) in [0, 3), -100 = ignore
    >>> clf.predict(idx)                                   # (B,) argmax_y P(y | x)
    """

    def __init__(self, config, num_labels=2, seed=0, dtype=np.float32, params=None):
        if isinstance(num_labels, bool) or not isinstance(num_labels, (int, np.integer)) or num_labels < 1:
            raise ValueError(f"num_labels must be a positive int, got {num_labels!r}")
        self.num_labels = int(num_labels)
        super().__init__(config, seed=seed, dtype=dtype, mlm_head=False, params=params)

    def param_shapes(self):
        C, K = self.config.d_model, self.num_labels
        shapes = bert_param_shapes(self.config, mlm_head=False)
        shapes.update({"pooler.W": (C, C), "pooler.b": (C,), "classifier.W": (C, K), "classifier.b": (K,)})
        return shapes

    # ------------------------------------------------------------ public face

    def forward(self, idx=None, attention_mask=None, token_type_ids=None, rng=None, inputs_embeds=None,
                past_kv=None):
        """Label scores (B, num_labels) for each sequence (arguments as in BERT.encode)."""
        logits, _ = self._classify(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv)
        return logits

    def predict(self, idx=None, attention_mask=None, token_type_ids=None):
        """y* = argmax_y P(y | x; theta) (E2.1), in evaluation mode -> (B,) int."""
        training, self.training = self.training, False
        try:
            return np.argmax(self.forward(idx, attention_mask, token_type_ids), axis=-1)
        finally:
            self.training = training

    def loss(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None):
        """Mean cross-entropy (S2) of the labels (B,), -100 = ignored."""
        logits, _ = self._classify(idx, attention_mask, token_type_ids, rng, None, None)
        labels = check_labels("labels", labels, logits.shape[:1], self.num_labels)
        return float(cross_entropy_forward(logits, labels)[0])

    def loss_and_grads(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None,
                       inputs_embeds=None, past_kv=None, wrt=None):
        """Mean cross-entropy of `labels` (B,) in [0, num_labels) (-100 = ignored) and its gradients.

        wrt: None = every parameter; or names among the parameters and "inputs_embeds" / "past_kv".
        Returns (loss as a Python float, grads dict).
        """
        wanted = self._wanted(wrt, extra=("inputs_embeds", "past_kv"))
        logits, cache = self._classify(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv)
        labels = check_labels("labels", labels, logits.shape[:1], self.num_labels)
        loss, ce_cache = cross_entropy_forward(logits, labels)                 # S2
        dlogits = cross_entropy_backward(1.0, ce_cache)                        # (B, K)
        grads = {}
        c_pool, u, c_drop, c_cls, enc_cache = cache
        du, grads["classifier.W"], grads["classifier.b"] = linear_backward(dlogits, c_cls)
        du = dropout_backward(du, c_drop)
        dz = du * (1 - u * u)                                                  # u = tanh(z)
        dcls, grads["pooler.W"], grads["pooler.b"] = linear_backward(dz, c_pool)
        B, T, C = enc_cache["shape"]
        dh = np.zeros((B, T, C), self.dtype)
        dh[:, 0] = dcls                                                        # only [CLS] feeds the head
        grads.update(self._encode_backward(dh, enc_cache, wanted))
        return float(loss), {k: v for k, v in grads.items() if k in wanted}

    def _classify(self, idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv):
        p = self.params
        h, enc_cache = self._encode(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv)
        z, c_pool = linear_forward(h[:, 0], p["pooler.W"], p["pooler.b"])    # (B, C)  [CLS] position
        u = np.tanh(z)
        drop = self._dropout_args(rng)
        d, c_drop = dropout_forward(u, drop["dropout"], drop["rng"], drop["training"])
        logits, c_cls = linear_forward(d, p["classifier.W"], p["classifier.b"])  # (B, K)
        return logits, (c_pool, u, c_drop, c_cls, enc_cache)

    # ------------------------------------------------------------ checkpoints

    def save_pretrained(self, folder, tokenizer=None):
        """Write a Hugging Face BertForSequenceClassification folder."""
        hf_config = self.config.to_hf(with_mlm_head=False)
        hf_config.update(hf.classifier_config_fields(self.num_labels))
        hf_config["dtype"] = hf_config["torch_dtype"] = hf.hf_dtype_name(self.dtype)
        hf.write_folder(folder, hf_config, hf.bert_classifier_params_to_hf(self.params, self.config),
                        tokenizer=tokenizer, framing="cls_sep")

    @classmethod
    def from_pretrained(cls, folder, num_labels=None, dtype=np.float32, seed=0):
        """Load a BertForSequenceClassification folder, or start a classifier from any BERT folder.

        num_labels: default from config.json (id2label / num_labels), else 2. Head parameters the
        checkpoint lacks are initialised from `seed` and listed in ``model.initialized_keys``.
        Returns the model in evaluation mode.
        """
        hf_config, state = hf.read_folder(folder)
        config = hf.config_from_hf(BERTConfig, hf_config, folder)
        if num_labels is None:
            num_labels = len(hf_config.get("id2label") or {}) or hf_config.get("num_labels") or 2
        dtype = check_dtype(dtype)
        model = cls(config, num_labels=num_labels, seed=seed, dtype=dtype)
        shapes = model.param_shapes()
        params, skipped, missing_head = hf.bert_classifier_params_from_hf(state, config, shapes)
        for k, v in params.items():
            model.params[k] = np.ascontiguousarray(v, dtype=dtype)
        model.skipped_keys, model.initialized_keys = skipped, missing_head
        if missing_head:
            warnings.warn(f"{folder}: the checkpoint has no {missing_head}; they are newly initialised "
                          "and need training (fine-tuning, E2.1)", stacklevel=2)
        return model.eval()
