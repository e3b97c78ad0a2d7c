"""The common face of every tinyllm tokenizer (article §3.2 steps 2 and 3).

A tokenizer owns a vocabulary (a list of token strings; the id of a token is its index) and turns
text into ids and back:

    ids = tok.encode("some text")        # list[int], no special tokens added
    text = tok.decode(ids)               # str
    tok.token_to_id("[MASK]"), tok.id_to_token(4), tok.vocab_size
    tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.bos_id, tok.eos_id
    tok.save("tok.json"); tok2 = tinyllm.data.load_tokenizer("tok.json")

Special tokens are never produced by ``encode`` from ordinary text (WordPiece is the one exception:
like BERT's own tokenizer it recognises its special strings such as "[MASK]" inside the text).
Batching and framing code (``tinyllm.data.batching``) adds [BOS]/[EOS] or [CLS]/[SEP].
"""

import json
import os
from numbers import Integral

import numpy as np

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")
_SPECIAL_ATTRS = {"pad_id": "[PAD]", "unk_id": "[UNK]", "cls_id": "[CLS]", "sep_id": "[SEP]",
                  "mask_id": "[MASK]", "bos_id": "[BOS]", "eos_id": "[EOS]"}
_FORMAT_KEY = "tinyllm_tokenizer"


def check_text(text, name="text"):
    """Raise TypeError unless ``text`` is a str."""
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")


