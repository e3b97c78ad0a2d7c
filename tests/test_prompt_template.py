"""Templates t(x) (E2.2's t; article §3.2 step 2) and verbalizers (S11): parsing, special ids,
out-of-vocabulary words, and the bad inputs of the prompt-learning issue."""

import pytest

from prompt_tiny import LABEL_WORDS, tokenizer
from tinyllm.prompt.template import Template, encode_text
from tinyllm.prompt.verbalizer import Verbalizer


def test_parse_slots():
    t = Template("{x} it was {mask} . {soft*2} {soft:it was} {soft} {trigger*3} {question}")
    assert t.fields == ("x", "question") and t.has_mask and t.has_soft and t.num_triggers == 3
    kinds = [p[0] for p in t.parts]
    assert kinds.count("soft") == 3 and kinds.count("trigger") == 1


def test_compile_splices_special_ids():
    tok = tokenizer()
    assert tok.encode("[MASK]") == [tok.unk_id] * 3              # why splicing is needed
    pieces, _ = Template("{x} [SEP] it was {mask} .").compile(tok)
    ids = [i for p in pieces if p[0] == "ids" for i in p[1]]
    assert tok.sep_id in ids and tok.unk_id not in ids
    assert encode_text(tok, "the [MASK] was") == [tok.token_to_id("the"), tok.mask_id, tok.token_to_id("was")]


def test_soft_words_count_and_init():
    tok = tokenizer()
    pieces, init = Template("{x} {soft:it was} {soft*2} {mask}").compile(tok)
    assert init == [tok.token_to_id("it"), tok.token_to_id("was"), None, None]
    assert [p for p in pieces if p[0] == "soft"] == [("soft", j) for j in range(4)]


def test_literal_braces():
    tok = tokenizer()
    t = Template("{{x}} {x} {mask}")
    assert t.fields == ("x",) and t.parts[0] == ("text", "{")


@pytest.mark.parametrize("text, match", [
    ("it was {mask} .", "no input slot"),                  # no {x}
    ("{x} {mask} {mask}", "2 {mask}"),
    ("{x} {soft*0} {mask}", "count >= 1"),
    ("{x} {soft:} {mask}", "needs words"),
    ("{x} {trigger} {mask}", "bad slot"),
    ("{x} {1abc} {mask}", "bad slot"),
    ("{x} } {mask}", "unbalanced"),
])
def test_bad_templates(text, match):
    with pytest.raises(ValueError, match=match):
        Template(text)


def test_template_type_error():
    with pytest.raises(TypeError, match="template text"):
        Template(3)


def test_oov_word_in_template_is_named():
    with pytest.raises(ValueError, match="'zebra'"):
        Template("{x} a zebra was {mask}").compile(tokenizer())
    with pytest.raises(ValueError, match="'zebra'"):
        Template("{x} {soft:zebra} {mask}").compile(tokenizer())


def test_verbalizer_ids_and_order():
    tok = tokenizer()
    v = Verbalizer(LABEL_WORDS, tok)
    assert v.label_names == ["neg", "pos"]
    assert v.word_ids[0] == [[tok.token_to_id("awful")], [tok.token_to_id("very"), tok.token_to_id("bad")]]
    assert set(v.label_token_ids()) == {tok.token_to_id(w) for w in ("awful", "very", "bad", "great", "good")}
    assert Verbalizer([("a", "great"), ("b", "awful")], tok).words == [["great"], ["awful"]]


@pytest.mark.parametrize("label_words, match", [
    ({"neg": [], "pos": ["great"]}, "is empty"),
    ({"": ["awful"], "pos": ["great"]}, "non-empty"),
    ([("neg", ["awful"]), ("neg", ["great"])], "duplicate label"),
    ({"neg": ["great"], "pos": ["great"]}, "duplicate word"),
    ({"neg": ["awful"], "pos": ["zebra"]}, "'zebra'"),
    ({"neg": ["awful"], "pos": [" "]}, "non-empty"),
    ({"neg": ["awful"]}, "at least two"),
])
def test_bad_verbalizers(label_words, match):
    with pytest.raises(ValueError, match=match):
        Verbalizer(label_words, tokenizer())


def test_verbalizer_options_checked():
    with pytest.raises(ValueError, match="combine"):
        Verbalizer(LABEL_WORDS, tokenizer(), combine="sum")
    with pytest.raises(ValueError, match="decoding"):
        Verbalizer(LABEL_WORDS, tokenizer(), decoding="random")
    with pytest.raises(TypeError, match="label_words"):
        Verbalizer("great", tokenizer())


def test_package_reexports_lazily():
    import tinyllm.prompt as P

    assert P.Template is Template and P.Verbalizer is Verbalizer
    assert callable(P.PromptModel) and callable(P.calibrate) and callable(P.Demonstrations)
    with pytest.raises(AttributeError, match="no attribute"):
        P.nothing_here


def test_package_names_are_the_functions_not_their_modules():
    import tinyllm.prompt.autoprompt  # noqa: F401  (the submodule imported first must not shadow the function)
    from tinyllm.prompt import autoprompt, fit

    assert callable(autoprompt) and callable(fit)
