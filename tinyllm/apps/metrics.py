"""The applications' metrics (article §3.2 step 5, evaluation).

BLEU and chrF come from ``sacrebleu`` and ROUGE from ``rouge-score`` (the reference implementations
that papers report); exact match, precision/recall/F1 over sets and P@1 are small enough to write
here. Every function takes plain Python lists of strings (or of hashable items for sets).
"""


def _check_pairs(predictions, references):
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(f"predictions and references: expected the same length, got "
                         f"{len(predictions)} and {len(references)}")
    if not predictions:
        raise ValueError("predictions: expected at least one example, got none")
    return predictions, references


def normalize(text):
    """Lower-case, single spaces, no trailing full stop: how exact match compares two answers."""
    if text is None:
        return None
    return " ".join(str(text).lower().split()).rstrip(" .")


def exact_match(predictions, references):
    """Fraction of predictions equal to their reference after ``normalize`` (None never matches)."""
    predictions, references = _check_pairs(predictions, references)
    hits = sum(p is not None and normalize(p) == normalize(r) for p, r in zip(predictions, references))
    return hits / len(predictions)


def bleu(predictions, references):
    """Corpus BLEU (0-100) by ``sacrebleu.corpus_bleu`` with its default 13a tokenizer."""
    import sacrebleu

    predictions, references = _check_pairs(predictions, references)
    return float(sacrebleu.corpus_bleu([p or "" for p in predictions], [references]).score)


def chrf(predictions, references):
    """Corpus chrF (0-100) by ``sacrebleu.corpus_chrf``."""
    import sacrebleu

    predictions, references = _check_pairs(predictions, references)
    return float(sacrebleu.corpus_chrf([p or "" for p in predictions], [references]).score)


def rouge(predictions, references, types=("rouge1", "rouge2", "rougeL")):
    """Mean ROUGE F-measure (0-1) per type, by ``rouge_score.rouge_scorer.RougeScorer``."""
    from rouge_score import rouge_scorer

    predictions, references = _check_pairs(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(types), use_stemmer=False)
    totals = dict.fromkeys(types, 0.0)
    for p, r in zip(predictions, references):
        scores = scorer.score(r, p or "")
        for t in types:
            totals[t] += scores[t].fmeasure
    return {t: v / len(predictions) for t, v in totals.items()}


def precision_recall_f1(predicted, gold):
    """Micro precision, recall and F1 of predicted sets against gold sets.

    ``predicted`` and ``gold``: lists (one entry per example) of iterables of hashable items, e.g.
    (subject, relation, object) triples. Counts are pooled over all examples; with nothing
    predicted at all the precision is 0.0 (and so is F1).
    """
    predicted, gold = _check_pairs(predicted, gold)
    tp = n_pred = n_gold = 0
    for p, g in zip(predicted, gold):
        p, g = set(p), set(g)
        tp += len(p & g)
        n_pred += len(p)
        n_gold += len(g)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "predicted": n_pred,
            "gold": n_gold}


def precision_at_1(ranked, gold):
    """P@1 (LAMA): the fraction of examples whose top-ranked prediction equals the gold answer.

    ``ranked``: one list of candidates per example, best first (or just the best one as a str).
    """
    ranked, gold = _check_pairs(ranked, gold)
    tops = [r if isinstance(r, str) or r is None else (r[0] if len(r) else None) for r in ranked]
    return sum(t is not None and t == g for t, g in zip(tops, gold)) / len(gold)