def utf8_bytes(text):
    """text.encode("utf-8"), with a ValueError naming the position of a lone surrogate (the one kind of
    str that has no UTF-8 form, so no byte-level tokenizer can represent it)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text has a character that UTF-8 cannot encode at index {e.start}: "
                         f"{text[e.start]!r} (a lone surrogate)") from None


class Tokenizer:
    """Base class: vocabulary bookkeeping, id checks, special ids, JSON save/load.

    Subclasses set ``kind`` (the tag stored in the JSON), implement ``_encode(text)``,
    ``_decode(ids)`` and ``_config()`` (the JSON-able constructor arguments), and are rebuilt by
    ``cls(**config)``.
    """

    kind = None

    def __init__(self, tokens, specials=SPECIAL_TOKENS):
        tokens = list(tokens)
        self._itos = tokens
        self._stoi = {}
        for i, t in enumerate(tokens):
            if not isinstance(t, str):
                raise TypeError(f"tokens[{i}] must be a str, got {type(t).__name__}")
            if t in self._stoi:
                raise ValueError(f"tokens must be unique; {t!r} appears at ids "
                                 f"{self._stoi[t]} and {i}")
            self._stoi[t] = i
        self.specials = tuple(s for s in specials if s in self._stoi)
        self.special_ids = frozenset(self._stoi[s] for s in self.specials)

    # -- special ids ------------------------------------------------------------------------
    def _special(self, token):
        return self._stoi.get(token) if token in self.specials else None

    pad_id = property(lambda self: self._special("[PAD]"))
    unk_id = property(lambda self: self._special("[UNK]"))
    cls_id = property(lambda self: self._special("[CLS]"))
    sep_id = property(lambda self: self._special("[SEP]"))
    mask_id = property(lambda self: self._special("[MASK]"))
    bos_id = property(lambda self: self._special("[BOS]"))
    eos_id = property(lambda self: self._special("[EOS]"))

    # -- vocabulary -------------------------------------------------------------------------
    @property
    def vocab_size(self):
        return len(self._itos)

    def __len__(self):
        return len(self._itos)

    def vocab(self):
        """The token strings, in id order (a copy)."""
        return list(self._itos)

    def token_to_id(self, token):
        """The id of ``token``; ValueError if it is not in the vocabulary."""
        check_text(token, "token")
        try:
            return self._stoi[token]
        except KeyError:
            raise ValueError(f"token {token!r} is not in the vocabulary "
                             f"(vocab_size={self.vocab_size})") from None

    def id_to_token(self, i):
        """The token string of id ``i``; ValueError if out of range."""
        return self._itos[self._check_id(i, "id")]

    def _check_id(self, i, name):
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, Integral):
            raise TypeError(f"{name} must be an int, got {type(i).__name__}")
        i = int(i)
        if not 0 <= i < len(self._itos):
            raise ValueError(f"{name}={i} is out of range [0, vocab_size={len(self._itos)})")
        return i

    def check_ids(self, ids, name="ids"):
        """Return ``ids`` as a list of Python ints, each in [0, vocab_size)."""
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
                raise TypeError(f"{name} must be a 1-D integer array, got shape {ids.shape} "
                                f"dtype {ids.dtype}")
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"{name} must be a sequence of ints, got {type(ids).__name__}")
        return [self._check_id(i, f"{name}[{k}]") for k, i in enumerate(ids)]

    # -- encode / decode --------------------------------------------------------------------
    def encode(self, text):
        """Text -> list of token ids (no special tokens added)."""
        check_text(text)
        return self._encode(text)

    def decode(self, ids, skip_special_tokens=False):
        """Token ids -> text. ValueError for an id outside [0, vocab_size)."""
        ids = self.check_ids(ids)
        if skip_special_tokens:
            ids = [i for i in ids if i not in self.special_ids]
        return self._decode(ids)

    def tokenize(self, text):
        """Text -> list of token strings."""
        return [self._itos[i] for i in self.encode(text)]

    def _encode(self, text):
        raise NotImplementedError

    def _decode(self, ids):
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------------------
    def _config(self):
        raise NotImplementedError

    def save(self, path):
        """Write the tokenizer as one JSON file (``load_tokenizer(path)`` reads it back).

        ``path`` may be an existing folder: the file is then ``path/tokenizer.json``. The file is
        written to a temporary name and renamed, so an interrupted save never leaves a broken
        file. Returns the path written.
        """
        path = os.fspath(path)
        if os.path.isdir(path):
            path = os.path.join(path, "tokenizer.json")
        payload = {_FORMAT_KEY: self.kind, "version": 1, **self._config()}
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False)
        os.replace(tmp, path)
        return path

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def __eq__(self, other):
        return type(self) is type(other) and self._config() == other._config()

    __hash__ = None


def _classes():
    from .bpe_tokenizer import BPETokenizer
    from .char_tokenizer import CharTokenizer
    from .word_tokenizer import WordTokenizer
    from .wordpiece_tokenizer import WordPieceTokenizer

    return {c.kind: c for c in (CharTokenizer, WordTokenizer, BPETokenizer, WordPieceTokenizer)}


def load_tokenizer(path):
    """Load a tokenizer saved by ``Tokenizer.save``.

    ``path`` may also be a BERT ``vocab.txt`` (-> WordPieceTokenizer) or a folder holding either a
    tinyllm ``tokenizer.json`` or a ``vocab.txt``.
    """
    from .wordpiece_tokenizer import WordPieceTokenizer

    path = os.fspath(path)
    if os.path.isdir(path):
        candidate = os.path.join(path, "tokenizer.json")
        if os.path.isfile(candidate) and _is_tinyllm_json(candidate):
            return load_tokenizer(candidate)
        if os.path.isfile(os.path.join(path, "vocab.txt")):
            return WordPieceTokenizer.from_pretrained(path)
        raise FileNotFoundError(f"path {path!r} is a folder without a tinyllm tokenizer.json "
                                f"or a vocab.txt")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no tokenizer file at path {path!r}")
    if path.endswith(".txt"):
        return WordPieceTokenizer.from_vocab_file(path)
    with open(path, encoding="utf-8") as f:
        try:
            payload = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path!r} is not a JSON tokenizer file: {e}") from None
    if not isinstance(payload, dict) or _FORMAT_KEY not in payload:
        raise ValueError(f"{path!r} is not a tinyllm tokenizer (no {_FORMAT_KEY!r} key)")
    kind = payload.pop(_FORMAT_KEY)
    payload.pop("version", None)
    classes = _classes()
    if kind not in classes:
        raise ValueError(f"{path!r}: unknown tokenizer kind {kind!r}; expected one of "
                         f"{sorted(classes)}")
    return classes[kind](**payload)


def _is_tinyllm_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return _FORMAT_KEY in json.load(f)
    except (OSError, ValueError):
        return False
