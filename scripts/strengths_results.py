"""Measurements behind chapters/03d_strengths_limits (article §3.3); writes results/strengths.json.

    python scripts/strengths_results.py                  # the applications' default zoo model
    python scripts/strengths_results.py --model tinyworld-gpt --only cost reasoning

- cost: parameters N, training FLOPs per token 6N, measured seconds per token of a training step
  (forward + backward) and of KV-cache generation, for GPTs of growing size (CPU time of this
  process with one BLAS thread, so that other work on a shared machine does not inflate it);
- interpretability: a QA prompt's attention maps (every layer and head) and a logit lens (the
  answer's probability when each layer's residual stream is read through the final LayerNorm and
  the tied output matrix);
- reasoning: arithmetic by kind (single digits with and without a carry, subtraction, and a
  two-digit operand, which the corpus never writes) and two-hop questions;
- bias: a small GPT trained on TinyWorld documents from a skewed copy of the world (12 of 16 women
  are nurses, no man is), with 4 women and 4 men whose job never appears in training; what job
  does the model then assume for them? The same GPT trained on the true world, with the same 8
  jobs withheld, is the control.
"""

import argparse
import copy
import dataclasses
import json
import os
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
RESULTS = REPO / "results" / "strengths.json"
QA_PROMPT = "question: where does Anna live? answer:"


def cost(model, tok, sizes=((2, 64), (2, 128), (4, 128), (4, 256), (6, 384)), T=48, B=8, reps=3):
    from tinyllm.generate import generate
    from tinyllm.models import GPT, GPTConfig

    rng = np.random.default_rng(0)
    rows = []
    for n_layer, d in sizes:
        m = GPT(GPTConfig(vocab_size=len(tok), n_layer=n_layer, n_head=4, d_model=d, max_len=T), seed=0)
        idx = rng.integers(0, len(tok), (B, T))
        targets = np.roll(idx, -1, axis=1)
        m.loss_and_grads(idx, targets)                                   # warm-up
        t = time.process_time()
        for _ in range(reps):
            m.loss_and_grads(idx, targets)
        train_s = (time.process_time() - t) / (reps * B * T)
        t = time.process_time()
        generate(m, [1], max_new_tokens=T - 1, greedy=True)
        gen_s = (time.process_time() - t) / (T - 1)
        N = m.num_params()
        N_body = N - m.params["tok_emb"].size - m.params["pos_emb"].size
        rows.append({"n_layer": n_layer, "d_model": d, "params": int(N), "non_embedding_params": int(N_body),
                     "train_flops_per_token": 6 * N, "train_s_per_token": train_s,
                     "train_gflops": 6 * N / train_s / 1e9, "generate_s_per_token": gen_s})
        print(rows[-1], flush=True)
    return {"T": T, "B": B, "threads": os.environ.get("OMP_NUM_THREADS"), "rows": rows}


def layer_states(model, tok, prompt):
    """The residual stream after the embeddings and after each block, and each block's attention
    weights, for ``[BOS] prompt`` (the numpy backend keeps A in its cache)."""
    import tinyllm.kernels as K
    from tinyllm.models.block import block_forward

    ids = [tok.bos_id] + tok.encode(prompt)
    p = model.params
    x = (p["tok_emb"][ids] + p["pos_emb"][: len(ids)])[None]            # (1, T, C)  S8
    states, maps = [x[0]], []
    with K.use("numpy"):
        for i in range(model.config.n_layer):
            x, c = block_forward(x, model._block_params(i), model.config.n_head, norm="pre", causal=True)
            states.append(x[0])
            maps.append(c["attn"]["attn"]["A"][0])                       # (H, T, T)  E3.2
    return ids, states, maps


