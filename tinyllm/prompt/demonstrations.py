"""In-context demonstrations (article §3.2 step 3: zero- and few-shot inference).

k labelled examples, each written with the template and its label's first word in the answer slot,
are placed with every query: before it for a causal LM (each framed like a document,
``[BOS] demo [EOS]``, as the model saw packed documents in pre-training), after its [SEP] for BERT
(``[CLS] query [SEP] demo [SEP] demo [SEP]``, as LM-BFF does).

Selection is balanced and deterministic: the examples of each label are shuffled with `seed`, and
labels take turns (label order shuffled with `seed` too) until k are chosen. Order of the chosen:
"random" (shuffled with `seed`), "interleave" (labels take turns) or "grouped" (label by label; the
recency bias that calibration corrects is then largest).
"""

import numpy as np

ORDERS = ("random", "interleave", "grouped")


class Demonstrations:
    """k labelled examples shown in the context of every query (E2.2 with demonstrations).

    examples: a task Dataset or a list of (text, label) pairs (text a str or a dict of fields)."""

    def __init__(self, examples, k, order="random", seed=0):
        pairs = as_pairs(examples, "examples")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= len(pairs):
            raise ValueError(f"k must be an int in [1, {len(pairs)}] (the number of demonstrations), got {k!r}")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.k, self.order, self.seed = int(k), order, int(seed)
        rng = np.random.default_rng([self.seed, 7])
        labels = list(dict.fromkeys(y for _, y in pairs))
        pools = {y: [i for i, (_, l) in enumerate(pairs) if l == y] for y in labels}
        for y in labels:
            pools[y] = [pools[y][j] for j in rng.permutation(len(pools[y]))]
        turns = [labels[j] for j in rng.permutation(len(labels))]
        chosen, taken = [], {y: 0 for y in labels}
        while len(chosen) < self.k:
            for y in turns:
                if taken[y] < len(pools[y]) and len(chosen) < self.k:
                    chosen.append(pools[y][taken[y]])
                    taken[y] += 1
        if order == "random":
            chosen = [chosen[j] for j in rng.permutation(len(chosen))]
        elif order == "grouped":
            chosen = sorted(chosen, key=lambda i: turns.index(pairs[i][1]))
        self.examples = [pairs[i] for i in chosen]

    def __len__(self):
        return len(self.examples)

    def __repr__(self):
        return f"Demonstrations(k={self.k}, order={self.order!r}, seed={self.seed})"

    def token_ids(self, prompt_model):
        """The demonstrations as token ids for `prompt_model` (its template, verbalizer and framing)."""
        names = prompt_model.verbalizer.label_names
        inputs = prompt_model._inputs([t for t, _ in self.examples])
        out = []
        for fields, (_, y) in zip(inputs, self.examples):
            if isinstance(y, str):
                if y not in names:
                    raise ValueError(f"demonstration label {y!r} is not a label of the verbalizer {names}")
                y = names.index(y)
            if not 0 <= int(y) < len(names):
                raise ValueError(f"demonstration label {y} is outside [0, {len(names)})")
            out.extend(prompt_model.demo_tokens(fields, int(y)))
        return out


def as_pairs(examples, name="examples"):
    """A task Dataset (``texts``, ``labels``, optional ``fields``) or a list of (text, label) pairs ->
    list of (text or field dict, label)."""
    if hasattr(examples, "texts") and hasattr(examples, "labels"):
        if examples.labels is None:
            raise ValueError(f"{name}: the dataset has no labels (a generative task)")
        extra = getattr(examples, "fields", None) or [{}] * len(examples.texts)
        texts = [{"x": t, **f} if f else t for t, f in zip(examples.texts, extra)]
        return [(t, int(y)) for t, y in zip(texts, np.asarray(examples.labels))]
    if isinstance(examples, (str, bytes)) or not hasattr(examples, "__iter__"):
        raise TypeError(f"{name} must be a dataset or a list of (text, label) pairs, got {type(examples).__name__}")
    pairs = []
    for i, e in enumerate(examples):
        if not (isinstance(e, (tuple, list)) and len(e) == 2):
            raise TypeError(f"{name}[{i}] must be a (text, label) pair, got {e!r:.60}")
        t, y = e
        if not isinstance(t, (str, dict)):
            raise TypeError(f"{name}[{i}]: the text must be a str or a dict of fields, got {type(t).__name__}")
        if not isinstance(y, (str, int, np.integer)) or isinstance(y, bool):
            raise TypeError(f"{name}[{i}]: the label must be an int or a label name, got {y!r}")
        pairs.append((t, y if isinstance(y, str) else int(y)))
    if not pairs:
        raise ValueError(f"{name} is empty")
    return pairs
