"""Batch sources for the trainer (article §3.2 step 4): where the next batch comes from, and a
state that can be saved so a resumed run sees exactly the batches it would have seen.

Every source has ``next_batch() -> dict`` (keyword arguments for ``model.loss_and_grads``) and
``state_dict()/load_state_dict()``. All randomness comes from one ``np.random.Generator``.

- ``DocumentBatches``: causal LM (E3.6), one document per row, ``[BOS] text [EOS]``; rows of similar
  length are batched together so little compute goes to padding.
- ``WindowBatches``:   causal LM on one long token stream (a text file): random windows.
- ``MaskedLMBatches``: masked LM (E3.7), one document per row, ``[CLS] text [SEP]``, corrupted by S10.
"""

import numpy as np

from tinyllm.ops.losses import IGNORE_INDEX
from tinyllm.train.checkpoint import rng_state, set_rng_state


def causal_rows(docs, pad_id, max_len):
    """Pack framed documents into E3.6 inputs and targets.

    docs: list of token-id lists, each already framed as [BOS] text [EOS] (length n+2)
    Returns idx (B, T) and targets (B, T) with T = the longest row's n+1, capped at ``max_len``:
    idx[b] = [BOS] text (padded with ``pad_id``), targets[b] = text [EOS] (padded with -100).
    """
    rows = [d[: max_len + 1] for d in docs]
    T = max(len(r) for r in rows) - 1
    idx = np.full((len(rows), T), pad_id, dtype=np.int64)            # (B, T)
    targets = np.full((len(rows), T), IGNORE_INDEX, dtype=np.int64)  # (B, T)
    for b, r in enumerate(rows):
        idx[b, : len(r) - 1] = r[:-1]
        targets[b, : len(r) - 1] = r[1:]
    return idx, targets


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
        set_rng_state(self.rng, sd["epoch_rng"])
        self.epoch = int(sd["epoch"])
        self._start_epoch()
        self.pos = int(sd["pos"])
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
