"""What every application shares: the model, prompting by generation or by scoring, the result.

An application (article §3.4, §6) follows the five steps of §3.2: it analyses a task (a TinyWorld
document kind), fills a prompt template, asks the model (greedy generation with ``tinyllm.generate``
or scoring of candidates by their log-probability, E2.2), parses the text that comes back
(``tinyllm.prompt.parse``) and computes a metric (``tinyllm.apps.metrics``). Each returns an
``AppResult`` that holds the metrics and every example (prompt -> output -> parsed -> gold).
"""

from dataclasses import asdict, dataclass, field

import numpy as np

DEFAULT_GPT = "tinyworld-gpt-256"
FALLBACK_GPT = "tinyworld-gpt"


def default_model(kind="gpt"):
    """The zoo model the applications run on: the context-256 one when this tinyllm has it."""
    from tinyllm import zoo

    preferred, fallback = (DEFAULT_GPT, FALLBACK_GPT) if kind == "gpt" else \
        (DEFAULT_GPT.replace("gpt", "bert"), FALLBACK_GPT.replace("gpt", "bert"))
    return preferred if preferred in zoo.RECIPES else fallback


def load(model, kind="gpt"):
    """(model, tokenizer, name) from a zoo name, a model folder, or a (model, tokenizer) pair."""
    from tinyllm import zoo
    from tinyllm.models import BERT, GPT

    if model is None:
        model = default_model(kind)
    if isinstance(model, tuple) and len(model) == 2:
        net, tok = model
        name = f"{type(net).__name__}({net.config.n_layer} layers, width {net.config.d_model})"
    elif isinstance(model, str):
        name = model
        net, tok = zoo.pretrained(model) if model in zoo.RECIPES else zoo.load_folder(model)
    else:
        raise TypeError(f"model: expected a zoo name, a model folder or a (model, tokenizer) pair, "
                        f"got {type(model).__name__}")
    want = GPT if kind == "gpt" else BERT
    if not isinstance(net, want):
        raise ValueError(f"model: this application needs a {want.__name__}, got {type(net).__name__} "
                         f"({name})")
    return net, tok, name


def check_n(n):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an int >= 1 (examples to evaluate), got {n!r}")
    return int(n)


def test_documents(kind, n, seed):
    """``n`` TinyWorld test-split documents of ``kind`` (never seen in pre-training)."""
    from tinyllm.data import tinyworld

    return tinyworld.sample(n, seed=seed, split="test", kinds=(kind,))


def frame(tok, prompt, context=()):
    """Token ids of ``[BOS] doc [EOS]`` for each context document, then ``[BOS] prompt``: the way
    documents follow each other in a packed pre-training stream."""
    bos, eos = getattr(tok, "bos_id", None), getattr(tok, "eos_id", None)
    ids = []
    for doc in context:
        ids += ([bos] if bos is not None else []) + list(tok.encode(doc)) + ([eos] if eos is not None else [])
    return ids + ([bos] if bos is not None else []) + list(tok.encode(prompt))


def complete(model, tok, prompt, max_new_tokens=12, stop=(".",), context=()):
    """Greedy continuation of ``prompt`` (after [BOS]) up to and including the first ``stop`` word.

    ``context``: documents placed before the prompt, each framed as by ``frame``. The ids are cut
    from the left to leave room for the answer when they are longer than the model's context (a
    prompt that then loses its beginning simply scores worse).
    """
    from tinyllm.generate import generate

    ids = frame(tok, prompt, context)
    room = model.config.max_len - max_new_tokens
    if len(ids) > room:
        ids = ids[len(ids) - room:]
    stop_ids = {tok.token_to_id(s) for s in stop}
    if getattr(tok, "eos_id", None) is not None:
        stop_ids.add(tok.eos_id)
    new = generate(model, ids, max_new_tokens=max_new_tokens, greedy=True, stop_ids=stop_ids)
    if new and new[-1] == getattr(tok, "eos_id", None):
        new = new[:-1]
    return tok.decode(new)


def sequence_logprobs(model, tok, prefix, continuations):
    """log P(continuation | [BOS] prefix) for each continuation, summed over its tokens (E3.6).

    All continuations are scored in one batch (right-padded; the causal mask keeps padding from
    reaching earlier positions). Returns a float64 array (n,).
    """
    head = frame(tok, prefix)
    tails = [list(tok.encode(c)) for c in continuations]
    rows = [head + t for t in tails]
    T = max(len(r) for r in rows)
    if T > model.config.max_len:
        raise ValueError(f"prefix + continuation: {T} tokens, longer than the model's context "
                         f"{model.config.max_len}")
    idx = np.full((len(rows), T), tok.pad_id, dtype=np.int64)                  # (n, T)
    for i, r in enumerate(rows):
        idx[i, :len(r)] = r
    logits = model.forward(idx).astype(np.float64)                              # (n, T, V)
    logits -= logits.max(axis=-1, keepdims=True)
    logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))         # log-softmax
    out = np.zeros(len(rows))
    for i, t in enumerate(tails):
        pos = np.arange(len(head) - 1, len(head) - 1 + len(t))                  # predicting t
        out[i] = logp[i, pos, t].sum()
    return out


@dataclass
class Example:
    """One prompted example: what went in, what came out, what was parsed, what was expected."""

    prompt: str
    output: str
    parsed: object
    gold: object
    correct: bool = None
    group: str = ""


@dataclass
class AppResult:
    """An application's run: its headline metric, every metric, and the examples."""

    app: str
    model: str
    metric: str
    value: float
    metrics: dict
    examples: list = field(default_factory=list)

    def summary_line(self):
        """The last line ``tinyllm app`` prints: every metric, the headline first."""
        rest = [f"{k}={_fmt(v)}" for k, v in self.metrics.items() if k != self.metric]
        return f"{self.app}: {self.metric}={_fmt(self.value)} " + " ".join(rest)

    def report(self, k=3):
        """A few examples per group (prompt -> output -> parsed -> gold), then the summary line."""
        lines = [f"{self.app} on {self.model}"]
        shown = {}
        for ex in self.examples:
            if shown.get(ex.group, 0) >= k:
                continue
            shown[ex.group] = shown.get(ex.group, 0) + 1
            mark = {True: "right", False: "WRONG", None: ""}[ex.correct]
            tag = f"[{ex.group}] " if ex.group else ""
            lines += [f"  {tag}prompt: {ex.prompt}", f"    output: {ex.output!r}",
                      f"    parsed: {ex.parsed!r}   gold: {ex.gold!r}   {mark}".rstrip()]
        lines.append(self.summary_line())
        return "\n".join(lines)

    def to_dict(self, k=3):
        """JSON-ready: the metrics, the first ``k`` examples of each group and its first ``k`` failures."""
        def first(examples):
            counts, kept = {}, []
            for ex in examples:
                if counts.get(ex.group, 0) < k:
                    counts[ex.group] = counts.get(ex.group, 0) + 1
                    kept.append({key: (v if isinstance(v, (str, int, float, bool, type(None))) else repr(v))
                                 for key, v in asdict(ex).items()})
            return kept

        return {"app": self.app, "model": self.model, "metric": self.metric, "value": self.value,
                "metrics": self.metrics, "examples": first(self.examples),
                "failures": first(ex for ex in self.examples if ex.correct is False)}


def _fmt(v):
    return f"{v:.3f}" if isinstance(v, float) else str(v)
