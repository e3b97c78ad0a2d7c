"""A masked-LM head for a frozen encoder: MiniLM-L6 ships without one, and prompts (PET, AutoPrompt,
cloze zero-shot, E2.2 / S11) need P([MASK] = v | t(x)). This file trains BERT's own head on top of
the frozen encoder, from unlabelled text, and attaches it, so that the encoder becomes a tinyllm BERT
with an MLM head (``BERT.from_pretrained`` / ``zoo.load_folder`` / ``PromptModel`` accept its folder).

    x~ = S10(x)                                  15% of positions chosen; 80% [MASK], 10% random, 10% kept
    h = Encoder(x~)_i                  (C,)      the frozen encoder's last hidden state at a chosen position
    t = LN(GELU(h W_T + b_T))          (C,)      BERT's head transform: dense (E3.1 form), GELU (S5), LayerNorm (S4)
    logits = t E^T + b_out             (V,)      decoder tied to the encoder's own word embeddings E (S8); E frozen
    L = mean_i -log softmax(logits)_{x_i}        the masked-LM loss E3.7 (as a mean, S2)

Only W_T (C, C), b_T (C,), the LayerNorm's gamma/beta (C,) and b_out (V,) train. Because the encoder
is frozen, its hidden states at the chosen positions do not change during training: they are computed
once (``masked_states``, the expensive part: one encoder pass per sentence and masking) and the head
trains on those cached (n, C) rows (``train_head``), with the hand-written backward of the head
(``head_loss_and_grads``; tests/test_prompt_mlm_head.py checks it in float64 against central
differences). Masking is static (drawn once per pass, like the original BERT's data), ``n_masks``
passes per sentence.

    from tinyllm.prompt import mlm_head
    enc, tok = ...                                             # a BERT without its head (has_mlm_head False)
    H, y, masked = mlm_head.masked_states(enc, tok, texts, seed=0)   # (n, C), (n,), (n,) bool
    head, history = mlm_head.train_head(H, y, enc.params["tok_emb"], epochs=3, seed=0)
    model = mlm_head.attach(enc, head)                         # a BERT with has_mlm_head True
    mlm_head.cloze_accuracy(head, enc.params["tok_emb"], H_test, y_test)

Parameter names are BERT's (``mlm.dense.W`` ... ``mlm.out_bias``, tinyllm.models.bert), so the
attached model saves as a BertForMaskedLM folder that transformers also reads. ``save_head`` keeps
just the head (for MiniLM, 0.7 MB against the folder's 90 MB) and ``folder_from_head`` rebuilds the
folder from it and the encoder, with no training: the same weights on every machine.
"""

import time

import numpy as np

from tinyllm.data.masking import mlm_mask
from tinyllm.kernels.fused import (cross_entropy_backward, cross_entropy_forward, gelu_backward, gelu_forward,
                                   layernorm_backward, layernorm_forward, linear_backward, linear_forward)

HEAD_KEYS = ("mlm.dense.W", "mlm.dense.b", "mlm.ln.gamma", "mlm.ln.beta", "mlm.out_bias")


def init_head(d_model, vocab_size, seed=0, dtype=np.float32, unigram_counts=None):
    """The head's parameters, BERT's initialisation: W_T ~ N(0, 0.02^2), b_T = 0, gamma = 1, beta = 0.
    b_out is 0, or, with ``unigram_counts`` (V,), the log of the add-one smoothed unigram frequencies
    of the training labels (then the untrained head already predicts the unigram distribution when
    t E^T is small; a standard start for an output bias)."""
    if int(d_model) < 1 or int(vocab_size) < 2:
        raise ValueError(f"d_model must be >= 1 and vocab_size >= 2, got {d_model}, {vocab_size}")
    rng = np.random.default_rng(int(seed))
    C, V = int(d_model), int(vocab_size)
    out_bias = np.zeros(V, dtype)
    if unigram_counts is not None:
        counts = np.asarray(unigram_counts, dtype=np.float64)
        if counts.shape != (V,) or (counts < 0).any():
            raise ValueError(f"unigram_counts must be (V,) = ({V},) non-negative counts, got shape {counts.shape}")
        logp = np.log((counts + 1.0) / (counts.sum() + V))
        out_bias = (logp - logp.mean()).astype(dtype)
    return {"mlm.dense.W": (0.02 * rng.standard_normal((C, C))).astype(dtype), "mlm.dense.b": np.zeros(C, dtype),
            "mlm.ln.gamma": np.ones(C, dtype), "mlm.ln.beta": np.zeros(C, dtype), "mlm.out_bias": out_bias}


