"""Automatic prompts (S13): AutoPrompt's gradient-guided trigger search and label-word search.

AutoPrompt (Shin et al. 2020) fills a template's ``{trigger*N}`` slots with real tokens. With the
model frozen, the loss L (cross-entropy over the label scores, E2.2) is linearised around the current
trigger embedding e_t of one slot: replacing it by word w changes L by about (e_w - e_t)^T grad_{e_t} L,
so the best candidates are

    top-k over w of  -e_w^T grad_{e_t} L                                          (S13)

(the label words and special tokens excluded); each candidate is then scored exactly on the batch, and
the best one is kept if it lowers the loss.

``label_search`` picks label words automatically (in the spirit of LM-BFF's search): for each label,
the tokens the model finds likeliest at the answer slot for that label's examples, ranked by how much
more likely they are there than for the other labels' examples.
"""

import numpy as np

from tinyllm.prompt.demonstrations import as_pairs
from tinyllm.prompt.prompt_model import TRIGGER


def autoprompt(prompt_model, examples, iters, n_candidates=10, batch_size=16, seed=0, exclude=()):
    """Search the {trigger} tokens of `prompt_model` on labelled `examples` (S13), in place.

    Each iteration: a seeded batch, the gradient of the loss with respect to the trigger embeddings,
    one slot (seeded), its `n_candidates` best-scoring replacements re-scored on the batch. `exclude`:
    extra words never to use. Returns dict(trigger_ids, triggers (token strings), losses (the batch
    loss after each iteration))."""
    pm = prompt_model
    if not pm.n_trig:
        raise ValueError(f"template {pm.template.text!r} has no {{trigger*N}} slots to search")
    pairs = as_pairs(examples)
    texts, labels = [t for t, _ in pairs], [y for _, y in pairs]
    for name, value, low in (("iters", iters, 0), ("n_candidates", n_candidates, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    tok = pm.tokenizer
    banned = np.zeros(tok.vocab_size, bool)
    banned[sorted(tok.special_ids)] = True
    banned[pm.verbalizer.label_token_ids()] = True
    for w in exclude:
        banned[tok.encode(w)] = True
    if banned.all():
        raise ValueError("every token is a label word, a special token or excluded: nothing to search")
    E = pm.model.params["tok_emb"]                                         # (V, C)
    rng = np.random.default_rng([int(seed), 17])
    losses = []
    for _ in range(iters):
        b = rng.choice(len(texts), size=min(batch_size, len(texts)), replace=False)
        bt, by = [texts[i] for i in b], [labels[i] for i in b]
        loss, grads = pm.loss_and_grads(bt, by)
        j = int(rng.integers(pm.n_trig))
        score = -(E @ grads[TRIGGER][j])                                   # -e_w^T grad_{e_t} L   (V,)
        score[banned] = -np.inf
        score[pm.trigger_ids[j]] = -np.inf
        n = min(n_candidates, int(np.isfinite(score).sum()))
        candidates = np.argsort(-score, kind="stable")[:n]
        best, best_loss = pm.trigger_ids[j], loss
        current = list(pm.trigger_ids)
        for w in candidates:
            pm.set_triggers(current[:j] + [int(w)] + current[j + 1:])
            cand_loss = pm.loss(bt, by)
            if cand_loss < best_loss:
                best, best_loss = int(w), cand_loss
        pm.set_triggers(current[:j] + [best] + current[j + 1:])
        losses.append(float(best_loss))
    return {"trigger_ids": list(pm.trigger_ids), "triggers": [tok.id_to_token(i) for i in pm.trigger_ids],
            "losses": losses}


def label_search(prompt_model, examples, top_k=3, n_likely=20, exclude=()):
    """Label words for each label from the model's answer-slot distribution (S11 automated).

    For label y: the `n_likely` tokens w with the highest mean log P(w | t(x)) over y's examples,
    ranked by that mean minus the mean over the other labels' examples; the `top_k` best, each token
    used by one label at most (labels in order). Special tokens and `exclude` never count.
    Returns dict label name -> list of words (feed it to Verbalizer)."""
    pm = prompt_model
    pairs = as_pairs(examples)
    names = pm.verbalizer.label_names
    labels = np.array([pm._labels([y], 1)[0] for _, y in pairs])
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
    missing = [names[c] for c in range(len(names)) if not (labels == c).any()]
    if missing:
        raise ValueError(f"examples have no example of label(s) {missing}: label_search needs each label")
    lp = pm.answer_log_probs([t for t, _ in pairs])                        # (N, V)
    tok = pm.tokenizer
    usable = np.ones(tok.vocab_size, bool)
    usable[sorted(tok.special_ids)] = False
    for w in exclude:
        usable[tok.encode(w)] = False
    out, taken = {}, set()
    for c, name in enumerate(names):
        inside = lp[labels == c].mean(axis=0)
        others = lp[labels != c].mean(axis=0)
        likely = [w for w in np.argsort(-inside, kind="stable") if usable[w] and w not in taken][:max(n_likely, top_k)]
        ranked = sorted(likely, key=lambda w: -(inside[w] - others[w]))[:top_k]
        taken.update(int(w) for w in ranked)
        out[name] = [tok.id_to_token(int(w)) for w in ranked]
    return out
