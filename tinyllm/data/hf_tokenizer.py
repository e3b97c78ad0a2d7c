"""tinyllm tokenizers in the Hugging Face ``tokenizers`` format (``tokenizer.json``), both ways.

``to_hf_json(tok)`` writes the same tokenizer as a ``tokenizers`` pipeline: the same ids on every
text (every tinyllm tokenizer has an exact counterpart) and the same decoded text:

    char       BPE model without merges, ``byte_fallback`` (unknown characters -> <0xNN> tokens);
               decoder ByteFallback + Fuse
    word       WordLevel model with [UNK]; Lowercase normalizer when ``lower``; the word/punctuation
               split as a regex; a decoder that puts tinyllm's spaces back (a space before each word,
               none before . , ; : ? ! ) ] nor after ( [ -- and one at the very start, so that
               ``prompt + decode(new tokens)`` reads right, as text-generation pipelines build it)
    bpe        BPE model with the merges; tinyllm's chunk regex (or GPT-2's) + ByteLevel; ByteLevel
               decoder
    wordpiece  WordPiece model; BertNormalizer + BertPreTokenizer, as in BERT's own tokenizer.json;
               a decoder that joins pieces as tinyllm does. (Hugging Face's Rust normalizer and tinyllm, which follows
               transformers' Python ``BertTokenizerLegacy``, differ on all-caps Greek final sigma and
               on characters newer than Python's Unicode tables; see wordpiece_tokenizer.py.)

Special tokens are ``added_tokens``. tinyllm's char, word and BPE tokenizers never read "[PAD]" in
a text as the special token; ``tokenizer_config.json`` therefore sets ``split_special_tokens``.
``framing`` adds a post-processor: "bos" ([BOS] text, as a GPT reads) or "cls_sep" ([CLS] text [SEP],
as a BERT reads); ``add_special_tokens=False`` in transformers gives exactly ``tok.encode``.

``from_hf_json(payload)`` reads such a file back, and also BERT's and GPT-2-style byte-level BPE
``tokenizer.json`` files written by others; any other pipeline is refused with a clear error rather
than read approximately.
"""

from .pretokenize import GPT2, TINYLLM_BPE, WORD, onig_pattern

_NO_SPACE_BEFORE = ".,;:?!)]"
_NO_SPACE_AFTER = "(["
_CONFIG_ROLES = {"bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[PAD]",
                 "unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                 "mask_token": "[MASK]"}


# ------------------------------------------------------------------------------ writing


def to_hf_json(tok, framing=None):
    """The ``tokenizer.json`` payload (a dict) of tinyllm tokenizer ``tok``."""
    parts = {"char": _char, "word": _word, "bpe": _bpe, "wordpiece": _wordpiece}[tok.kind](tok)
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": tok.id_to_token(i), "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False, "special": True}
                         for i in sorted(tok.special_ids)],
        "normalizer": parts.get("normalizer"),
        "pre_tokenizer": parts.get("pre_tokenizer"),
        "post_processor": _post_processor(tok, framing),
        "decoder": parts["decoder"],
        "model": parts["model"],
    }


def to_hf_config(tok):
    """The ``tokenizer_config.json`` payload that makes transformers use ``tokenizer.json`` as is."""
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
              "split_special_tokens": tok.kind != "wordpiece"}
    for key, role in _CONFIG_ROLES.items():
        i = tok._special(role)
        if i is not None:
            config[key] = tok.id_to_token(i)
    if tok.kind == "wordpiece":
        config["do_lower_case"] = tok.do_lower_case
    return config


def _vocab(tok):
    return {t: i for i, t in enumerate(tok.vocab())}


def _split(rule):
    # invert=True + Removed: the pieces are exactly the regex's matches (Python's findall)
    return {"type": "Split", "pattern": {"Regex": onig_pattern(rule)}, "behavior": "Removed",
            "invert": True}