def _check_head(head, E):
    missing = [k for k in HEAD_KEYS if k not in head]
    if missing:
        raise ValueError(f"head: missing parameters {missing}; expected {list(HEAD_KEYS)}")
    V, C = E.shape
    want = {"mlm.dense.W": (C, C), "mlm.dense.b": (C,), "mlm.ln.gamma": (C,), "mlm.ln.beta": (C,), "mlm.out_bias": (V,)}
    for k, shape in want.items():
        if head[k].shape != shape or head[k].dtype != E.dtype:
            raise ValueError(f"head[{k!r}]: expected shape {shape} and dtype {E.dtype} (the embeddings'), "
                             f"got {head[k].shape} {head[k].dtype}")


def head_forward(head, E, h, activation="none", eps=1e-12):
    """Logits of the head: t = LN(GELU(h W_T + b_T)) (S5, S4), logits = t E^T + b_out (S8, tied).

    head: ``init_head``'s dict; E (V, C) the frozen word embeddings; h (n, C) hidden states.
    activation: "none" = exact erf GELU (BERT, MiniLM), "tanh" = GPT-2's form (S5).
    Returns logits (n, V) and the cache for ``head_backward``."""
    _check_head(head, E)
    if h.ndim != 2 or h.shape[1] != E.shape[1]:
        raise ValueError(f"h must be (n, C) with C = {E.shape[1]}, got shape {h.shape}")
    t, c_dense = linear_forward(h, head["mlm.dense.W"], head["mlm.dense.b"])      # (n, C)  E3.1 form
    t, c_act = gelu_forward(t, activation)                                          # (n, C)  S5
    t, c_ln = layernorm_forward(t, head["mlm.ln.gamma"], head["mlm.ln.beta"], eps)  # (n, C)  S4
    logits = t @ E.T                                                                # (n, V)  S8, tied to E
    logits += head["mlm.out_bias"]
    return logits, (c_dense, c_act, c_ln, t)


def head_backward(dlogits, cache, E):
    """Backward of ``head_forward`` for the head's parameters only (E is frozen: no dE).

    dlogits (n, V) -> grads {name: array} with ``HEAD_KEYS``'s names and shapes."""
    c_dense, c_act, c_ln, _ = cache
    g = {"mlm.out_bias": dlogits.sum(axis=0)}                                       # (V,)
    dt = dlogits @ E                                                                # (n, C)
    dt, g["mlm.ln.gamma"], g["mlm.ln.beta"] = layernorm_backward(dt, c_ln)          # S4
    dt = gelu_backward(dt, c_act)                                                   # S5
    _, g["mlm.dense.W"], g["mlm.dense.b"] = linear_backward(dt, c_dense)            # (C, C), (C,)
    return {k: g[k] for k in HEAD_KEYS}


