"""Batch sources for the trainer (article §3.2 step 4): where the next batch comes from, and a
state that can be saved so a resumed run sees exactly the batches it would have seen.

Every source has ``next_batch() -> dict`` (keyword arguments for ``model.loss_and_grads``) and
``state_dict()/load_state_dict()``. All randomness comes from one ``np.random.Generator``.

- ``DocumentBatches``: causal LM (E3.6), one document per row, ``[BOS] text [EOS]``; rows of similar
  length are batched together so little compute goes to padding.
- ``WindowBatches``:   causal LM on one long token stream (a text file): random windows.
- ``MaskedLMBatches``: masked LM (E3.7), one document per row, ``[CLS] text [SEP]``, corrupted by S10.
- ``PackedCausalBatches``:   causal LM (E3.6) on packed documents: ``[BOS] doc [EOS] [BOS] doc ...``
  cut into windows of ``max_len`` (a long context full of documents, for in-context learning).
- ``PackedMaskedLMBatches``: masked LM (E3.7) on packed documents: ``[CLS] doc [SEP] doc [SEP] ...``,
  whole documents only, up to ``max_len`` tokens a row, corrupted by S10.
- ``AlternatingBatches``:    takes batches from several sources in turn (packed and one-per-row).

The framing, shifting and masking themselves are ``tinyllm.data.framing`` and ``tinyllm.data.masking``.
"""

import numpy as np

from tinyllm.data.framing import bert_inputs, causal_batch
from tinyllm.data.masking import mlm_mask
from tinyllm.train.checkpoint import rng_state, set_rng_state


def causal_rows(docs, pad_id, max_len):
    """E3.6 inputs and targets for framed documents ([BOS] text [EOS]), one per row.

    Rows longer than ``max_len`` + 1 tokens are cut; T is the longest remaining row minus one, so a
    batch of short documents stays short. ``tinyllm.data.framing.causal_batch`` does the shift.
    Returns idx (B, T) and targets (B, T), -100 where there is nothing to predict.
    """
    return causal_batch([d[: max_len + 1] for d in docs], pad_id)


def _check_docs(docs, min_len):
    if len(docs) == 0:
        raise ValueError("docs: expected at least one document, got none")
    short = [i for i, d in enumerate(docs) if len(d) < min_len]
    if short:
        raise ValueError(f"docs: every document needs >= {min_len} tokens; document {short[0]} has "
                         f"{len(docs[short[0]])}")


class _EpochSource:
    """Shared machinery: an epoch is a random order of batches of similar-length documents.

    The state is the generator's state at the start of the epoch plus the position inside it, so
    the epoch's plan can be rebuilt exactly on resume.
    """

    def __init__(self, docs, batch_size, seed, bucket=50):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        self.docs = [list(map(int, d)) for d in docs]
        self.batch_size = int(batch_size)
        self.bucket = bucket
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._start_epoch()

    def _start_epoch(self):
        self._epoch_state = rng_state(self.rng)
        n, B = len(self.docs), self.batch_size
        order = self.rng.permutation(n)
        lengths = np.array([len(self.docs[i]) for i in order])
        plan = []
        chunk = B * self.bucket
        for s in range(0, n, chunk):
            part = order[s: s + chunk]
            part = part[np.argsort(lengths[s: s + chunk], kind="stable")]
            plan += [part[i: i + B] for i in range(0, len(part), B)]
        self.plan = [plan[i] for i in self.rng.permutation(len(plan))]
        self.pos = 0

    def next_indices(self):
        if self.pos >= len(self.plan):
            self.epoch += 1
            self._start_epoch()
        ids = self.plan[self.pos]
        self.pos += 1
        return ids

    def state_dict(self):
        return {"epoch_rng": self._epoch_state, "epoch": self.epoch, "pos": self.pos,
                "rng": rng_state(self.rng)}

    def load_state_dict(self, sd):
        epoch, pos = sd["epoch"], sd["pos"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, pos)):
            raise ValueError(f"data state: epoch and pos must be ints >= 0, got {epoch!r} and {pos!r}")
        set_rng_state(self.rng, sd["epoch_rng"])
        self.epoch = epoch
        self._start_epoch()
        if pos > len(self.plan):
            raise ValueError(f"data state: position {pos} is past the end of the epoch ({len(self.plan)})")
        self.pos = pos
        set_rng_state(self.rng, sd["rng"])


