"""Measurements behind chapters/09_faq (article §9) on a zoo model; writes results/faq.json.

    python scripts/faq_results.py                      # the applications' default model
    python scripts/faq_results.py --model tinyworld-gpt

- prompt_vs_head: zero-shot prompt accuracy on review sentiment against a logistic-regression head
  trained on the frozen model's output (its next-token log-probabilities after the review) with k
  labelled examples per class, 5 draws each (why a prompt helps a small model);
- soft_prompts: 8 random soft vectors before the input against soft vectors initialised from words
  after it, learning curves over a short training, on the model and on the context-48 zoo GPT
  (why random soft prompts fail);
- temperature: how often sampling at temperature tau writes the true fact (what temperature does);
- perplexity: cross-entropy in nats and bits per token, perplexity, and TinyWorld's floor;
- pre_ln: a 6-layer GPT trained 150 steps with pre-LN and with post-LN blocks, with and without
  learning-rate warm-up (why pre-LN);
- bert_masking: cloze P@1 of the zoo's TinyWorld BERTs, pre-trained with different masking rates.
Each chapter cell shows a small live slice of the same computation.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "results" / "faq.json"
TEMPLATE = "review: {x} it was {mask} ."          # the naive prompt of tinyllm.apps.classification
NAIVE = {"negative": ["awful"], "positive": ["great"]}


def reviews(split, n):
    """tw-sentiment (a review without its closing sentence): texts and label indices."""
    from tinyllm.prompt import tasks

    ds = tasks.load("tw-sentiment", split=split, n=n)
    return ds.texts, ds.labels


def balanced(texts, labels, k, rng):
    idx = np.concatenate([rng.choice(np.flatnonzero(labels == c), k, replace=False) for c in (0, 1)])
    return [texts[i] for i in idx], labels[idx]


def features(model, tok, texts):
    """The frozen model's output after each text: log P(next token | [BOS] text), (N, V)."""
    out = []
    for t in texts:
        z = model.forward(np.array([[tok.bos_id] + tok.encode(t)]))[0, -1].astype(np.float64)
        out.append(z - z.max() - np.log(np.exp(z - z.max()).sum()))
    return np.array(out)