def head_loss_and_grads(head, E, h, labels, activation="none", eps=1e-12):
    """The masked-LM loss E3.7 (mean NLL of the original tokens ``labels`` (n,) at the n rows of h,
    S2) and the head's gradients. Returns (loss as a Python float, grads)."""
    labels = np.asarray(labels)
    if labels.shape != (h.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be (n,) = ({h.shape[0]},) token ids, got {labels.shape} {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= E.shape[0]):
        raise ValueError(f"labels must be token ids in [0, {E.shape[0]}), got [{labels.min()}, {labels.max()}]")
    logits, cache = head_forward(head, E, h, activation, eps)
    loss, ce = cross_entropy_forward(logits, labels.astype(np.int64), overwrite_logits=True)   # E3.7, S2
    return float(loss), head_backward(cross_entropy_backward(1.0, ce), cache, E)


# ------------------------------------------------------------------ the frozen encoder's states, once


def frame(tokenizer, texts, max_len):
    """[CLS] tokens [SEP] per text (truncated to ``max_len``), as lists of ids."""
    out = []
    for text in texts:
        ids = tokenizer.encode(text)[: max_len - 2]
        out.append([tokenizer.cls_id] + ids + [tokenizer.sep_id])
    return out


def masked_states(encoder, tokenizer, texts, seed=0, n_masks=1, batch_size=64, max_len=128):
    """S10 masking of every text (``n_masks`` independent draws) and the frozen encoder's last hidden
    states at the chosen positions: the head's whole training set.

    Returns H (n, C) in the encoder's dtype, y (n,) int64 the original tokens (E3.7's targets), and
    masked (n,) bool, True where the input held [MASK] (80% of the rows; the others were replaced by a
    random token or kept, S10). Texts are batched by length (less padding); deterministic in seed."""
    if not texts:
        raise ValueError("texts: no text to mask")
    if int(n_masks) < 1:
        raise ValueError(f"n_masks must be >= 1, got {n_masks}")
    ids = frame(tokenizer, texts, max_len)
    order = np.argsort([len(x) for x in ids], kind="stable")
    special = sorted(tokenizer.special_ids)
    H, Y, M = [], [], []
    for p in range(int(n_masks)):
        rng = np.random.default_rng([int(seed), p])
        for s in range(0, len(order), batch_size):
            rows = [ids[i] for i in order[s:s + batch_size]]
            T = max(len(r) for r in rows)
            idx = np.full((len(rows), T), tokenizer.pad_id, np.int64)                  # (B, T)
            am = np.zeros((len(rows), T), np.int64)                                    # (B, T)
            for i, r in enumerate(rows):
                idx[i, :len(r)], am[i, :len(r)] = r, 1
            corrupted, labels = mlm_mask(idx, rng, vocab_size=encoder.config.vocab_size,
                                         mask_id=tokenizer.mask_id, special_ids=special, attention_mask=am)  # S10
            at = labels != -100                                                        # (B, T)
            h = encoder.encode(corrupted, attention_mask=am)                           # (B, T, C)
            H.append(h[at])
            Y.append(labels[at])
            M.append(corrupted[at] == tokenizer.mask_id)
    return np.concatenate(H), np.concatenate(Y), np.concatenate(M)


# ------------------------------------------------------------------ training and evaluation


def train_head(H, y, E, epochs=3, lr=1e-3, batch_size=256, weight_decay=0.01, seed=0, activation="none",
               eps=1e-12, warmup=0.05, progress=None):
    """Train the head on cached states: AdamW (S9), linear warm-up over ``warmup`` of the steps then
    cosine decay, shuffled mini-batches of ``batch_size`` rows, ``epochs`` passes over (H, y).
    b_out starts at the log unigram frequencies of y (``init_head``). Returns (head, history) with
    history a list of dicts (step, loss, seconds); progress(step, loss) is called every 50 steps."""
    from tinyllm.train.optim import AdamW
    from tinyllm.train.schedule import WarmupCosine

    H = np.asarray(H)
    if H.ndim != 2 or H.shape[0] != len(y) or H.shape[0] == 0:
        raise ValueError(f"H must be (n, C) with n = len(y) > 0, got {H.shape} and {len(y)} labels")
    y = np.asarray(y, dtype=np.int64)
    V, C = E.shape
    head = init_head(C, V, seed, E.dtype, unigram_counts=np.bincount(y, minlength=V))
    n = len(y)
    steps_per_epoch = -(-n // batch_size)
    total = int(epochs) * steps_per_epoch
    opt = AdamW(head, lr=lr, weight_decay=weight_decay)
    sched = WarmupCosine(lr, total, warmup=min(total, max(1, int(warmup * total))))
    rng = np.random.default_rng([int(seed), 3])
    history, step, t0, run = [], 0, time.perf_counter(), []
    for _ in range(int(epochs)):
        perm = rng.permutation(n)
        for s in range(0, n, batch_size):
            b = perm[s:s + batch_size]
            loss, grads = head_loss_and_grads(head, E, H[b], y[b], activation, eps)
            if not np.isfinite(loss):
                raise FloatingPointError(f"train_head: the loss became {loss} at step {step}")
            opt.step(grads, lr=sched(step))
            step += 1
            run.append(loss)
            if step % 50 == 0 or step == total:
                history.append({"step": step, "loss": float(np.mean(run)), "seconds": round(time.perf_counter() - t0, 1)})
                run = []
                if progress is not None:
                    progress(step, history[-1]["loss"])
    return head, history


def cloze_scores(head, E, H, y, activation="none", eps=1e-12, batch_size=512):
    """Top-1 accuracy and mean NLL (S2) of the head at held-out masked rows (H (n, C), y (n,))."""
    hits, nll = 0, 0.0
    for s in range(0, len(y), batch_size):
        logits, _ = head_forward(head, E, H[s:s + batch_size], activation, eps)           # (b, V)
        yb = np.asarray(y[s:s + batch_size], dtype=np.int64)
        hits += int((logits.argmax(axis=1) == yb).sum())
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        nll += float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(yb)), yb]).sum())
    return {"accuracy": hits / len(y), "nll": nll / len(y), "n": int(len(y))}


