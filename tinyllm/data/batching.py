"""From token ids to training batches (article §3.2 step 4).

Causal LM (E3.6, L = -sum_i log P(x_i | x_<i)): every document is read as ``[BOS] text [EOS]``;
the input is the sequence without its last token and the target is the sequence shifted left by
one, so position i predicts token i+1. Positions with nothing to predict carry the ignore index
-100 (what ``tinyllm.ops.losses.cross_entropy_forward`` skips).

- ``causal_batch``      one document per row, padded (the way to evaluate against a floor)
- ``pack_documents``    whole documents packed greedily into rows of fixed length, rest padded
- ``stream_windows``    all documents concatenated into one stream, cut into fixed windows

BERT (E3.7): ``bert_inputs`` frames ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]`` with segment
ids (token_type_ids) and pads a batch with an attention mask; ``tinyllm.data.masking`` corrupts it.

``BatchIterator`` walks rows in a seeded shuffled order, epoch after epoch; its state is two
integers, so a trainer can save it and resume exactly.
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


def pack_documents(seqs, T, pad_id):
    """Pack whole framed documents into rows of T + 1 tokens, then shift (E3.6).

    Documents are placed in order; a document that does not fit in the current row starts a new
    row; one longer than T + 1 is split over rows of its own. Returns ``x``, ``y`` (N, T); ``y``
    is -100 on padding and wherever the next token is padding. A row may hold several documents:
    attention then crosses document boundaries (the [BOS] marks where a new one starts), and the
    target after an [EOS] is the next document's [BOS]. To score documents against an entropy
    floor, use ``causal_batch`` (one document per row) instead.
    """
    seqs = _check_seqs(seqs)
    T = _check_int(T, "T", 1)
    rows, current = [], []
    for s in seqs:
        s = s.tolist()
        if len(current) + len(s) > T + 1 and current:
            rows.append(current)
            current = []
        while len(s) > T + 1:
            rows.append(s[:T + 1])
            s = s[T:]  # the last token of a full row is the first input of the next
        current += s
    if current:
        rows.append(current)
    x = np.full((len(rows), T), pad_id, dtype=np.int64)  # (N, T)
    y = np.full((len(rows), T), IGNORE_INDEX, dtype=np.int64)  # (N, T)
    for r, row in enumerate(rows):  # len(row) <= T + 1
        inputs = row[:T]
        x[r, :len(inputs)] = inputs
        y[r, :len(row) - 1] = row[1:]
    return x, y


def stream_windows(seqs, T, stride=None):
    """Concatenate framed documents into one stream and cut windows of T + 1 tokens (E3.6).

    Window k starts at ``k * stride`` (default T: consecutive windows share one token, so every
    token of the stream is a target exactly once). A trailing part shorter than T + 1 is dropped.
    Returns ``x``, ``y`` (N, T); there is no padding.
    """
    seqs = _check_seqs(seqs)
    T = _check_int(T, "T", 1)
    stride = T if stride is None else _check_int(stride, "stride", 1)
    stream = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
    if len(stream) < T + 1:
        raise ValueError(f"the stream has {len(stream)} tokens, fewer than T + 1 = {T + 1}")
    starts = np.arange(0, len(stream) - T, stride)
    windows = stream[starts[:, None] + np.arange(T + 1)]  # (N, T + 1)
    return windows[:, :-1].copy(), windows[:, 1:].copy()


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


class BatchIterator:
    """Endless seeded mini-batches over the rows of one or more equally long arrays.

    Epoch e visits the rows in the order ``np.random.default_rng([seed, e]).permutation(N)``
    (or in order with ``shuffle=False``), ``batch_size`` rows at a time; the last partial batch
    of an epoch is dropped unless ``drop_last=False``. ``state_dict()`` is ``{"epoch", "position"}``
    and ``load_state_dict`` restores it, so a resumed run sees exactly the batches it would have.

        it = BatchIterator((x, y), batch_size=32, seed=0)
        xb, yb = next(it)
    """

    def __init__(self, arrays, batch_size, seed, shuffle=True, drop_last=True):
        if isinstance(arrays, np.ndarray):
            arrays = (arrays,)
        self.arrays = tuple(np.asarray(a) for a in arrays)
        if not self.arrays:
            raise ValueError("arrays must hold at least one array")
        n = len(self.arrays[0])
        for k, a in enumerate(self.arrays):
            if len(a) != n:
                raise ValueError(f"arrays[{k}] has {len(a)} rows, arrays[0] has {n}")
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        if drop_last and n < self.batch_size:
            raise ValueError(f"batch_size={batch_size} exceeds the {n} rows (drop_last=True)")
        if n == 0:
            raise ValueError("arrays have no rows")
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self.position = 0
        self._order = None

    def _epoch_order(self):
        if self._order is None:
            n = len(self.arrays[0])
            self._order = (np.random.default_rng([self.seed, self.epoch]).permutation(n)
                           if self.shuffle else np.arange(n))
        return self._order

    def __iter__(self):
        return self

    def __next__(self):
        n = len(self.arrays[0])
        end = self.position + self.batch_size
        if end > n and (self.drop_last or self.position >= n):
            self.epoch += 1
            self.position = 0
            self._order = None
            end = self.batch_size
        rows = self._epoch_order()[self.position:min(end, n)]
        self.position = min(end, n)
        out = tuple(a[rows] for a in self.arrays)
        return out if len(out) > 1 else out[0]

    def batches_per_epoch(self):
        n = len(self.arrays[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def state_dict(self):
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state):
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self._order = None
