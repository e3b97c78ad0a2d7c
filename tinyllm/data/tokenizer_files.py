"""``load_tokenizer``: read a tokenizer from any file tinyllm knows, recognising the format by content.

A folder is searched in this order:

    tinyllm_tokenizer.json           tinyllm's own format (``Tokenizer.save``)
    tokenizer.json                   tinyllm's own format (run folders before the Hugging Face
                                     export) or the Hugging Face ``tokenizers`` format
    vocab.json + merges.txt          GPT-2's byte-level BPE, as transformers ships it
    encoder.json + vocab.bpe         the same files under the names of OpenAI's GPT-2 release
    vocab.txt (+ tokenizer_config.json)   a BERT WordPiece vocabulary

A file is read by what is in it, not by its name: a JSON object with "tinyllm_tokenizer" is
tinyllm's format; one with "model" and "added_tokens" is Hugging Face's; one mapping strings to ids
is a GPT-2 vocabulary (its merges file must be beside it); text whose lines are pairs ("#version"
header allowed) is a GPT-2 merges file (its vocabulary must be beside it); text with one token per
line is a BERT vocabulary. A merges file is never read as a BERT vocabulary.

These files arrive from anywhere (a downloaded model, a run folder someone shared), so every size is
bounded before anything is built and every structural problem is a ValueError (TypeError for a
wrong type) that names the file: no traceback from deep inside, no unbounded allocation.
"""

import inspect
import os

from tinyllm.jsonfile import parse_json, read_text
from tinyllm.safepaths import folder_file

from .tokenizer import FORMAT_KEY, FORMAT_VERSION, HF_FILE, TINYLLM_FILE

