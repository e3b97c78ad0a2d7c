"""Soft prompt + head: prompt tuning (S12) whose output is read by a classification head (E2.1)
instead of a verbalizer; the encoder stays frozen. For sentence encoders such as all-MiniLM-L6-v2,
which were trained to be read by mean pooling and have no masked-LM head of their own.

    inputs   [CLS] P_1 ... P_m x_1 ... x_n [SEP]            P (m, C): the only encoder-side parameters
    h = Encoder(inputs)                                    (B, m + n + 2, C)   frozen (E3.1-E3.5, S7)
    u = sum_{i in text} h_i / (n + 2)                      (B, C)   mean over [CLS] x [SEP], not over P
    e = u / ||u||                                          (B, C)   unit norm, as sentence_embed.embed
    P(y | x) = softmax(e W + b)_y                          W (C, L), b (L,)                      (E2.1)
    J(P, W, b) = mean_n -log P(y_n | x_n) + (lam / 2) ||W||^2                                    (S2)

Without P (m = 0) the features are exactly ``sentence_embed.embed``'s, and the head is the linear
probe of ``linear_probe`` (the ``head-lr`` method). With P the encoder reads m extra vectors that
can move every text token's state (through attention): the soft prompt learns to bend the frozen
features toward the task, the head learns to read them.

Training (``fit``): the head starts as the linear probe fitted (full batch) on the features with the
initial P, then P, W and b train together by Adam (S9) on mini-batches. The gradient of P is the
encoder's backward with respect to its input embeddings (``wrt="inputs_embeds"``): no weight
gradient of the encoder is ever computed.
"""

import numpy as np

from tinyllm.prompt.linear_probe import fit_probe
from tinyllm.prompt.peft_module import word_ids
from tinyllm.prompt.pet import _count, _Epochs
from tinyllm.prompt.prompt_model import NonFiniteError
from tinyllm.train.optim import Adam

P_NAME, W_NAME, B_NAME = "soft.P", "head.W", "head.b"