class DocumentBatches(_EpochSource):
    """Causal-LM batches (E3.6), one framed document per row; see ``causal_rows``."""

    def __init__(self, docs, batch_size, pad_id, max_len, seed=0, bucket=50):
        _check_docs(docs, 2)
        super().__init__(docs, batch_size, seed, bucket)
        self.pad_id = int(pad_id)
        self.max_len = int(max_len)

    def next_batch(self):
        ids = self.next_indices()
        idx, targets = causal_rows([self.docs[i] for i in ids], self.pad_id, self.max_len)
        return {"idx": idx, "targets": targets}

    def fixed_batches(self):
        """Every document once, in length order, as a list of batches (for validation)."""
        return fixed_causal_batches(self.docs, self.batch_size, self.pad_id, self.max_len)


def fixed_causal_batches(docs, batch_size, pad_id, max_len):
    """Deterministic validation batches: all ``docs`` once, sorted by length (E3.6 rows)."""
    _check_docs(docs, 2)
    order = np.argsort([len(d) for d in docs], kind="stable")
    out = []
    for s in range(0, len(order), batch_size):
        idx, targets = causal_rows([docs[i] for i in order[s: s + batch_size]], pad_id, max_len)
        out.append({"idx": idx, "targets": targets})
    return out


class WindowBatches:
    """Causal-LM batches (E3.6) from one long stream: ``batch_size`` random windows of
    ``block_size + 1`` tokens; inputs are the first block_size, targets the last block_size."""

    def __init__(self, tokens, batch_size, block_size, seed=0):
        self.tokens = np.asarray(tokens, dtype=np.int64)
        if self.tokens.ndim != 1 or self.tokens.size < block_size + 1:
            raise ValueError(f"tokens: expected a 1-D stream of at least block_size+1={block_size + 1} "
                             f"tokens, got shape {self.tokens.shape}")
        self.batch_size = int(batch_size)
        self.block_size = int(block_size)
        self.rng = np.random.default_rng(seed)

    def next_batch(self):
        starts = self.rng.integers(0, self.tokens.size - self.block_size, size=self.batch_size)
        rows = np.stack([self.tokens[s: s + self.block_size + 1] for s in starts])   # (B, T+1)
        return {"idx": rows[:, :-1], "targets": rows[:, 1:]}

    def fixed_batches(self, n_batches):
        """Non-overlapping windows from the start of the stream, for validation."""
        out, T, B = [], self.block_size, self.batch_size
        n = min(n_batches * B, (self.tokens.size - 1) // T)
        rows = [self.tokens[i * T: i * T + T + 1] for i in range(n)]
        for s in range(0, n, B):
            r = np.stack(rows[s: s + B])
            out.append({"idx": r[:, :-1], "targets": r[:, 1:]})
        return out

    def state_dict(self):
        return {"rng": rng_state(self.rng)}

    def load_state_dict(self, sd):
        set_rng_state(self.rng, sd["rng"])


class MaskedLMBatches(_EpochSource):
    """Masked-LM batches (E3.7): documents (unframed token ids) read as [CLS] text [SEP] and
    corrupted by S10 (``tinyllm.data.masking.mlm_mask``).

    Each batch is {"idx": corrupted ids, "labels": original ids at the chosen positions and -100
    elsewhere, "attention_mask": 1 for tokens, 0 for padding, "token_type_ids": zeros}.
    """

    def __init__(self, docs, batch_size, tokenizer, max_len, mask_prob=0.15, seed=0, bucket=50):
        _check_docs(docs, 1)
        super().__init__(docs, batch_size, seed, bucket)
        self.tokenizer = tokenizer
        self.max_len = int(max_len)
        self.mask_prob = float(mask_prob)
        self.seed = seed

    def make_batch(self, docs, rng):
        """Frame ``docs`` as [CLS] text [SEP] with padding (``bert_inputs``), then corrupt them (S10)."""
        tok = self.tokenizer
        inputs = bert_inputs(docs, cls_id=tok.cls_id, sep_id=tok.sep_id, pad_id=tok.pad_id, max_len=self.max_len)
        corrupted, labels = mlm_mask(inputs["input_ids"], rng, vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                     special_ids=tok.special_ids, attention_mask=inputs["attention_mask"],
                                     mask_prob=self.mask_prob)
        return {"idx": corrupted, "labels": labels, "attention_mask": inputs["attention_mask"],
                "token_type_ids": inputs["token_type_ids"]}

    def next_batch(self):
        ids = self.next_indices()
        return self.make_batch([self.docs[i] for i in ids], self.rng)

    def fixed_batches(self):
        """Every document once, in length order, masked with this source's seed (for validation)."""
        order = np.argsort([len(d) for d in self.docs], kind="stable")
        rng = np.random.default_rng([int(self.seed), 1])
        return [self.make_batch([self.docs[i] for i in order[s: s + self.batch_size]], rng)
                for s in range(0, len(order), self.batch_size)]


# ------------------------------------------------------------------------------ packing


def causal_windows(docs, max_len, pad_id):
    """E3.6 windows over framed documents packed end to end.

    docs: framed documents ([BOS] text [EOS]) in the order to pack. The concatenated stream is cut
    into windows of ``max_len`` + 1 tokens that overlap by one token (stride ``max_len``), so every
    token after the first is a target exactly once and a window's targets are its own tokens
    shifted by one: nothing is predicted across a window's edge. Documents may straddle two
    windows; the last window is padded (targets -100 there), so no document is dropped.
    Returns idx (N, max_len) and targets (N, max_len) int64.
    """
    T = int(max_len)
    stream = np.concatenate([np.asarray(d, dtype=np.int64) for d in docs])   # (L,)
    n = max(1, -(-(len(stream) - 1) // T))          # windows needed so every target is used
    padded = np.full(n * T + 1, -1, dtype=np.int64)  # -1 marks padding until it is replaced
    padded[:len(stream)] = stream
    rows = padded[np.arange(n)[:, None] * T + np.arange(T + 1)]   # (N, T + 1)
    idx = np.where(rows[:, :-1] < 0, pad_id, rows[:, :-1])
    targets = np.where(rows[:, 1:] < 0, -100, rows[:, 1:])
    return idx, targets


def pack_rows(docs, max_len, cls_id, sep_id):
    """Whole documents packed greedily into rows ``[CLS] doc [SEP] doc [SEP] ...`` of at most
    ``max_len`` tokens (BERT's reading of a long context).

    Documents are taken in the given order; one that does not fit starts a new row, so no document
    is ever split between rows. A document longer than ``max_len`` - 2 tokens is cut to fit (it
    then fills a row alone). Returns a list of rows (lists of ids), unpadded.
    """
    rows, row = [], [cls_id]
    for d in docs:
        d = list(d)[: max_len - 2]
        if len(row) + len(d) + 1 > max_len:
            rows.append(row)
            row = [cls_id]
        row += d + [sep_id]
    if len(row) > 1:
        rows.append(row)
    return rows


class _PackedSource:
    """Shared machinery of the packed sources: each epoch packs the documents in a new random
    order into rows, and serves the rows in a random order, ``batch_size`` at a time.

    The state is the generator's state at the start of the epoch plus the position inside it (as
    for ``_EpochSource``), so a resumed run rebuilds the epoch's rows exactly.
    """

    def __init__(self, docs, batch_size, max_len, seed):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
        if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 3:
            raise ValueError(f"max_len: expected an int >= 3, got {max_len!r}")
        self.docs = [list(map(int, d)) for d in docs]
        self.batch_size = int(batch_size)
        self.max_len = int(max_len)
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self.epoch = 0
        self._start_epoch()

    def pack(self, docs):
        """The rows of one epoch from documents in packing order (a subclass's layout)."""
        raise NotImplementedError

    def _start_epoch(self):
        self._epoch_state = rng_state(self.rng)
        order = self.rng.permutation(len(self.docs))
        self.rows = self.pack([self.docs[i] for i in order])
        n_rows = len(self.rows[0]) if isinstance(self.rows, tuple) else len(self.rows)
        self.plan = self.rng.permutation(n_rows)
        self.pos = 0

    def next_rows(self):
        """Indices of the next ``batch_size`` rows (an epoch's last batch may be smaller)."""
        if self.pos >= len(self.plan):
            self.epoch += 1
            self._start_epoch()
        ids = self.plan[self.pos: self.pos + self.batch_size]
        self.pos += len(ids)
        return ids

    def state_dict(self):
        return {"epoch_rng": self._epoch_state, "epoch": self.epoch, "pos": self.pos,
                "rng": rng_state(self.rng)}

    def load_state_dict(self, sd):
        epoch, pos = sd["epoch"], sd["pos"]
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, pos)):
            raise ValueError(f"data state: epoch and pos must be ints >= 0, got {epoch!r} and {pos!r}")
        set_rng_state(self.rng, sd["epoch_rng"])
        self.epoch = epoch
        self._start_epoch()
        if pos > len(self.plan):
            raise ValueError(f"data state: position {pos} is past the end of the epoch ({len(self.plan)})")
        self.pos = pos
        set_rng_state(self.rng, sd["rng"])


class PackedCausalBatches(_PackedSource):
    """Causal-LM batches (E3.6) of packed documents: every epoch, the framed documents
    ([BOS] text [EOS]) in a new random order are concatenated and cut into windows of ``max_len``
    (``causal_windows``); attention runs across document boundaries inside a window, which is what
    lets a long-context model read demonstrations before a query."""

    def __init__(self, docs, batch_size, pad_id, max_len, seed=0):
        _check_docs(docs, 2)
        self.pad_id = int(pad_id)
        super().__init__(docs, batch_size, max_len, seed)

    def pack(self, docs):
        return causal_windows(docs, self.max_len, self.pad_id)

    def next_batch(self):
        ids = self.next_rows()
        idx, targets = self.rows
        return {"idx": idx[ids], "targets": targets[ids]}


class PackedMaskedLMBatches(_PackedSource):
    """Masked-LM batches (E3.7) of packed documents: every epoch, the documents (unframed ids) in a
    new random order are packed whole into rows ``[CLS] doc [SEP] doc [SEP] ...`` (``pack_rows``),
    padded to the longest row of the batch and corrupted by S10 with ``mask_prob``. Specials and
    padding are never masked; labels are -100 except at the chosen positions."""

    def __init__(self, docs, batch_size, tokenizer, max_len, mask_prob=0.15, seed=0):
        _check_docs(docs, 1)
        self.tokenizer = tokenizer
        self.mask_prob = float(mask_prob)
        super().__init__(docs, batch_size, max_len, seed)

    def pack(self, docs):
        tok = self.tokenizer
        return pack_rows(docs, self.max_len, tok.cls_id, tok.sep_id)

    def make_batch(self, rows, rng):
        """Pad ``rows`` (already framed) into a batch and corrupt it (S10)."""
        tok = self.tokenizer
        T = max(len(r) for r in rows)
        ids = np.full((len(rows), T), tok.pad_id, dtype=np.int64)        # (B, T)
        mask = np.zeros((len(rows), T), dtype=np.int64)                   # (B, T)
        for b, r in enumerate(rows):
            ids[b, :len(r)] = r
            mask[b, :len(r)] = 1
        corrupted, labels = mlm_mask(ids, rng, vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                     special_ids=tok.special_ids, attention_mask=mask,
                                     mask_prob=self.mask_prob)
        return {"idx": corrupted, "labels": labels, "attention_mask": mask,
                "token_type_ids": np.zeros_like(ids)}

    def next_batch(self):
        return self.make_batch([self.rows[i] for i in self.next_rows()], self.rng)

    def fixed_batches(self):
        """The documents packed in their given order, masked with this source's seed (validation)."""
        tok = self.tokenizer
        rows = pack_rows(self.docs, self.max_len, tok.cls_id, tok.sep_id)
        rng = np.random.default_rng([int(self.seed), 1])
        return [self.make_batch(rows[s: s + self.batch_size], rng)
                for s in range(0, len(rows), self.batch_size)]


class AlternatingBatches:
    """Batches from several sources in turn (source 0, 1, ..., 0, 1, ...): a mixture in which every
    few updates see each kind of row. Used to keep one-document rows (the way a prompt presents a
    single input, from position 0) beside packed rows; see ``Recipe.pack_mix``."""

    def __init__(self, sources):
        self.sources = list(sources)
        if not self.sources:
            raise ValueError("sources: expected at least one batch source")
        self.turn = 0

    def next_batch(self):
        batch = self.sources[self.turn].next_batch()
        self.turn = (self.turn + 1) % len(self.sources)
        return batch

    def state_dict(self):
        return {"turn": self.turn, "sources": [s.state_dict() for s in self.sources]}

    def load_state_dict(self, sd):
        self.turn = int(sd["turn"])
        for s, st in zip(self.sources, sd["sources"]):
            s.load_state_dict(st)