def _char(tok):
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": True,
             "ignore_merges": False, "vocab": _vocab(tok), "merges": []}
    return {"model": model,
            "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]}}


def _word(tok):
    steps = [{"type": "Replace", "pattern": {"Regex": "^"}, "content": " "}, {"type": "Fuse"}]
    steps += [{"type": "Replace", "pattern": {"String": " " + c}, "content": c} for c in _NO_SPACE_BEFORE]
    steps += [{"type": "Replace", "pattern": {"String": c + " "}, "content": c} for c in _NO_SPACE_AFTER]
    return {"normalizer": {"type": "Lowercase"} if tok.lower else None,
            "pre_tokenizer": _split(WORD),
            "model": {"type": "WordLevel", "vocab": _vocab(tok), "unk_token": "[UNK]"},
            "decoder": {"type": "Sequence", "decoders": steps}}


def _bpe(tok):
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                  "use_regex": tok.pretokenizer == GPT2}
    pre = byte_level if tok.pretokenizer == GPT2 else {
        "type": "Sequence", "pretokenizers": [_split(TINYLLM_BPE), byte_level]}
    itos = tok.vocab()
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
             "ignore_merges": False, "vocab": _vocab(tok),
             "merges": [[itos[a], itos[b]] for a, b in tok.merges]}
    return {"pre_tokenizer": pre, "model": model,
            "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                        "use_regex": False}}


def _wordpiece(tok):
    return {"normalizer": {"type": "BertNormalizer", "clean_text": True,
                           "handle_chinese_chars": tok.tokenize_chinese_chars,
                           "strip_accents": tok.strip_accents, "lowercase": tok.do_lower_case},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "max_input_chars_per_word": tok.max_input_chars_per_word,
                      "vocab": _vocab(tok)},
            # tinyllm's decode: a space before every piece but "##" ones (one at the very start too,
            # for prompt + decode(new tokens)); no clean-up of spaces before punctuation
            "decoder": {"type": "Sequence", "decoders": [
                {"type": "Replace", "pattern": {"Regex": "^(?!##)"}, "content": " "},
                {"type": "Replace", "pattern": {"Regex": "^##"}, "content": ""},
                {"type": "Fuse"}]}}


def _post_processor(tok, framing):
    if framing is None:
        return None
    roles = {"bos": ["[BOS]"], "cls_sep": ["[CLS]", "[SEP]"]}.get(framing)
    if roles is None:
        raise ValueError(f"framing must be None, 'bos' or 'cls_sep', got {framing!r}")
    ids = [tok._special(r) for r in roles]
    if None in ids:
        return None     # the tokenizer has no such tokens: nothing to add
    names = [tok.id_to_token(i) for i in ids]

    def special(name):
        return {"SpecialToken": {"id": name, "type_id": 0}}

    def seq(s):
        return {"Sequence": {"id": s, "type_id": 0}}

    if framing == "bos":
        single, pair = [special(names[0]), seq("A")], [special(names[0]), seq("A"), seq("B")]
    else:
        single = [special(names[0]), seq("A"), special(names[1])]
        pair = single + [seq("B"), special(names[1])]
    return {"type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": {n: {"id": n, "ids": [i], "tokens": [n]} for n, i in zip(names, ids)}}


# ------------------------------------------------------------------------------ reading


def is_hf_json(payload):
    """True for a dict that looks like a ``tokenizers`` file (it has a model and added tokens)."""
    return isinstance(payload, dict) and isinstance(payload.get("model"), dict) and \
        "added_tokens" in payload


