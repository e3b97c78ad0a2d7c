"""Batch sources for the trainer (article §3.2 step 4): where the next batch comes from, and a
state that can be saved so a resumed run sees exactly the batches it would have seen.

Every source has ``next_batch() -> dict`` (keyword arguments for ``model.loss_and_grads``) and
``state_dict()/load_state_dict()``. All randomness comes from one ``np.random.Generator``.

- ``DocumentBatches``: causal LM (E3.6), one document per row, ``[BOS] text [EOS]``; rows of similar
  length are batched together so little compute goes to padding.
- ``WindowBatches``:   causal LM on one long token stream (a text file): random windows.
- ``MaskedLMBatches``: masked LM (E3.7), one document per row, ``[CLS] text [SEP]``, corrupted by S10.

The framing, shifting and masking themselves are ``tinyllm.data.batching`` and ``tinyllm.data.masking``.
"""

import numpy as np

from tinyllm.data.batching import bert_inputs, causal_batch
from tinyllm.data.masking import mlm_mask
from tinyllm.train.checkpoint import rng_state, set_rng_state


def causal_rows(docs, pad_id, max_len):
    """E3.6 inputs and targets for framed documents ([BOS] text [EOS]), one per row.

    Rows longer than ``max_len`` + 1 tokens are cut; T is the longest remaining row minus one, so a
    batch of short documents stays short. ``tinyllm.data.batching.causal_batch`` does the shift.
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