MAX_TOKENIZER_BYTES = 64 * 1024 * 1024
_GPT2_PAIRS = (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe"))


def load_tokenizer(path):
    """A tokenizer from a file or a folder (see the module docstring for what is recognised)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _load_folder(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer file at path {path!r}")
    text = read_text(path, MAX_TOKENIZER_BYTES, "tokenizer file")
    head = text.lstrip()[:1]
    if head == "{" or path.lower().endswith(".json"):     # a .json file is JSON, never a vocab.txt
        return _from_json(parse_json(text, path, "tokenizer file"), path)
    if head == "{":
        return _from_json(parse_json(text, path, "tokenizer file"), path)
    if head == "[":                          # a JSON array, or a BERT vocab.txt ("[PAD]" first)
        try:
            payload = parse_json(text, path, "tokenizer file")
        except ValueError as e:
            if "nested too deeply" in str(e):
                raise
        else:
            return _from_json(payload, path)
    if _looks_like_merges(text):
        vocab = _beside(path, [v for v, _ in _GPT2_PAIRS])
        if vocab is None:
            raise ValueError(f"{path!r} is a GPT-2 merges file; its vocabulary (vocab.json or "
                             f"encoder.json) must be in the same folder")
        return load_gpt2(vocab, path)
    return load_bert_vocab(path, text=text)


def _in(folder, name):
    """The path of ``name`` in ``folder``; a symbolic link out of the folder is refused (tinyllm.safepaths)."""
    return folder_file(folder, name, "tokenizer file")


def _load_folder(folder):
    own = _in(folder, TINYLLM_FILE)
    if os.path.isfile(own):
        return load_tokenizer(own)
    if os.path.isfile(_in(folder, HF_FILE)):
        return load_tokenizer(_in(folder, HF_FILE))
    for vocab, merges in _GPT2_PAIRS:
        if os.path.isfile(_in(folder, vocab)) and os.path.isfile(_in(folder, merges)):
            return load_gpt2(_in(folder, vocab), _in(folder, merges))
    if os.path.isfile(_in(folder, "vocab.txt")):
        return load_bert_folder(folder)
    raise FileNotFoundError(f"path {folder!r} is a folder without a tokenizer: expected "
                            f"{TINYLLM_FILE}, {HF_FILE}, vocab.json + merges.txt, encoder.json + "
                            f"vocab.bpe, or vocab.txt")


def _from_json(payload, path):
    from .hf_tokenizer import from_hf_json, is_hf_json

    if isinstance(payload, dict) and FORMAT_KEY in payload:
        return _checked(path, lambda: _from_tinyllm(dict(payload)))
    if is_hf_json(payload):
        return _checked(path, lambda: from_hf_json(payload))
    if isinstance(payload, dict) and payload and all(isinstance(v, int) for v in payload.values()):
        merges = _beside(path, [m for _, m in _GPT2_PAIRS])
        if merges is None:
            raise ValueError(f"{path!r} is a GPT-2 vocabulary; its merges file (merges.txt or "
                             f"vocab.bpe) must be in the same folder")
        return load_gpt2(path, merges)
    raise ValueError(f"{path!r} is not a tokenizer file tinyllm knows: no {FORMAT_KEY!r} key "
                     f"(tinyllm), no 'model' and 'added_tokens' (Hugging Face), not a GPT-2 "
                     f"vocabulary")


def _checked(path, build):
    try:
        return build()
    except (TypeError, ValueError) as e:
        raise type(e)(f"tokenizer file {path!r}: {e}") from None


def _classes():
    from .bpe_tokenizer import BPETokenizer
    from .char_tokenizer import CharTokenizer
    from .word_tokenizer import WordTokenizer
    from .wordpiece_tokenizer import WordPieceTokenizer

    return {c.kind: c for c in (CharTokenizer, WordTokenizer, BPETokenizer, WordPieceTokenizer)}


def _from_tinyllm(payload):
    kind = payload.pop(FORMAT_KEY)
    version = payload.pop("version", FORMAT_VERSION)
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise ValueError(f"format version {version!r}; this tinyllm reads version {FORMAT_VERSION} "
                         f"(a newer tinyllm wrote it, or it is damaged)"[:300])
    classes = _classes()
    if not isinstance(kind, str) or kind not in classes:
        raise ValueError(f"unknown tokenizer kind {kind!r}; expected one of {sorted(classes)}"[:300])
    cls = classes[kind]
    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(payload) - known)
    if unknown:
        raise ValueError(f"unknown keys {unknown} for a {kind!r} tokenizer; known: {sorted(known)}"[:300])
    return cls(**payload)


def _beside(path, names):
    folder = os.path.dirname(os.path.abspath(path))
    for name in names:
        if os.path.isfile(_in(folder, name)):
            return _in(folder, name)
    return None


def _looks_like_merges(text):
    lines = text.splitlines()
    if lines and lines[0].startswith("#version"):
        return True
    return any(" " in line for line in lines[:1000])


# ------------------------------------------------------------------------------ GPT-2


def load_gpt2(vocab_path, merges_path):
    """GPT-2's byte-level BPE from its vocabulary (``vocab.json`` / ``encoder.json``) and merges
    (``merges.txt`` / ``vocab.bpe``), with GPT-2's exact ids; "<|endoftext|>" is [BOS] and [EOS]."""
    from .bpe_tokenizer import BPETokenizer
    from .hf_tokenizer import _itos

    vocab = parse_json(read_text(vocab_path, MAX_TOKENIZER_BYTES, "GPT-2 vocabulary"), vocab_path,
                       "GPT-2 vocabulary")
    itos = _checked(vocab_path, lambda: _itos(vocab))
    stoi = {t: i for i, t in enumerate(itos)}
    text = read_text(merges_path, MAX_TOKENIZER_BYTES, "GPT-2 merges file")
    merges = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or (lineno == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2 or pair[0] not in stoi or pair[1] not in stoi:
            raise ValueError(f"GPT-2 merges file {merges_path!r}, line {lineno}: expected two "
                             f"vocabulary tokens separated by one space, got {line[:80]!r}")
        merges.append((stoi[pair[0]], stoi[pair[1]]))
    produced = {itos[a] + itos[b] for a, b in merges}
    specials = [t for t in itos if len(t) > 1 and t not in produced]
    aliases = {r: "<|endoftext|>" for r in ("[BOS]", "[EOS]")} if "<|endoftext|>" in specials else None
    return _checked(merges_path, lambda: BPETokenizer(merges, specials=specials, vocab=itos,
                                                      pretokenizer="gpt2", aliases=aliases))


# ------------------------------------------------------------------------------ BERT


def load_bert_vocab(path, text=None, **options):
    """A WordPieceTokenizer from a BERT ``vocab.txt`` (one token per line; the line number is the id)."""
    from .wordpiece_tokenizer import WordPieceTokenizer

    path = os.fspath(path)
    if text is None:
        text = read_text(path, MAX_TOKENIZER_BYTES, "vocab file")
    vocab = text.split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()
    vocab = [t[:-1] if t.endswith("\r") else t for t in vocab]
    if not vocab:
        raise ValueError(f"vocab file {path!r} is empty")
    spaced = next((i for i, t in enumerate(vocab) if " " in t), None)
    if spaced is not None:
        raise ValueError(f"vocab file {path!r}, line {spaced + 1}: {vocab[spaced][:80]!r} has a "
                         f"space; a BERT vocab.txt holds one token per line")
    return _checked(path, lambda: WordPieceTokenizer(vocab, **options))


def load_bert_folder(folder):
    """``vocab.txt`` with the casing options of ``tokenizer_config.json`` when there is one."""
    from tinyllm.jsonfile import read_json

    options = {}
    config_path = _in(folder, "tokenizer_config.json")
    if os.path.isfile(config_path):
        config = read_json(config_path, "tokenizer config", max_bytes=MAX_TOKENIZER_BYTES)
        for key in ("do_lower_case", "strip_accents", "tokenize_chinese_chars"):
            if config.get(key) is not None:
                options[key] = config[key]
    return load_bert_vocab(_in(folder, "vocab.txt"), **options)