def from_hf_json(payload):
    """A tinyllm tokenizer from a ``tokenizer.json`` payload (ValueError for pipelines it lacks)."""
    from .bpe_tokenizer import BPETokenizer
    from .char_tokenizer import BYTE_TOKENS, CharTokenizer
    from .word_tokenizer import WordTokenizer
    from .wordpiece_tokenizer import WordPieceTokenizer

    model = payload["model"]
    kind = model.get("type")
    itos = _itos(model.get("vocab"))
    added = payload.get("added_tokens")
    if not isinstance(added, list) or not all(isinstance(a, dict) for a in added):
        raise ValueError("added_tokens must be a list of objects")
    specials = [a.get("content") for a in sorted(added, key=lambda a: str(a.get("id")))
                if a.get("special")]
    normalizer = payload.get("normalizer") or {}
    pre = payload.get("pre_tokenizer") or {}
    if kind == "WordPiece":
        if model.get("continuing_subword_prefix", "##") != "##":
            raise ValueError("a WordPiece model with a prefix other than '##' is not supported")
        if normalizer.get("type") != "BertNormalizer" or pre.get("type") != "BertPreTokenizer":
            raise ValueError("only BERT's WordPiece pipeline (BertNormalizer + BertPreTokenizer) "
                             "is supported")
        options = {"do_lower_case": normalizer.get("lowercase", True),
                   "strip_accents": normalizer.get("strip_accents"),
                   "tokenize_chinese_chars": normalizer.get("handle_chinese_chars", True),
                   "max_input_chars_per_word": model.get("max_input_chars_per_word", 100)}
        return WordPieceTokenizer(itos, **options)
    if kind == "WordLevel":
        n = len(specials)
        if itos[:n] != specials or pre.get("type") != "Split":
            raise ValueError("only WordLevel files written by tinyllm (specials first, tinyllm's "
                             "word split) are supported")
        return WordTokenizer(itos[n:], lower=normalizer.get("type") == "Lowercase",
                             specials=specials)
    if kind == "BPE" and model.get("byte_fallback"):
        n = len(specials)
        if itos[:n] != specials or tuple(itos[n:n + 256]) != BYTE_TOKENS or model.get("merges"):
            raise ValueError("only byte-fallback BPE files written by tinyllm's CharTokenizer "
                             "(specials, 256 byte tokens, characters; no merges) are supported")
        return CharTokenizer(itos[n + 256:], specials=specials)
    if kind == "BPE":
        levels = [pre] + list(pre.get("pretokenizers") or [])
        byte_level = [p for p in levels if isinstance(p, dict) and p.get("type") == "ByteLevel"]
        if not byte_level:
            raise ValueError("only byte-level BPE (a ByteLevel pre-tokenizer) is supported")
        rule = GPT2 if byte_level[0].get("use_regex", True) else TINYLLM_BPE
        stoi = {t: i for i, t in enumerate(itos)}
        merges = []
        for k, m in enumerate(model.get("merges") or []):
            pair = m.split(" ") if isinstance(m, str) else m
            if not isinstance(pair, list) or len(pair) != 2 or not all(p in stoi for p in pair):
                raise ValueError(f"model.merges[{k}] = {m!r} is not a pair of vocabulary tokens"[:200])
            merges.append((stoi[pair[0]], stoi[pair[1]]))
        if rule == TINYLLM_BPE and itos[:len(specials)] == specials:
            try:
                default = BPETokenizer(merges, specials=specials)
            except ValueError:
                default = None
            if default is not None and default.vocab() == itos:
                return default          # tinyllm's own layout: keep its compact form
        aliases = {r: "<|endoftext|>" for r in ("[BOS]", "[EOS]")} \
            if specials == ["<|endoftext|>"] else None
        return BPETokenizer(merges, specials=specials, vocab=itos, pretokenizer=rule,
                            aliases=aliases)
    raise ValueError(f"model type {kind!r} is not supported (tinyllm reads WordPiece, WordLevel "
                     f"and byte-level BPE)")


def _itos(vocab):
    """A {token: id} map -> the tokens in id order (the ids must be 0..n-1, each once)."""
    if not isinstance(vocab, dict) or not vocab:
        raise ValueError("model.vocab must be a non-empty object {token: id}")
    itos = [None] * len(vocab)
    for t, i in vocab.items():
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(vocab) or \
                itos[i] is not None:
            raise ValueError(f"model.vocab: id {i!r} of {t!r} is not one of 0..{len(vocab) - 1} "
                             f"used once"[:200])
        itos[i] = t
    return itos
