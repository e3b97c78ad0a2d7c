"""Fine-tuning with a task head (E2.1): y* = argmax_y P(y | x; theta), predicted from the input alone.
(GPTClassifier, the same baseline on GPT, is in gpt_classifier.py; both train with
``classification_loss`` below: hard labels, or soft targets with a temperature for distillation.)

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
from tinyllm.models.base import GRAD_INPUTS, check_backward_args, check_num_labels
from tinyllm.models.bert import BERT, bert_param_shapes
from tinyllm.models.config import BERTConfig
from tinyllm.models.inputs import check_labels
from tinyllm.ops.dropout import dropout_backward, dropout_forward
from tinyllm.ops.linear import linear_backward, linear_forward
from tinyllm.ops.losses import cross_entropy_backward, cross_entropy_forward
from tinyllm.ops.softmax import log_softmax_forward


def classification_loss(logits, labels, temperature=1.0):
    """The training loss of a classifier (E2.1), and its gradient with respect to the logits.

    logits: (B, K). labels: (B,) ints in [0, K), -100 = ignored; or (B, K) soft targets q (rows of
    probabilities, e.g. a teacher's, for distillation). With temperature tau the loss is

        -sum_k q_k log softmax(z / tau)_k     averaged over the rows, times tau**2

    (Hinton et al.'s scaling keeps the gradient's size independent of tau); hard labels are the
    one-hot q. Returns (loss as a Python float, dlogits (B, K)).
    """
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.floating)) \
            or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    tau = float(temperature)
    B, K = logits.shape
    z = logits / logits.dtype.type(tau)                                        # (B, K)
    q = np.asarray(labels) if isinstance(labels, (list, tuple)) else labels
    if isinstance(q, np.ndarray) and np.issubdtype(q.dtype, np.floating):
        if q.shape != (B, K):
            raise ValueError(f"soft targets must have shape (B, num_labels) = {(B, K)}, got {q.shape}")
        if not np.isfinite(q).all() or (q < 0).any() or not np.allclose(q.sum(axis=1), 1.0, atol=1e-6):
            raise ValueError("soft targets must be rows of probabilities (finite, >= 0, each row summing to 1)")
        logp, c = log_softmax_forward(z)
        loss = -float(np.sum(q * logp)) / B * tau * tau
        dlogits = ((c["p"] - q) * (tau / B)).astype(logits.dtype)            # d(tau^2 CE)/dz * dz/dlogits
        return loss, dlogits
    q = check_labels("labels", q, (B,), K)
    loss, ce_cache = cross_entropy_forward(z, q)                               # S2
    return float(loss) * tau * tau, cross_entropy_backward(tau, ce_cache)


class BERTClassifier(BERT):
    """BERT encoder + [CLS] classification head (E2.1), trained with explicit forward and backward.

    >>> clf = BERTClassifier(BERTConfig.preset("tiny", vocab_size=100), num_labels=3)
    >>> logits = clf.forward(idx, attention_mask)          # (B, 3)
    >>> loss, grads = clf.loss_and_grads(idx, labels)      # labels (B,) in [0, 3), -100 = ignore
    >>> clf.predict(idx)                                   # (B,) argmax_y P(y | x)
    """

    def __init__(self, config, num_labels=2, seed=0, dtype=np.float32, params=None):
        self.num_labels = check_num_labels(num_labels)
        super().__init__(config, seed=seed, dtype=dtype, mlm_head=False, params=params)

    def param_shapes(self):
        C, K = self.config.d_model, self.num_labels
        shapes = bert_param_shapes(self.config, mlm_head=False)
        shapes.update({"pooler.W": (C, C), "pooler.b": (C,), "classifier.W": (C, K), "classifier.b": (K,)})
        return shapes

    # ------------------------------------------------------------ public face

    @classmethod
    def from_model(cls, bert, num_labels, seed=0):
        """A classifier that starts from a (pre-trained) BERT: a copy of its encoder weights, a new
        pooler and classifier drawn from ``seed`` (E2.1: fine-tuning starts from theta_pretrained).
        The MLM head, if any, is dropped; the source model is not changed."""
        if not isinstance(bert, BERT):
            raise TypeError(f"from_model needs a BERT, got {type(bert).__name__}")
        clf = cls(bert.config, num_labels=num_labels, seed=seed, dtype=bert.dtype)
        for name in bert_param_shapes(bert.config, mlm_head=False):
            clf.params[name] = bert.params[name].copy()
        clf.training = bert.training
        return clf

    def head_param_names(self):
        """The parameters of the task head (pooler + classifier): what head-only fine-tuning trains."""
        return ["pooler.W", "pooler.b", "classifier.W", "classifier.b"]

    def forward(self, idx=None, attention_mask=None, token_type_ids=None, rng=None, inputs_embeds=None,
                past_kv=None):
        """Label scores (B, num_labels) for each sequence (arguments as in BERT.encode)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, rng=rng,
                                            token_type_ids=token_type_ids)
        return logits

    def predict(self, idx=None, attention_mask=None, token_type_ids=None):
        """y* = argmax_y P(y | x; theta) (E2.1), in evaluation mode -> (B,) int."""
        training, self.training = self.training, False
        try:
            return np.argmax(self.forward(idx, attention_mask, token_type_ids), axis=-1)
        finally:
            self.training = training

    def loss(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None, temperature=1.0):
        """The classification loss (see ``classification_loss``) of labels (B,) or soft targets (B, K)."""
        logits, _ = self.forward_with_cache(idx, attention_mask, rng=rng, token_type_ids=token_type_ids)
        return classification_loss(logits, labels, temperature)[0]

    def loss_and_grads(self, idx, labels, attention_mask=None, token_type_ids=None, rng=None,
                       inputs_embeds=None, past_kv=None, wrt=None, temperature=1.0):
        """The classification loss and its gradients (E2.1, full or head-only fine-tuning).

        labels: (B,) ints in [0, num_labels) (-100 = ignored), or (B, K) soft targets (rows of
        probabilities, distillation) with ``temperature`` (see ``classification_loss``).
        wrt: None = every parameter; or names among the parameters and "inputs_embeds" / "past_kv"
        (``head_param_names()`` for head-only fine-tuning). Returns (loss as a Python float, grads).
        """
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        logits, cache = self.forward_with_cache(idx, attention_mask, inputs_embeds, past_kv, rng=rng,
                                                token_type_ids=token_type_ids)
        loss, dlogits = classification_loss(logits, labels, temperature)
        return loss, self.backward(dlogits, cache, sorted(wanted))

    # ------------------------------------------------------------ forward and backward

    def forward_with_cache(self, idx=None, attention_mask=None, inputs_embeds=None, past_kv=None,
                           pos_offset=None, rng=None, token_type_ids=None):
        """Encoder, pooler on [CLS], classifier -> logits (B, num_labels) and the cache for backward."""
        p = self.params
        h, enc_cache = self._encode(idx, attention_mask, token_type_ids, rng, inputs_embeds, past_kv,
                                    pos_offset)
        z, c_pool = linear_forward(h[:, 0], p["pooler.W"], p["pooler.b"])    # (B, C)  [CLS] position
        u = np.tanh(z)
        drop = self._dropout_args(rng)
        d, c_drop = dropout_forward(u, drop["dropout"], drop["rng"], drop["training"])
        logits, c_cls = linear_forward(d, p["classifier.W"], p["classifier.b"])  # (B, K)
        cache = {"enc": enc_cache, "pool": c_pool, "u": u, "drop": c_drop, "cls": c_cls,
                 "logits_shape": logits.shape, "has_past": past_kv is not None}
        return logits, cache

    def backward(self, dlogits, cache, wrt=None):
        """Walk forward_with_cache in reverse: dlogits (B, K) -> exactly the wanted gradients
        (parameters, "inputs_embeds", "past_kv"); frozen blocks skip their weight gradients."""
        wanted = self._wanted(wrt, extra=GRAD_INPUTS)
        check_backward_args(dlogits, cache, wanted, self.dtype)
        grads = {}
        need_head = bool(wanted & set(self.head_param_names()))
        du, grads["classifier.W"], grads["classifier.b"] = linear_backward(dlogits, cache["cls"], need_head)
        du = dropout_backward(du, cache["drop"])
        u = cache["u"]
        dz = du * (1 - u * u)                                                  # u = tanh(z)
        dcls, grads["pooler.W"], grads["pooler.b"] = linear_backward(dz, cache["pool"], need_head)
        if wanted - set(self.head_param_names()):                             # else head-only: stop here
            B, T, C = cache["enc"]["shape"]
            dh = np.zeros((B, T, C), self.dtype)
            dh[:, 0] = dcls                                                    # only [CLS] feeds the head
            grads.update(self._encode_backward(dh, cache["enc"], wanted))
        return {k: grads[k] for k in self._in_order(wanted)}

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
        `dtype`: float32, float64 or "auto", and the stored precisions, as in ``GPT.from_pretrained``.
        Returns the model in evaluation mode.
        """
        hf_config, state = hf.read_folder(folder)
        dtype = hf.compute_dtype(dtype, hf_config, folder)
        config = hf.config_from_hf(BERTConfig, hf_config, folder, state)
        if num_labels is None:
            num_labels = len(hf_config.get("id2label") or {}) or hf_config.get("num_labels") or 2
        model = cls(config, num_labels=num_labels, seed=seed, dtype=dtype)
        shapes = model.param_shapes()
        params, skipped, missing_head = hf.bert_classifier_params_from_hf(state, config, shapes)
        model.params.update(hf.converted(params, dtype, folder))
        model.skipped_keys, model.initialized_keys = skipped, missing_head
        if missing_head:
            warnings.warn(f"{folder}: the checkpoint has no {missing_head}; they are newly initialised "
                          "and need training (fine-tuning, E2.1)", stacklevel=2)
        return model.eval()
