"""The common face of every tinyllm tokenizer (article §3.2 steps 2 and 3).

A tokenizer owns a vocabulary (a list of token strings; the id of a token is its index) and turns
text into ids and back:

    ids = tok.encode("some text")        # list[int], no special tokens added
    text = tok.decode(ids)               # str
    tok.token_to_id("[MASK]"), tok.id_to_token(4), tok.vocab_size
    tok.pad_id, tok.unk_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.bos_id, tok.eos_id
    tok.save("tok.json"); tok2 = tinyllm.data.load_tokenizer("tok.json")
    tok.save(folder)      # tinyllm_tokenizer.json + Hugging Face tokenizer.json, tokenizer_config.json

Special tokens are never produced by ``encode`` from ordinary text (WordPiece is the one exception:
like BERT's own tokenizer it recognises its special strings such as "[MASK]" inside the text).
Batching and framing code (``tinyllm.data.framing``) adds [BOS]/[EOS] or [CLS]/[SEP].
"""

import json
import os
from numbers import Integral

import numpy as np

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[BOS]", "[EOS]")
_SPECIAL_ATTRS = {"pad_id": "[PAD]", "unk_id": "[UNK]", "cls_id": "[CLS]", "sep_id": "[SEP]",
                  "mask_id": "[MASK]", "bos_id": "[BOS]", "eos_id": "[EOS]"}
FORMAT_KEY = "tinyllm_tokenizer"
FORMAT_VERSION = 1          # the version of tinyllm's own tokenizer file format
TINYLLM_FILE = "tinyllm_tokenizer.json"   # tinyllm's own format, in a model folder
HF_FILE = "tokenizer.json"                # the Hugging Face ``tokenizers`` format
HF_CONFIG_FILE = "tokenizer_config.json"  # what transformers reads beside it
MAX_VOCAB = 2_000_000        # ids; GPT-2 has 50,257, the largest public vocabularies ~260,000
MAX_TOKEN_CHARS = 1024       # characters (or bytes, for BPE) of one token; GPT-2's longest is 128


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


def check_str_list(value, name, allow_empty=False, max_chars=MAX_TOKEN_CHARS):
    """``value`` as a list of str, each at most ``max_chars`` long (TypeError / ValueError naming
    ``name``). A lone str is refused: "[PAD]" is one token, not five."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of str, got {type(value).__name__} {_short(value)}")
    if not value and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    for i, t in enumerate(value):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__} {_short(t)}")
        if len(t) > max_chars:
            raise ValueError(f"{name}[{i}] is {len(t):,} characters long, more than {max_chars:,}")
    try:
        "".join(value).encode("utf-8")
    except UnicodeEncodeError:
        bad = next(i for i, t in enumerate(value) if not _is_utf8(t))
        raise ValueError(f"{name}[{bad}] = {value[bad]!r} has a lone surrogate, which no file "
                         f"can store as UTF-8") from None
    return list(value)


def _is_utf8(t):
    try:
        t.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check_flag(value, name):
    """``value`` if it is a bool (TypeError naming ``name`` otherwise: "no" is not False)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be true or false, got {type(value).__name__} {_short(value)}")
    return bool(value)


def _short(value):
    r = repr(value)
    return r if len(r) <= 60 else r[:57] + "..."


class Tokenizer:
    """Base class: vocabulary bookkeeping, id checks, special ids, JSON save/load.

    Subclasses set ``kind`` (the tag stored in the JSON), implement ``_encode(text)``,
    ``_decode(ids)`` and ``_config()`` (the JSON-able constructor arguments), and are rebuilt by
    ``cls(**config)``.
    """

    kind = None

    def __init__(self, tokens, specials=SPECIAL_TOKENS, aliases=None):
        tokens = check_str_list(tokens, "tokens", allow_empty=True)
        if len(tokens) > MAX_VOCAB:
            raise ValueError(f"tokens: {len(tokens):,} tokens, more than the {MAX_VOCAB:,} tinyllm "
                             f"accepts")
        self._itos = tokens
        self._stoi = {}
        for i, t in enumerate(tokens):
            if t in self._stoi:
                raise ValueError(f"tokens must be unique; {t!r} appears at ids "
                                 f"{self._stoi[t]} and {i}")
            self._stoi[t] = i
        specials = check_str_list(specials, "specials", allow_empty=True)
        self.specials = tuple(s for s in specials if s in self._stoi)
        self.special_ids = frozenset(self._stoi[s] for s in self.specials)
        # a role ("[BOS]") played by a token of another name ("<|endoftext|>" in GPT-2's vocabulary)
        if aliases is not None and not isinstance(aliases, dict):
            raise TypeError(f"aliases must be a dict {{role: token}}, got {type(aliases).__name__}")
        self.aliases = dict(aliases or {})
        for role, token in self.aliases.items():
            if role not in SPECIAL_TOKENS or token not in self.specials:
                raise ValueError(f"aliases: {role!r} -> {token!r} must map one of {SPECIAL_TOKENS} "
                                 f"to a special token of the vocabulary")

    # -- special ids ------------------------------------------------------------------------
    def _special(self, token):
        token = self.aliases.get(token, token)
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

    def to_dict(self):
        """The tinyllm file format: {"tinyllm_tokenizer": kind, "version": 1, **constructor arguments}."""
        return {FORMAT_KEY: self.kind, "version": FORMAT_VERSION, **self._config()}

    def save(self, path, framing=None):
        """Write the tokenizer (``load_tokenizer(path)`` reads it back). Returns the path written.

        ``path`` a file: tinyllm's own JSON format there. ``path`` an existing folder: tinyllm's
        format as ``tinyllm_tokenizer.json``, plus ``tokenizer.json`` (the Hugging Face
        ``tokenizers`` format, same ids) and ``tokenizer_config.json``, so that
        ``transformers.AutoTokenizer.from_pretrained(folder)`` works; ``framing`` ("bos" for a GPT,
        "cls_sep" for a BERT) says which special tokens Hugging Face adds around a text.
        Every file is written to a temporary name and renamed: an interrupted save never leaves a
        broken file.
        """
        path = os.fspath(path)
        if not os.path.isdir(path):
            _write_json(path, self.to_dict())
            return path
        from .hf_tokenizer import to_hf_config, to_hf_json

        own = os.path.join(path, TINYLLM_FILE)
        _write_json(os.path.join(path, HF_FILE), to_hf_json(self, framing))
        _write_json(os.path.join(path, HF_CONFIG_FILE), to_hf_config(self))
        _write_json(own, self.to_dict())
        return own

    def __repr__(self):
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"

    def __eq__(self, other):
        return type(self) is type(other) and self._config() == other._config()

    __hash__ = None


def _write_json(path, payload):
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(payload, f, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_tokenizer(path):
    """Read any tokenizer file tinyllm knows (see ``tinyllm.data.tokenizer_files``)."""
    from .tokenizer_files import load_tokenizer as load

    return load(path)