class SoftPromptHead:
    """m soft vectors after [CLS] (S12) + a linear head (E2.1) on the mean-pooled, normalised states
    of a frozen BERT.

    >>> sph = SoftPromptHead(model, tok, num_labels=2, num_virtual_tokens=4, init_text="It was")
    >>> fit(sph, shots, steps=100, lr=1e-3)
    >>> sph.predict(test.texts)                               # (N,) argmax_y P(y | x)
    """

    def __init__(self, model, tokenizer, num_labels, num_virtual_tokens=4, init_text=None, seed=0,
                 max_len=128, l2=1e-2):
        from tinyllm.models import BERT

        if not isinstance(model, BERT):
            raise TypeError(f"soft prompt + head needs a tinyllm BERT (an encoder), got {type(model).__name__}")
        self.model, self.tokenizer = model, tokenizer
        self.num_labels = _count(num_labels, "num_labels", 2)
        self.m = _count(num_virtual_tokens, "num_virtual_tokens", 1, model.config.max_len - 3)
        self.max_len = min(_count(max_len, "max_len", 3), model.config.max_len - self.m)
        if not (isinstance(l2, (int, float)) and np.isfinite(l2) and l2 >= 0):
            raise ValueError(f"l2 must be a number >= 0, got {l2!r}")
        self.l2 = float(l2)
        E = model.params["tok_emb"]                                            # (V, C)
        rng = np.random.default_rng(int(seed))
        if init_text is None:                                                  # Lester et al.'s random init
            P = rng.standard_normal((self.m, E.shape[1])) * E.std()
        else:
            ids = tokenizer.encode(init_text) if isinstance(init_text, str) else list(init_text)
            if not ids:
                raise ValueError(f"init_text {init_text!r} gives no tokens")
            P = E[word_ids(self.m, ids, E.shape[0], (), rng, name="init_text")]  # repeated / cut to m
        C, L = E.shape[1], self.num_labels
        self.params = {P_NAME: np.array(P, dtype=model.dtype),                 # (m, C)
                       W_NAME: np.zeros((C, L), model.dtype),                  # (C, L)
                       B_NAME: np.zeros(L, model.dtype)}                       # (L,)

    # ------------------------------------------------------------ inputs

    def _frame(self, texts):
        """[CLS] [virtual]*m x [SEP], right-padded -> ids (B, T), attention mask (B, T), text mask (B, T)
        (1 on [CLS], x and [SEP]: the positions that are pooled)."""
        from tinyllm.prompt.template import encode_text

        tok, m = self.tokenizer, self.m
        seqs = [encode_text(tok, t)[: self.max_len - 2] for t in texts]
        T = m + 2 + max((len(s) for s in seqs), default=0)
        idx = np.full((len(seqs), T), tok.pad_id or 0, np.int64)
        am = np.zeros((len(seqs), T), np.int64)
        tm = np.zeros((len(seqs), T), self.model.dtype)
        for i, s in enumerate(seqs):
            n = len(s)
            idx[i, 0], idx[i, m + 1:m + 1 + n], idx[i, m + 1 + n] = tok.cls_id, s, tok.sep_id
            am[i, :m + 2 + n] = 1
            tm[i, 0], tm[i, m + 1:m + 2 + n] = 1, 1
        return idx, am, tm

    # ------------------------------------------------------------ forward and backward

    def features(self, texts, batch_size=64):
        """e(x; P) for each text -> (N, C), unit norm (no gradient kept)."""
        texts = _texts(texts)
        out = []
        for s in range(0, len(texts), batch_size):
            e, _ = self._features_forward(texts[s:s + batch_size])
            out.append(e)
        return np.concatenate(out) if out else np.zeros((0, self.model.config.d_model), self.model.dtype)

    def _features_forward(self, texts):
        idx, am, tm = self._frame(texts)
        embeds = self.model.embed_tokens(idx)                                  # (B, T, C)
        embeds[:, 1:1 + self.m] = self.params[P_NAME]                          # the soft prompt
        h, enc = self.model._encode(None, am, None, None, embeds, None)        # (B, T, C) frozen encoder
        n = tm.sum(axis=1, keepdims=True)                                      # (B, 1)
        u = (h * tm[..., None]).sum(axis=1) / n                                # (B, C) mean pooling
        r = np.linalg.norm(u, axis=1, keepdims=True)                           # (B, 1)
        e = u / r                                                              # (B, C)
        return e, (enc, tm, n, r, e)

    def logits(self, texts):
        """e(x; P) W + b -> (N, L)."""
        return self.features(texts) @ self.params[W_NAME] + self.params[B_NAME]

    def predict(self, texts):
        """argmax_y P(y | x) (E2.1) -> (N,) int."""
        return self.logits(texts).argmax(axis=1)

    def loss_and_grads(self, texts, labels):
        """J (the mean cross-entropy plus the L2 term on W) and its gradients {soft.P, head.W, head.b}."""
        texts, p = _texts(texts), self.params
        y = np.asarray(labels, dtype=np.int64)
        if y.shape != (len(texts),) or len(texts) == 0 or y.min() < 0 or y.max() >= self.num_labels:
            raise ValueError(f"labels must be {len(texts)} ints in [0, {self.num_labels})")
        e, (enc, tm, n, r, _) = self._features_forward(texts)
        z = e @ p[W_NAME] + p[B_NAME]                                          # (B, L)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))               # S1
        B = len(texts)
        loss = -float(logp[np.arange(B), y].mean()) + 0.5 * self.l2 * float((p[W_NAME] ** 2).sum())
        dz = np.exp(logp)
        dz[np.arange(B), y] -= 1.0                                             # S2: softmax - onehot
        dz /= B
        grads = {W_NAME: e.T @ dz + self.l2 * p[W_NAME], B_NAME: dz.sum(axis=0)}
        de = dz @ p[W_NAME].T                                                  # (B, C)
        du = (de - e * (e * de).sum(axis=1, keepdims=True)) / r                # through e = u / ||u||
        dh = tm[..., None] * (du / n)[:, None, :]                              # (B, T, C) mean pooling
        g = self.model._encode_backward(dh.astype(self.model.dtype), enc, {"inputs_embeds"})
        grads[P_NAME] = g["inputs_embeds"][:, 1:1 + self.m].sum(axis=0)         # (m, C) shared by the batch
        return loss, {k: grads[k].astype(self.model.dtype) for k in (P_NAME, W_NAME, B_NAME)}


def fit(sph, examples, steps, lr, batch_size=8, seed=0, probe_steps=300, probe_lr=0.1):
    """Train a SoftPromptHead on labelled examples (a dataset with ``texts``/``labels``): the head
    first as the linear probe on the features with the initial P (full batch), then P, W and b
    together by Adam on mini-batches. Returns the per-step losses; a non-finite loss is an error."""
    texts, labels = list(examples.texts), np.asarray(examples.labels, dtype=np.int64)
    steps, batch_size = _count(steps, "steps", 0), _count(batch_size, "batch_size", 1)
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a number > 0, got {lr!r}")
    W, b = fit_probe(sph.features(texts), labels, sph.num_labels, l2=sph.l2, steps=probe_steps, lr=probe_lr)
    sph.params[W_NAME][...], sph.params[B_NAME][...] = W, b
    opt = Adam(sph.params, lr=lr)
    order = _Epochs(len(texts), seed)
    losses = []
    for step in range(steps):
        batch = order.take(batch_size)
        loss, grads = sph.loss_and_grads([texts[i] for i in batch], labels[batch])
        if not np.isfinite(loss):
            raise NonFiniteError(f"step {step}: the soft prompt + head loss is {loss}: lower lr (was {lr})")
        opt.step(grads)
        losses.append(loss)
    return losses


def _texts(texts):
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be strings")
    return texts
