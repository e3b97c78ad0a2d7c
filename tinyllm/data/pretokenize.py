"""Pre-tokenization: how text is cut into pieces before a vocabulary sees it, in two regex dialects.

Each rule exists twice: as a Python ``re`` pattern (what tinyllm runs) and as an Oniguruma pattern
(what the Hugging Face ``tokenizers`` library runs, written into an exported ``tokenizer.json``).
Python's ``\\w``, ``\\d`` and ``\\s`` do not mean what Oniguruma's do (Python's ``\\w`` leaves out
combining marks, Oniguruma's takes them in), so the exported patterns spell every class out as the
exact set of code points Python uses, read from this Python's Unicode tables. The two dialects then
cut every text the same way.

- ``WORD``: a word tokenizer's pieces, ``\\w+|[^\\w\\s]`` (word runs, single other characters);
- ``TINYLLM_BPE``: tinyllm's byte-level BPE chunks (letters, digits, underscores, other symbols,
  each with an optional leading space, then whitespace runs);
- ``GPT2``: GPT-2's own chunk pattern (``\\p{L}``/``\\p{N}`` classes, Unicode White_Space), used for
  GPT-2's real vocabulary files.
"""

import re
import sys
from functools import lru_cache

TINYLLM_BPE = "tinyllm"
GPT2 = "gpt2"
WORD = "word"

# Unicode White_Space (what GPT-2's original `regex` pattern and Oniguruma call \s).
_WHITE_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680),
                (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F),
                (0x3000, 0x3000)]


@lru_cache(maxsize=None)
def _tables():
    """Code-point ranges of the classes the patterns need, from this Python's Unicode tables."""
    import unicodedata

    preds = {
        "w": lambda c: c.isalnum() or c == "_",          # Python's \w
        "d": str.isdecimal,                              # Python's \d
        "s": str.isspace,                                # Python's \s
        "a": lambda c: c.isalnum() and not c.isdecimal(),  # Python's [^\W\d_]
        "L": lambda c: unicodedata.category(c)[0] == "L",
        "N": lambda c: unicodedata.category(c)[0] == "N",
    }
    ranges = {k: [] for k in preds}
    start = {k: None for k in preds}
    for cp in range(sys.maxunicode + 2):
        c = chr(cp) if cp <= sys.maxunicode and not 0xD800 <= cp <= 0xDFFF else None
        for k, pred in preds.items():
            inside = c is not None and pred(c)
            if inside and start[k] is None:
                start[k] = cp
            elif not inside and start[k] is not None:
                ranges[k].append((start[k], cp - 1))
                start[k] = None
    ranges["S"] = list(_WHITE_SPACE)
    return {k: tuple(v) for k, v in ranges.items()}


def _py(ranges):
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


def _onig(ranges):
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)


def _pattern(rule, cls):
    t = _tables()
    c = {k: cls(v) for k, v in t.items()}
    if rule == WORD:
        return f"[{c['w']}]+|[^{c['w']}{c['s']}]"
    if rule == TINYLLM_BPE:
        return (f"'(?:[sdmt]|ll|ve|re)| ?[{c['a']}]+| ?[{c['d']}]+| ?_+| ?[^{c['s']}{c['w']}]+"
                f"|[{c['s']}]+(?![^{c['s']}])|[{c['s']}]+")
    if rule == GPT2:
        return (f"'s|'t|'re|'ve|'m|'ll|'d| ?[{c['L']}]+| ?[{c['N']}]+| ?[^{c['S']}{c['L']}{c['N']}]+"
                f"|[{c['S']}]+(?![^{c['S']}])|[{c['S']}]+")
    raise ValueError(f"pretokenizer must be one of {RULES}, got {rule!r}")


RULES = (TINYLLM_BPE, GPT2, WORD)
# The Python forms of the rules tinyllm itself runs on every encode (no table needed).
_FAST = {
    WORD: re.compile(r"\w+|[^\w\s]"),
    TINYLLM_BPE: re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?_+| ?[^\s\w]+|\s+(?!\S)|\s+"""),
}


@lru_cache(maxsize=None)
def python_regex(rule):
    """The compiled Python pattern of ``rule`` (``findall`` gives the pieces)."""
    if rule in _FAST:
        return _FAST[rule]
    return re.compile(_pattern(rule, _py))


@lru_cache(maxsize=None)
def onig_pattern(rule):
    """The same rule for the ``tokenizers`` library (an Oniguruma pattern with explicit classes)."""
    return _pattern(rule, _onig)
