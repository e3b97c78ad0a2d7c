"""Framing: from a document's token ids to the rows a model reads (article §3.2 step 3-4).

This module is the pure, stateless part of batching: it frames, shifts and pads given documents
into arrays. The stateful part (which documents go into the next batch, epochs, packing, resumable
state for the trainer) is ``tinyllm.train.batches``, which calls these functions.

Causal LM (E3.6, L = -sum_i log P(x_i | x_<i)): every document is read as ``[BOS] text [EOS]``
(``frame_causal``); the input is the sequence without its last token and the target is the
sequence shifted left by one, so position i predicts token i+1 (``causal_batch``). Positions with
nothing to predict carry the ignore index -100 (what ``tinyllm.ops.losses.cross_entropy_forward``
skips).

BERT (E3.7): ``bert_inputs`` frames ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` with segment
ids (token_type_ids) and pads a batch with an attention mask; ``tinyllm.data.masking`` corrupts it.
"""

import numpy as np

IGNORE_INDEX = -100


def _check_seqs(seqs, name="seqs"):
    if isinstance(seqs, np.ndarray) and seqs.ndim == 2:
        seqs = list(seqs)
    if isinstance(seqs, (str, bytes)) or not hasattr(seqs, "__iter__"):
        raise TypeError(f"{name} must be a list of token-id sequences, got {type(seqs).__name__}")
    out = []
    for k, s in enumerate(seqs):
        a = np.asarray(s)
        if a.ndim != 1 or (a.size and not np.issubdtype(a.dtype, np.integer)):
            raise TypeError(f"{name}[{k}] must be a 1-D sequence of ints, got shape {a.shape} "
                            f"dtype {a.dtype}")
        out.append(a.astype(np.int64))
    return out


def _check_int(value, name, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def frame_causal(ids, bos_id, eos_id):
    """``[BOS] ids [EOS]`` as a list (the reading of one document by a causal LM)."""
    return [bos_id] + list(ids) + [eos_id]


def causal_batch(seqs, pad_id, max_len=None):
    """One framed document per row, padded on the right. Implements the E3.6 shift.

    seqs: list of framed documents (``[BOS] ... [EOS]``), each of length n_i >= 2
    Returns ``x`` (B, T) and ``y`` (B, T) int64 with T = max(n_i) - 1 (or ``max_len`` if given;
    longer documents are cut), ``y[b, i] = seq_b[i + 1]`` and -100 where there is no next token.
    """
    seqs = _check_seqs(seqs)
    if not seqs:
        raise ValueError("seqs must not be empty")
    lengths = [len(s) for s in seqs]
    if min(lengths) < 2:
        raise ValueError(f"every sequence needs at least 2 tokens ([BOS] and [EOS]); "
                         f"seqs[{lengths.index(min(lengths))}] has {min(lengths)}")
    T = max(lengths) - 1 if max_len is None else _check_int(max_len, "max_len", 1)
    x = np.full((len(seqs), T), pad_id, dtype=np.int64)  # (B, T)
    y = np.full((len(seqs), T), IGNORE_INDEX, dtype=np.int64)  # (B, T)
    for b, s in enumerate(seqs):
        n = min(len(s) - 1, T)
        x[b, :n] = s[:n]
        y[b, :n] = s[1:n + 1]
    return x, y


def bert_inputs(a_seqs, b_seqs=None, *, cls_id, sep_id, pad_id, max_len=None):
    """Frame and pad sentences (or sentence pairs) for BERT.

    Row b is ``[CLS] a_b [SEP]`` or ``[CLS] a_b [SEP] b_b [SEP]``; when ``max_len`` is given, the
    longer of the two parts loses tokens from its end until the row fits (longest first).
    Returns a dict of (B, T) int64 arrays: ``input_ids``, ``token_type_ids`` (0 for [CLS], a and
    its [SEP]; 1 for b and its [SEP]) and ``attention_mask`` (1 = real token, 0 = padding).
    """
    a_seqs = _check_seqs(a_seqs, "a_seqs")
    if b_seqs is not None:
        b_seqs = _check_seqs(b_seqs, "b_seqs")
        if len(b_seqs) != len(a_seqs):
            raise ValueError(f"b_seqs must have one entry per a_seqs entry: {len(a_seqs)}, "
                             f"got {len(b_seqs)}")
    rows, types = [], []
    for k, a in enumerate(a_seqs):
        a = a.tolist()
        b = b_seqs[k].tolist() if b_seqs is not None else None
        extra = 2 if b is None else 3
        if max_len is not None:
            budget = _check_int(max_len, "max_len", extra + 1) - extra
            while len(a) + (len(b) if b is not None else 0) > budget:
                if b is not None and len(b) > len(a):
                    b.pop()
                else:
                    a.pop()
        ids = [cls_id] + a + [sep_id]
        tt = [0] * len(ids)
        if b is not None:
            ids += b + [sep_id]
            tt += [1] * (len(b) + 1)
        rows.append(ids)
        types.append(tt)
    T = max(len(r) for r in rows)
    out = {name: np.full((len(rows), T), fill, dtype=np.int64)
           for name, fill in (("input_ids", pad_id), ("token_type_ids", 0), ("attention_mask", 0))}
    for r, (ids, tt) in enumerate(zip(rows, types)):
        out["input_ids"][r, :len(ids)] = ids
        out["token_type_ids"][r, :len(ids)] = tt
        out["attention_mask"][r, :len(ids)] = 1
    return out