def logistic_head(X, y, steps=300, lr=0.1, l2=1e-2):
    """Binary logistic regression by gradient descent (the E2.1 head, on frozen features)."""
    mu, sd = X.mean(0), X.std(0) + 1e-6
    Xs = (X - mu) / sd
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(Xs @ w + b)))
        w -= lr * (Xs.T @ (p - y) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return lambda Z: (((Z - mu) / sd) @ w + b > 0).astype(int)


def prompt_vs_head(model, tok, n_test=200):
    from tinyllm.apps.classification import classify
    from tinyllm.prompt import tasks

    test_x, test_y = reviews("test", n_test)
    pool_x, pool_y = reviews("train", 400)
    native = np.mean(classify(model, tok, *tasks.default_prompt("tw-sentiment", "gpt"), test_x) == test_y)
    naive = np.mean(classify(model, tok, TEMPLATE, NAIVE, test_x) == test_y)
    F_test = features(model, tok, [f"review: {t}" for t in test_x])
    F_pool = features(model, tok, [f"review: {t}" for t in pool_x])
    head = {}
    for k in (1, 2, 4, 8, 16, 64):
        accs = []
        for seed in range(5):
            rng = np.random.default_rng(seed)
            idx = np.concatenate([rng.choice(np.flatnonzero(pool_y == c), k, replace=False) for c in (0, 1)])
            predict = logistic_head(F_pool[idx], pool_y[idx])
            accs.append(float(np.mean(predict(F_test) == test_y)))
        head[k] = {"mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)), "values": accs}
    return {"n_test": n_test, "prompt_native": float(native), "prompt_naive": float(naive), "head": head}


def train_prompt(pm, texts, labels, steps, lr, batch=16, seed=0, every=10, evaluate=None):
    """Adam on the prompt parameters only (the model stays frozen); ``evaluate()`` every ``every``
    steps and at the end gives the learning curve {step: value}."""
    rng = np.random.default_rng(seed)
    m = {k: np.zeros_like(v) for k, v in pm.prompt_params.items()}
    v = {k: np.zeros_like(x) for k, x in pm.prompt_params.items()}
    curve = {0: evaluate()}
    for t in range(1, steps + 1):
        idx = rng.choice(len(texts), batch, replace=False)
        _, g = pm.loss_and_grads([texts[i] for i in idx], labels[idx])
        for k, p in pm.prompt_params.items():
            m[k] = 0.9 * m[k] + 0.1 * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            p -= (lr * (m[k] / (1 - 0.9**t)) / (np.sqrt(v[k] / (1 - 0.999**t)) + 1e-8)).astype(p.dtype)
        if t % every == 0 or t == steps:
            curve[t] = evaluate()
    return curve


def soft_prompts(model, tok, steps=60, lr=0.01, n_test=200):
    """Sentiment with "great"/"awful": the hard template, 8 random soft vectors before x, and soft
    vectors initialised from "it was" after x, trained on 16 examples per class (learning curves)."""
    from tinyllm.prompt.prompt_model import PromptModel

    test_x, test_y = reviews("test", n_test)
    train_x, train_y = balanced(*reviews("train", 400), 16, np.random.default_rng(0))
    out = {}
    for name, template in (("hard: review: {x} it was {mask} .", TEMPLATE),
                           ("8 random soft vectors before x", "{soft*8} review: {x} {mask} ."),
                           ("soft vectors from words after x", "review: {x} {soft:it was} {mask} .")):
        pm = PromptModel(model, tok, template, NAIVE)

        def accuracy():
            return float(np.mean(pm.predict(test_x) == test_y))

        curve = train_prompt(pm, train_x, train_y, steps, lr, evaluate=accuracy) if pm.frozen else {0: accuracy()}
        out[name] = {"template": template, "step0": curve[0], "trained": curve[max(curve)],
                     "curve": {str(k): v for k, v in curve.items()}}
    return {"steps": steps, "lr": lr, "train_examples": len(train_x), "n_test": n_test, "runs": out}


def temperature(model, tok, n=400):
    from tinyllm.data import tinyworld
    from tinyllm.generate import next_token_probs, sample_from

    w = tinyworld.world()
    people = w.people[:8]
    out = {}
    for tau in (0.25, 0.5, 1.0, 1.5, 2.0, 3.0):
        rng = np.random.default_rng(0)
        right, entropy = 0, 0.0
        for i in range(n):
            p = people[i % len(people)]
            z = model.forward(np.array([[tok.bos_id] + tok.encode(f"facts: {p.name} lives in")]))[0, -1]
            probs = next_token_probs(z, temperature=tau)
            entropy += float(-(probs[probs > 0] * np.log2(probs[probs > 0])).sum()) / n
            right += tok.id_to_token(sample_from(probs, rng)) == p.city
        out[str(tau)] = {"true_fact": right / n, "entropy_bits": entropy}
    z = model.forward(np.array([[tok.bos_id] + tok.encode("facts: Anna lives in")]))[0, -1]
    top = np.argsort(-z)[:8]
    return {"samples": n, "by_tau": out, "logits_anna_lives_in": {tok.id_to_token(int(i)): float(z[i]) for i in top}}


def post_ln_gpt():
    """A GPT whose blocks are post-LN (S7, BERT's arrangement) instead of pre-LN; backward follows,
    since each block's cache records its arrangement."""
    from tinyllm.models import GPT

    class PostLNGPT(GPT):
        def _blocks_forward(self, x, norm, *args):
            return super()._blocks_forward(x, "post", *args)

    return PostLNGPT


def train_small(cls, lr, warmup, steps, n_layer=6, seed=0):
    """Mean training loss of the last 20 of ``steps`` AdamW steps of a 6-layer width-64 GPT on TinyWorld."""
    from tinyllm.data import tinyworld
    from tinyllm.data.framing import causal_batch, frame_causal
    from tinyllm.models import GPTConfig
    from tinyllm.train.optim import AdamW

    tok = tinyworld.tokenizer()
    docs = [frame_causal(tok.encode(t), tok.bos_id, tok.eos_id) for t in tinyworld.texts(3200, seed=seed)]
    m = cls(GPTConfig(vocab_size=len(tok), n_layer=n_layer, n_head=4, d_model=64, max_len=48), seed=seed)
    opt = AdamW(m.params, lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    losses = []
    for t in range(steps):
        x, y = causal_batch([docs[i] for i in rng.choice(len(docs), 16)], tok.pad_id, 48)
        loss, g = m.loss_and_grads(x, y)
        opt.step(g, lr=lr * min(1.0, (t + 1) / warmup) if warmup else lr)
        losses.append(loss)
    return float(np.mean(losses[-20:]))


def pre_ln(model, tok, steps=150, warmup=50):
    from tinyllm.models import GPT

    out = {}
    for lr in (1e-3, 1e-2):
        out[str(lr)] = {"pre-LN": train_small(GPT, lr, 0, steps),
                        "post-LN": train_small(post_ln_gpt(), lr, 0, steps),
                        "post-LN + warm-up": train_small(post_ln_gpt(), lr, warmup, steps)}
    return {"steps": steps, "warmup": warmup, "layers": 6, "final_loss": out}


def bert_masking(model, tok):
    """Cloze P@1 over every world fact for the zoo's TinyWorld BERTs (their masking rates differ)."""
    from tinyllm import zoo
    from tinyllm.apps.knowledge import cloze_bert, world_facts

    facts = world_facts()
    out = {}
    for name in ("tinyworld-bert", "tinyworld-bert-256"):
        if (zoo.model_dir(name) / "model.safetensors").exists():        # measured only once built
            bert, btok = zoo.pretrained(name)
            answers = cloze_bert(bert, btok, facts)
            out[name] = {"mask_prob": zoo.RECIPES[name].mask_prob,
                         "p_at_1": float(np.mean([a == o for (_, a), (_, _, o) in zip(answers, facts)]))}
    return {"facts": len(facts), "models": out}


def perplexity(model, tok, n_docs=500):
    from tinyllm.train.evaluate import evaluate_corpus

    r = evaluate_corpus(model, tok, "tinyworld", split="test", n_docs=n_docs, seed=2026)
    return {"n_docs": n_docs, "tokens": r["tokens"], "nats": r["loss"], "floor_nats": r["entropy_floor"],
            "bits": r["loss"] / np.log(2), "floor_bits": r["entropy_floor"] / np.log(2),
            "perplexity": float(np.exp(r["loss"]))}


def main(argv=None):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(REPO))
    from tinyllm.apps.base import default_model, load

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parts = (("prompt_vs_head", prompt_vs_head), ("soft_prompts", soft_prompts), ("temperature", temperature),
             ("perplexity", perplexity), ("pre_ln", pre_ln), ("bert_masking", bert_masking))
    p.add_argument("--model", default=None)
    p.add_argument("--only", nargs="+", default=None, choices=[k for k, _ in parts] + ["soft_prompts_small"],
                   help="measure only these parts and keep the others from the committed results/faq.json "
                        "(e.g. --only bert_masking after a zoo BERT was rebuilt)")
    args = p.parse_args(argv)
    model, tok, name = load(args.model or default_model())
    data = {"model": name}
    if args.only:
        if not RESULTS.exists():
            p.error(f"--only keeps the other parts from {RESULTS}, which does not exist; run without --only")
        data = json.loads(RESULTS.read_text())
        if data.get("model") != name:
            p.error(f"--only: {RESULTS} was measured on {data.get('model')!r}, not {name!r}; run without --only")
    for key, fn in parts:
        if args.only and key not in args.only:
            continue
        t = time.time()
        data[key] = fn(model, tok)
        print(key, json.dumps(data[key])[:300], f"({time.time() - t:.0f} s)", flush=True)
    if not args.only or "soft_prompts_small" in args.only:
        small, small_tok, small_name = load("tinyworld-gpt")             # the same on the context-48 model
        data["soft_prompts_small"] = {"model": small_name, **soft_prompts(small, small_tok)}
    RESULTS.parent.mkdir(exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, RESULTS)


if __name__ == "__main__":
    main()
