"""tinyllm.apps.metrics against examples worked out by hand."""

import math

import pytest

from tinyllm.apps.metrics import bleu, chrf, exact_match, normalize, precision_at_1, precision_recall_f1, rouge


def test_exact_match_normalises_case_space_and_the_full_stop():
    assert normalize("  Fennick . ") == "fennick"
    assert exact_match(["Fennick.", "baker", None, "cat"], ["fennick", "Baker", "x", "dog"]) == 0.5


def test_bleu_by_hand():
    # unigrams 5/6 (the second "the" is clipped), bigrams 3/5, trigrams 2/4, 4-grams 1/3, same length
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert bleu(["the cat sat on the mat"], ["the cat sat on a mat"]) == pytest.approx(expected, abs=1e-9)
    assert bleu(["a b c d"], ["a b c d"]) == pytest.approx(100.0)


def _chrf_by_hand(hyp, ref, n=6, beta=2):
    """chrF (Popović 2015) as sacrebleu defines it: character n-grams without spaces, precision and
    recall averaged over the orders 1..n, then the F-beta of the two averages."""
    h, r = hyp.replace(" ", ""), ref.replace(" ", "")
    ps, rs = [], []
    for k in range(1, n + 1):
        hg = [h[i:i + k] for i in range(len(h) - k + 1)]
        rg = [r[i:i + k] for i in range(len(r) - k + 1)]
        match = sum(min(hg.count(g), rg.count(g)) for g in set(hg))
        ps.append(match / len(hg) if hg else 0.0)
        rs.append(match / len(rg) if rg else 0.0)
    p, q = sum(ps) / n, sum(rs) / n
    return 100 * (1 + beta**2) * p * q / (beta**2 * p + q)


def test_chrf_by_hand():
    hyp, ref = "ka musa fuma", "ka musa tavo"
    assert chrf([hyp], [ref]) == pytest.approx(_chrf_by_hand(hyp, ref), abs=1e-6)
    assert chrf(["abc"], ["abc"]) == pytest.approx(100.0)


def test_rouge_by_hand():
    r = rouge(["Lena gave Greta a clock"], ["Lena gave Anna a clock"])
    assert r["rouge1"] == pytest.approx(0.8)      # 4 of 5 words
    assert r["rouge2"] == pytest.approx(0.5)      # "Lena gave", "a clock" of 4 bigrams
    assert r["rougeL"] == pytest.approx(0.8)      # LCS "Lena gave a clock"
    assert rouge([None], ["a b"])["rouge1"] == 0.0


def test_precision_recall_f1_by_hand():
    pred = [{("Anna", "lives_in", "Fennick"), ("Anna", "job", "baker")}, set()]
    gold = [{("Anna", "lives_in", "Fennick")}, {("Ben", "pet", "cat")}]
    m = precision_recall_f1(pred, gold)
    assert (m["precision"], m["recall"]) == (0.5, 0.5)
    assert m["f1"] == pytest.approx(0.5)
    assert precision_recall_f1([set()], [{1}])["f1"] == 0.0


def test_precision_at_1():
    assert precision_at_1([["Fennick", "Tolmar"], ["cat"], "dog", []], ["Fennick", "dog", "dog", "x"]) == 0.5


def test_length_mismatch_and_empty_input_are_value_errors():
    with pytest.raises(ValueError, match="the same length"):
        exact_match(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="at least one example"):
        bleu([], [])
    assert math.isfinite(chrf([""], ["a"]))