def cloze_accuracy(head, E, H, y, **kw):
    """Top-1 accuracy of the head's prediction at held-out masked rows."""
    return cloze_scores(head, E, H, y, **kw)["accuracy"]


def unigram_scores(train_y, test_y, vocab_size):
    """The baseline without context: always the most frequent training token (top-1 accuracy), and
    the add-one smoothed unigram distribution's mean NLL on the held-out targets."""
    counts = np.bincount(np.asarray(train_y, dtype=np.int64), minlength=vocab_size).astype(np.float64)
    logp = np.log((counts + 1.0) / (counts.sum() + vocab_size))
    test_y = np.asarray(test_y, dtype=np.int64)
    top = int(counts.argmax())
    return {"accuracy": float((test_y == top).mean()), "nll": float(-logp[test_y].mean()), "top_token": top,
            "n": int(len(test_y))}


def attach(encoder, head):
    """A tinyllm BERT with an MLM head: the encoder's parameters (shared, not copied) plus ``head``."""
    from tinyllm.models import BERT

    _check_head(head, encoder.params["tok_emb"])
    params = {**encoder.params, **{k: head[k] for k in HEAD_KEYS}}
    return BERT(encoder.config, dtype=encoder.dtype, mlm_head=True, params=params).eval()


def save_head(head, path):
    """Write only the head's parameters (``HEAD_KEYS``) to a .safetensors file."""
    from tinyllm.models.safetensors_io import save_file

    missing = [k for k in HEAD_KEYS if k not in head]
    if missing:
        raise ValueError(f"head: missing parameters {missing}; expected {list(HEAD_KEYS)}")
    save_file({k: np.ascontiguousarray(head[k]) for k in HEAD_KEYS}, path,
              metadata={"about": "the MLM head of tinyllm.prompt.mlm_head (decoder tied to the encoder's "
                                 "word embeddings, which are not in this file)"})


