"""Result parsing (article §3.2 step 4): from a model's raw text to a value a metric can count.

    parse_answer(" Fennick . question : ...", choices=cities)       -> "Fennick"
    parse_answer("answer: 12", type=int)                             -> 12
    parse_fields("Anna gave Ben a cup .", "{giver} gave {recipient} a {object}.")
                                                                     -> {"giver": "Anna", "recipient": "Ben", "object": "cup"}

A generated continuation runs on past the answer (a TinyWorld GPT writes the next document after
it), so both functions read only the first answer: ``parse_answer`` the first non-empty line, cut
at the first sentence end; ``parse_fields`` the first place where the whole pattern matches. When
the text holds no acceptable answer they return ``None`` instead of guessing: step 5 counts a
``None`` as a wrong prediction (``tinyllm.prompt.metrics.evaluate``).
"""

import re
import string

_SENTENCE_END = re.compile(r"[.?!;](?=\s|$)")                # "3.5" is a number, "Fennick ." an end
_ANSWER_LABEL = re.compile(r"^(?:answer|a)\s*:\s*", re.IGNORECASE)
_TRUE = {"true", "yes", "1"}
_FALSE = {"false", "no", "0"}


def _check_text(text):
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str (the model's output), got {type(text).__name__}")


def answer_segment(text):
    """The first answer in ``text``: its first non-empty line, without an ``answer:`` label, cut at
    the first sentence end (``.``, ``?``, ``!`` or ``;`` before a space or the end), with
    surrounding whitespace and quotes removed and inner whitespace collapsed. May be ``""``."""
    _check_text(text)
    line = next((ln for ln in text.splitlines() if ln.strip()), "").strip()
    line = _ANSWER_LABEL.sub("", line)
    m = _SENTENCE_END.search(line)
    if m:
        line = line[:m.start()]
    return " ".join(line.strip().strip("\"'`").split())


def _check_choices(choices):
    if isinstance(choices, (str, bytes)) or not hasattr(choices, "__iter__"):
        raise TypeError(f"choices: expected a list of possible answers, got {type(choices).__name__}")
    choices = list(choices)
    if not choices:
        raise ValueError("choices: expected at least one possible answer, got an empty list")
    keys = {}
    for c in choices:
        key = " ".join(str(c).split()).lower()
        if not key:
            raise ValueError(f"choices: {c!r} is empty; every choice needs some text to match")
        if key in keys:
            raise ValueError(f"choices: {keys[key]!r} and {c!r} are the same answer (matching ignores case "
                             f"and spacing); keep one of them")
        keys[key] = c
    return keys


def _convert(segment, type):
    if type is bool:
        word = segment.lower()
        return True if word in _TRUE else False if word in _FALSE else None
    try:
        return type(segment)
    except (ValueError, TypeError, ArithmeticError):
        return None


def parse_answer(text, choices=None, type=str):
    """The answer in a model's output ``text``, or ``None`` when there is none (§3.2 step 4).

    text     the raw output (str), e.g. a generated continuation
    choices  optional possible answers: the answer segment (``answer_segment``) must equal one of
             them, ignoring case and spacing, or begin with one of them as whole words (the longest
             such choice wins); the matching choice itself is returned, as given
    type     a converter for free answers (``str``, ``int``, ``float``, ``bool``: yes/no/true/false/1/0,
             or any callable): applied to the segment, then to its first word; ``None`` if both fail
    """
    segment = answer_segment(text)
    if not callable(type):
        raise TypeError(f"type: expected a converter such as str or int, got {type!r}")
    if choices is not None:
        keys = _check_choices(choices)
        low = segment.lower()
        if low in keys:
            return keys[low]
        starts = [k for k in keys if low.startswith(k + " ")]
        return keys[max(starts, key=len)] if starts else None
    if not segment:
        return None
    value = _convert(segment, type)
    if value is None and " " in segment:
        value = _convert(segment.split(" ", 1)[0], type)
    return value


def _pattern_regex(pattern):
    """Compile ``pattern`` ("{giver} gave {recipient} a {object}.") into a regex with named groups."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern: expected a str such as '{{giver}} gave {{recipient}} a {{object}}.', "
                        f"got {type(pattern).__name__}")
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as e:
        raise ValueError(f"pattern: {e} in {pattern!r}; write a literal brace as '{{{{' or '}}}}'") from None
    names, out, previous_was_field = [], [], False
    for literal, name, spec, conversion in parts:
        if literal:
            out.append(_literal_regex(literal))
            previous_was_field = False
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"pattern: field {{{name}}} must be a plain name (letters, digits, _)")
        if spec or conversion:
            raise ValueError(f"pattern: field {{{name}}} has a format spec or conversion; write just {{{name}}}")
        if name in names:
            raise ValueError(f"pattern: field {{{name}}} appears twice; give each field its own name")
        if previous_was_field:
            raise ValueError(f"pattern: fields {{{names[-1]}}} and {{{name}}} touch; put some literal text "
                             f"between them so the text can be split")
        names.append(name)
        # a field: a non-empty value on one line, no surrounding whitespace, as short as possible
        out.append(rf"(?P<{name}>\S(?:[^\n]*?\S)?)")
        previous_was_field = True
    if not names:
        raise ValueError(f"pattern: {pattern!r} has no {{field}}; name the parts to extract, "
                         f"e.g. '{{giver}} gave {{recipient}} a {{object}}.'")
    if previous_was_field:
        # the last field has nothing after it to stop at: it runs to the end of the line
        out[-1] = rf"(?P<{names[-1]}>\S(?:[^\n]*\S)?)"
    return re.compile("".join(out)), names


def _literal_regex(literal):
    """A literal part of a pattern: its words exactly, whitespace tolerant. A whitespace run matches
    any whitespace run; punctuation may have whitespace before it (tokenised text writes "cup .");
    the literal's ends match optional whitespace where the pattern has none."""
    pieces = []
    for token in re.findall(r"\s+|\w+|[^\w\s]", literal):
        if token.isspace():
            pieces.append(r"\s+")
        elif re.fullmatch(r"\w+", token):
            pieces.append(re.escape(token))
        else:
            pieces.append(r"\s*" + re.escape(token))
    if pieces and pieces[0] == r"\s+" and len(pieces) > 1 and pieces[1].startswith(r"\s*"):
        pieces[0] = r"\s*"                    # "{x} ." and "{x}." both accept "cup."
    return "".join(pieces)


def parse_fields(text, pattern):
    """The named fields of ``pattern`` read off ``text``, as a dict, or ``None`` if it does not match.

    pattern  literal text with ``{name}`` fields, e.g. ``"{giver} gave {recipient} a {object}."``;
             ``{{`` and ``}}`` are literal braces. The literal parts must appear exactly (case
             included), with any amount of whitespace where the pattern has some, and optional
             whitespace before punctuation. Each field takes a non-empty value on one line, as short
             as the pattern allows (the last one runs to the end of its line when nothing follows it).
    text     searched for the first place where the whole pattern matches; values are stripped.
    """
    _check_text(text)
    regex, names = _pattern_regex(pattern)
    m = regex.search(text)
    if m is None:
        return None
    return {name: m.group(name) for name in names}