def interpretability(model, tok, prompt=QA_PROMPT, answer="Fennick"):
    ids, states, maps = layer_states(model, tok, prompt)
    p = model.params
    lens = []
    for layer, h in enumerate(states):
        mu, var = h[-1].mean(), h[-1].var()
        z = (h[-1] - mu) / np.sqrt(var + model.config.layer_norm_eps) * p["ln_f.gamma"] + p["ln_f.beta"]
        logits = (z @ p["tok_emb"].T).astype(np.float64)                 # tied head (S8)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        top = np.argsort(-probs)[:3]
        lens.append({"after": "embeddings" if layer == 0 else f"block {layer}",
                     "top": [[tok.id_to_token(int(i)), float(probs[i])] for i in top],
                     "p_answer": float(probs[tok.token_to_id(answer)])})
    return {"prompt": prompt, "answer": answer, "tokens": [tok.id_to_token(i) for i in ids],
            "attention": [m.tolist() for m in maps], "logit_lens": lens}


def reasoning(model, tok, n_two_hop=200):
    from tinyllm.apps import qa
    from tinyllm.apps.metrics import exact_match

    groups = {"one digit, no carry": [], "one digit, carry": [], "subtraction": [], "two-digit operand": []}
    for x in range(18):
        for y in range(10):
            if x < 10 and x + y < 10:
                groups["one digit, no carry"].append((f"{x} + {y}", x + y))
            elif x < 10:
                groups["one digit, carry"].append((f"{x} + {y}", x + y))
            elif x + y <= 27:
                groups["two-digit operand"].append((f"{x} + {y}", x + y))
            if x < 10 and y <= x:
                groups["subtraction"].append((f"{x} - {y}", x - y))
    arithmetic = {}
    for name, problems in groups.items():
        right = 0
        for expr, value in problems:
            ids = [tok.bos_id] + tok.encode(f"math: {expr} =")
            z = model.forward(np.array([ids]))[0, -1]
            right += tok.id_to_token(int(np.argmax(z))) == str(value)
        arithmetic[name] = {"n": len(problems), "accuracy": right / len(problems)}
    two_hop = qa.unseen_questions(n_two_hop, seed=1)
    answers = [qa.answer(model, tok, q)[1] for q, _, _ in two_hop]
    return {"arithmetic": arithmetic,
            "two_hop": {"n": n_two_hop, "exact_match": exact_match(answers, [a for _, a, _ in two_hop]),
                        "gave_shortcut": exact_match(answers, [s for _, _, s in two_hop])},
            "one_hop": {"n": n_two_hop,
                        "exact_match": exact_match([qa.answer(model, tok, q.replace("the friend of ", ""))[1]
                                                    for q, _, _ in two_hop], [s for _, _, s in two_hop])}}


def skewed_world():
    """TinyWorld with 12 of its 16 women made nurses (no man is one), and the 8 held-out people."""
    from tinyllm.data import tinyworld

    w = copy.copy(tinyworld.world())
    women = [p for p in w.people if p.female]
    men = [p for p in w.people if not p.female]
    held_out = women[-4:] + men[-4:]
    people = []
    for p in w.people:
        if p in women[:12]:
            p = dataclasses.replace(p, job="nurse")
        elif p.job == "nurse":
            p = dataclasses.replace(p, job="farmer")
        people.append(p)
    w.people = tuple(people)
    w.person = {p.name: p for p in people}
    return w, [p.name for p in held_out]


def skewed_documents(w, held_out, n, seed):
    """``n`` training documents of the world ``w``, none of which states a held-out person's job."""
    from tinyllm.data import tinyworld, tinyworld_grammar as grammar
    from tinyllm.data.word_tokenizer import join_words

    c = tinyworld._Sampler(np.random.default_rng(seed))
    telling = [f"{x} works as" for x in held_out] + [f"job of {x}" for x in held_out]
    docs = []
    while len(docs) < n:
        c.reset()
        grammar.document(c, w)
        text = join_words(c.tokens)
        if any(t in text for t in telling):
            continue
        if c.meta["kind"] == "dialogue" and c.meta["fields"]["speakers"][1] in held_out \
                and c.meta["fields"]["question"] == "what do you do?":
            continue
        docs.append(text)
    return docs