def load_head(path):
    """The head written by ``save_head`` (a clear error for a file without exactly its parameters)."""
    from tinyllm.models.safetensors_io import load_file

    tensors, _ = load_file(path)
    if set(tensors) != set(HEAD_KEYS):
        raise ValueError(f"{path}: expected exactly the head's parameters {list(HEAD_KEYS)}, "
                         f"got {sorted(tensors)}")
    return tensors


def _load_encoder(encoder_folder):
    import warnings

    from tinyllm.data import load_tokenizer
    from tinyllm.models import BERT

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                       # "no MLM head": that is the point here
        enc = BERT.from_pretrained(encoder_folder)
    if enc.has_mlm_head:
        raise ValueError(f"{encoder_folder}: the encoder already has an MLM head")
    return enc, load_tokenizer(encoder_folder)


def folder_from_head(encoder_folder, head_file, out):
    """The BertForMaskedLM folder ``out`` from the encoder at ``encoder_folder`` and a head saved by
    ``save_head`` (shape and dtype checked against the encoder's embeddings); no training."""
    enc, tok = _load_encoder(encoder_folder)
    model = attach(enc, load_head(head_file))
    model.save_pretrained(out, tokenizer=tok)
    return model


# ------------------------------------------------------------------ the whole recipe, one folder


def build_folder(encoder_folder, out, train_texts, heldout_texts, seed=0, n_masks=1, epochs=3, lr=1e-3,
                 batch_size=256, states_cache=None, progress=None):
    """Load the encoder at ``encoder_folder`` (a BertModel folder), compute its masked states on
    ``train_texts`` and ``heldout_texts`` (cached in ``states_cache``, an .npz, when given), train the
    head, and write a BertForMaskedLM folder ``out`` (config.json, model.safetensors, the tokenizer)
    plus ``out/mlm_head.json``: the recipe, the loss history, the held-out cloze scores (every chosen
    position, and the [MASK] ones) against the unigram baseline, and the seconds each part took.
    Returns that report (a dict)."""
    import json
    from pathlib import Path

    enc, tok = _load_encoder(encoder_folder)
    E, act, eps = enc.params["tok_emb"], enc.config.activation, enc.config.layer_norm_eps
    seconds = {}
    cached = states_cache is not None and Path(states_cache).exists()
    t0 = time.perf_counter()
    if cached:
        z = np.load(states_cache)
        H, y, Ht, yt, mt = z["H"], z["y"], z["H_test"], z["y_test"], z["masked_test"]
    else:
        H, y, _ = masked_states(enc, tok, list(train_texts), seed=seed, n_masks=n_masks)
        Ht, yt, mt = masked_states(enc, tok, list(heldout_texts), seed=seed + 1)
        if states_cache is not None:
            Path(states_cache).parent.mkdir(parents=True, exist_ok=True)
            np.savez(states_cache, H=H, y=y, H_test=Ht, y_test=yt, masked_test=mt)
    seconds["encoder_states"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    head, history = train_head(H, y, E, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, activation=act,
                               eps=eps, progress=progress)
    seconds["head_training"] = round(time.perf_counter() - t0, 1)
    scores = {"all": cloze_scores(head, E, Ht, yt, activation=act, eps=eps),
              "mask": cloze_scores(head, E, Ht[mt], yt[mt], activation=act, eps=eps)}
    base = {"all": unigram_scores(y, yt, E.shape[0]), "mask": unigram_scores(y, yt[mt], E.shape[0])}
    model = attach(enc, head)
    model.save_pretrained(out, tokenizer=tok)
    report = {"encoder": str(encoder_folder), "seed": seed, "n_masks": n_masks, "epochs": epochs, "lr": lr,
              "batch_size": batch_size, "n_train_texts": len(train_texts), "n_heldout_texts": len(heldout_texts),
              "train_rows": int(len(y)), "heldout_rows": int(len(yt)), "states_from_cache": bool(cached),
              "history": history, "cloze": scores, "unigram": base, "seconds": seconds,
              "top_token": tok.id_to_token(base["all"]["top_token"])}
    Path(out, "mlm_head.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
