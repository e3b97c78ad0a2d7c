"""Prompt templates t(x) (article §3.2, step 2: prompt design), the t of E2.2.

A template is text with slots in braces:

    {x}, {question}, ...   an input field (any identifier except the reserved names below)
    {mask}                 where the answer (a label word, S11) goes; at most one
    {soft}                 one trainable vector (S12); {soft*N}: N of them;
    {soft:some words}      as many vectors as "some words" has tokens, initialised from their embeddings
    {trigger*N}            N discrete trigger tokens found by AutoPrompt (S13)

    >>> t = Template("{x} it was {mask} .")
    >>> t.fields, t.has_mask                      # (("x",), True)

Literal text is tokenised by the model's tokenizer when the template is compiled for it
(``compile(tokenizer)``). Special tokens written in the text ("[SEP]", "[MASK]") are spliced in as
their ids, never re-tokenised (a word tokenizer would read "[MASK]" as "[", "mask", "]"); a literal
word outside the vocabulary is a ValueError naming it, never a silent [UNK]. Write "{{" and "}}" for
literal braces.
"""

import re

RESERVED = ("mask", "soft", "trigger")
_SLOT = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_FIELD = re.compile(r"[A-Za-z_]\w*\Z")
_COUNT = re.compile(r"(soft|trigger)\*(\d+)\Z")


class Template:
    """A parsed prompt template t (the t of E2.2): an ordered list of parts.

    parts: tuples ``("text", str)``, ``("field", name)``, ``("mask",)``, ``("soft", n, init_text)``
    (init_text None unless written {soft:words}) and ``("trigger", n)``.
    """

    def __init__(self, text):
        if isinstance(text, Template):
            text = text.text
        if not isinstance(text, str):
            raise TypeError(f"template text must be a str, got {type(text).__name__}")
        self.text = text
        self.parts = tuple(_parse(text))
        self.fields = tuple(dict.fromkeys(p[1] for p in self.parts if p[0] == "field"))
        if not self.fields:
            raise ValueError(f"template {text!r} has no input slot: add {{x}} where the input text goes")
        n_mask = sum(p[0] == "mask" for p in self.parts)
        if n_mask > 1:
            raise ValueError(f"template {text!r} has {n_mask} {{mask}} slots; a template takes one answer slot")
        self.has_mask = n_mask == 1
        self.has_soft = any(p[0] == "soft" for p in self.parts)
        self.num_triggers = sum(p[1] for p in self.parts if p[0] == "trigger")

    def __repr__(self):
        return f"Template({self.text!r})"

    def __eq__(self, other):
        return isinstance(other, Template) and other.text == self.text

    __hash__ = None

    def compile(self, tokenizer):
        """The template in token space for `tokenizer`: a list of pieces

            ("ids", [int, ...])   fixed tokens (literal text, special tokens spliced in)
            ("field", name)       an input field
            ("mask",)             the answer slot
            ("soft", j)           soft vector number j (0-based over the template)
            ("trigger", j)        trigger token number j

        and ``soft_init``: for each soft vector, the token id it starts from or None (random)."""
        pieces, soft_init = [], []
        for part in self.parts:
            kind = part[0]
            if kind == "text":
                ids = encode_strict(tokenizer, part[1], f"template {self.text!r}")
                if ids:
                    pieces.append(("ids", ids))
            elif kind == "soft":
                n, init_text = part[1], part[2]
                init = [None] * n if init_text is None else \
                    encode_strict(tokenizer, init_text, f"template {self.text!r} ({{soft:{init_text}}})")
                for i in init:
                    pieces.append(("soft", len(soft_init)))
                    soft_init.append(i)
            elif kind == "trigger":
                start = sum(1 for p in pieces if p[0] == "trigger")
                pieces.extend(("trigger", start + j) for j in range(part[1]))
            else:
                pieces.append(part)
        return pieces, soft_init


def _parse(text):
    pos = 0
    for m in _SLOT.finditer(text):
        if m.start() > pos:
            yield ("text", text[pos:m.start()])
        pos = m.end()
        tok = m.group(0)
        if tok in ("{{", "}}"):
            yield ("text", tok[0])
            continue
        if tok in ("{", "}"):
            raise ValueError(f"template {text!r}: unbalanced {tok!r} at index {m.start()} "
                             "(write {{ or }} for a literal brace)")
        yield _slot(m.group(1).strip(), text)
    if pos < len(text):
        yield ("text", text[pos:])


def _slot(body, text):
    if body == "mask":
        return ("mask",)
    if body == "soft":
        return ("soft", 1, None)
    if body.startswith("soft:"):
        words = body[5:].strip()
        if not words:
            raise ValueError(f"template {text!r}: {{soft:}} needs words to start from, e.g. {{soft:it was}}")
        return ("soft", None, words)
    m = _COUNT.match(body)
    if m:
        n = int(m.group(2))
        if n < 1:
            raise ValueError(f"template {text!r}: {{{body}}} needs a count >= 1")
        return ("soft", n, None) if m.group(1) == "soft" else ("trigger", n)
    if body in RESERVED or body.startswith(("soft", "trigger")):
        raise ValueError(f"template {text!r}: bad slot {{{body}}}; write {{mask}}, {{soft}}, {{soft*N}}, "
                         "{soft:words} or {trigger*N}")
    if not _FIELD.match(body):
        raise ValueError(f"template {text!r}: bad slot {{{body}}}; a field name is an identifier such as "
                         "{x} or {question}")
    return ("field", body)


def _specials_pattern(tokenizer):
    specials = sorted(getattr(tokenizer, "specials", ()), key=len, reverse=True)
    return re.compile("(" + "|".join(re.escape(s) for s in specials) + ")") if specials else None


def encode_text(tokenizer, text):
    """Token ids of `text`, with special-token strings ("[MASK]", "[SEP]") spliced in as their ids.
    Unknown words become [UNK] (this is for inputs; templates use ``encode_strict``)."""
    pattern = _specials_pattern(tokenizer)
    if pattern is None:
        return list(tokenizer.encode(text))
    ids = []
    for k, chunk in enumerate(pattern.split(text)):
        if k % 2:
            ids.append(tokenizer.token_to_id(chunk))
        elif chunk:
            ids.extend(tokenizer.encode(chunk))
    return ids


def encode_strict(tokenizer, text, where):
    """Like ``encode_text`` but a word that the tokenizer maps to [UNK] is a ValueError naming it."""
    ids = encode_text(tokenizer, text)
    unk = tokenizer.unk_id
    if unk is not None and unk in ids and "[UNK]" not in text:
        bad = list(dict.fromkeys(w for w in text.split() if unk in encode_text(tokenizer, w)))
        raise ValueError(f"{where}: {', '.join(repr(w) for w in bad) or repr(text)} not in the tokenizer's "
                         "vocabulary (it would become [UNK]); use words the model knows")
    return ids