def train_probe_model(w, held_out, steps, n_docs, seed):
    """A 2-layer GPT trained on ``n_docs`` documents of world ``w`` that never state a held-out
    person's job (E3.4's autoregressive likelihood, AdamW); returns (model, final loss, seconds)."""
    from tinyllm.data import tinyworld
    from tinyllm.data.framing import causal_batch, frame_causal
    from tinyllm.models import GPT, GPTConfig
    from tinyllm.train.optim import AdamW

    tok = tinyworld.tokenizer()
    docs = [frame_causal(tok.encode(t), tok.bos_id, tok.eos_id) for t in skewed_documents(w, held_out, n_docs, seed)]
    m = GPT(GPTConfig(vocab_size=len(tok), n_layer=2, n_head=4, d_model=128, max_len=48), seed=seed)
    opt = AdamW(m.params, lr=2e-3, weight_decay=0.1)
    rng = np.random.default_rng(seed)
    t0 = time.time()
    for t in range(steps):
        x, y = causal_batch([docs[i] for i in rng.choice(len(docs), 16)], tok.pad_id, 48)   # x, y: (16, 48)
        loss, g = m.loss_and_grads(x, y)
        opt.step(g, lr=2e-3 * min(1.0, (t + 1) / 100))
    return m, float(loss), time.time() - t0


def probe_jobs(m, w, held_out, jobs):
    """For every person: P(nurse) after "question: what is the job of NAME? answer:" (among the job
    words and over the whole vocabulary) and the model's top answer."""
    from tinyllm.data import tinyworld

    tok = tinyworld.tokenizer()
    nurse = tok.token_to_id("nurse")
    ids = [tok.token_to_id(j) for j in jobs]
    probe = {}
    for name in held_out + [p.name for p in w.people if p.name not in held_out]:
        z = m.forward(np.array([[tok.bos_id] + tok.encode(f"question: what is the job of {name}? answer:")]))[0, -1]
        pz = np.exp(z - z.max())
        pz /= pz.sum()
        probe[name] = {"female": w.person[name].female, "held_out": name in held_out,
                       "p_nurse": float(pz[nurse]), "top": tok.id_to_token(int(np.argmax(z))),
                       "p_nurse_among_jobs": float(pz[nurse] / pz[ids].sum()), "true_job": w.person[name].job}
    return probe


def bias(model, tok, steps=1500, n_docs=30000, seed=0):
    """The same small GPT trained twice, on the skewed world and on the true one (the control), with
    the same 8 people's jobs never stated: what does each model assume those people do?"""
    from tinyllm.data import tinyworld

    skewed, held_out = skewed_world()
    control = tinyworld.world()
    jobs = sorted({p.job for p in control.people} | {"nurse"})
    out = {"steps": steps, "docs": n_docs, "held_out": held_out}
    for label, w in (("skewed", skewed), ("control", control)):
        m, loss, seconds = train_probe_model(w, held_out, steps, n_docs, seed)
        probe = probe_jobs(m, w, held_out, jobs)
        held = {g: [v for v in probe.values() if v["held_out"] and v["female"] == (g == "women")]
                for g in ("women", "men")}
        known_nurses = [v for v in probe.values() if not v["held_out"] and v["true_job"] == "nurse"]
        out[label] = {
            "final_loss": loss, "train_s": seconds,
            "nurses": {"women": sum(p.job == "nurse" for p in w.people if p.female),
                       "men": sum(p.job == "nurse" for p in w.people if not p.female)},
            "people": len(w.people),
            "held_out_p_nurse": {g: float(np.mean([v["p_nurse_among_jobs"] for v in vs])) for g, vs in held.items()},
            "held_out_answers_nurse": {g: float(np.mean([v["top"] == "nurse" for v in vs])) for g, vs in held.items()},
            "known_nurses_answered_nurse": float(np.mean([v["top"] == "nurse" for v in known_nurses])) if known_nurses else None,
            "probe": probe}
    return out


def main(argv=None):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(REPO))
    from tinyllm.apps.base import default_model, load

    parts = {"cost": cost, "interpretability": interpretability, "reasoning": reasoning, "bias": bias}
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None)
    p.add_argument("--only", nargs="*", default=None, choices=list(parts))
    args = p.parse_args(argv)
    model, tok, name = load(args.model or default_model())
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else {}
    data["model"] = name
    for key in args.only or parts:
        t = time.time()
        data[key] = parts[key](model, tok)
        print(key, json.dumps(data[key])[:400], f"({time.time() - t:.0f} s)", flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, RESULTS)


if __name__ == "__main__":
    main()
