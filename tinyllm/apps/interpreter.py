"""An interpreter for TinyWorld's small program language (the code application, article §6).

TinyWorld's ``program`` documents are written in a three-statement language:

    program: k = 7; y = k + 9; print y. output: 16.
    program: n = 0; repeat 3 times: n = n + 4; print n. output: 12.

This module runs such programs without ever handing text to Python's ``eval``: it tokenizes,
parses into a small tree, and walks the tree. The grammar (whitespace between tokens is free):

    program := stmt (";" stmt)* ["."]
    stmt    := NAME "=" expr  |  "print" expr  |  "repeat" NUMBER "times" ":" stmt
    expr    := atom (("+" | "-") atom)*
    atom    := NUMBER | NAME

``repeat`` runs the single statement after its colon, as TinyWorld writes it (a repeat may hold a
repeat). Names are lower-case words other than the keywords; numbers are non-negative decimal
integers. Hostile input is bounded: the source length, the nesting depth, the number of executed
statements (``max_steps``) and the size of every value are limited, and each violation is a
``ProgramError`` (a ``ValueError``) that says what went wrong and where.

    run("k = 7; y = k + 9; print y.")          # [16]
    output("k = 7; y = k + 9; print y.")       # "16"
"""

import re
from dataclasses import dataclass

KEYWORDS = frozenset({"print", "repeat", "times"})
MAX_SOURCE_CHARS = 10_000
MAX_DEPTH = 32
MAX_VALUE = 10**12

_TOKEN = re.compile(r"(\d+)|([a-z_][a-z_0-9]*)|([=+\-;:.])")
_SPACE = re.compile(r"\s*")


class ProgramError(ValueError):
    """A program that cannot be parsed or run (the message names the problem and its position)."""


@dataclass(frozen=True)
class _Tok:
    kind: str     # "num", "name" or "sym"
    text: str
    pos: int      # character offset in the source


def tokenize(source):
    """The tokens of ``source``; an unknown character is a ProgramError naming its position."""
    if not isinstance(source, str):
        raise TypeError(f"source: expected a str, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise ProgramError(f"source: {len(source)} characters, more than the limit of {MAX_SOURCE_CHARS}")
    toks, i = [], 0
    end = len(source.rstrip())
    while True:
        i = _SPACE.match(source, i).end()
        if i >= end:
            break
        m = _TOKEN.match(source, i)
        if m is None:
            raise ProgramError(f"unexpected character {source[i]!r} at position {i}")
        num, name, sym = m.groups()
        start = i
        if num is not None:
            if len(num) > 12:
                raise ProgramError(f"number {num[:15]}... at position {start} is too large "
                                   f"(limit {MAX_VALUE})")
            toks.append(_Tok("num", num, start))
        elif name is not None:
            toks.append(_Tok("name", name, start))
        else:
            toks.append(_Tok("sym", sym, start))
        i = m.end()
    return toks


class _Parser:
    """Recursive descent over the grammar in the module docstring; builds tuples:
    ("assign", name, expr) | ("print", expr) | ("repeat", count, stmt);
    expr = a flat list of (sign, atom) with sign +1 or -1, atom ("num", int) | ("var", name, pos)
    (flat, so a long sum is a loop, never a deep recursion)."""

    def __init__(self, toks):
        self.toks = toks
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def where(self):
        t = self.peek()
        return f"at position {t.pos}" if t else "at the end of the program"

    def expect(self, kind, text=None):
        t = self.peek()
        if t is None or t.kind != kind or (text is not None and t.text != text):
            want = repr(text) if text else {"num": "a number", "name": "a variable name"}[kind]
            got = repr(t.text) if t else "nothing"
            raise ProgramError(f"expected {want} {self.where()}, got {got}")
        self.i += 1
        return t

    def program(self):
        if not self.toks:
            raise ProgramError("the program is empty")
        stmts = [self.stmt(0)]
        while self.peek() is not None and self.peek().text == ";":
            self.i += 1
            stmts.append(self.stmt(0))
        t = self.peek()
        if t is not None and t.text == ".":
            self.i += 1
        if self.peek() is not None:
            raise ProgramError(f"expected ';' or '.' {self.where()}, got {self.peek().text!r}")
        return stmts

    def stmt(self, depth):
        if depth > MAX_DEPTH:
            raise ProgramError(f"repeat nested more than {MAX_DEPTH} deep {self.where()}")
        t = self.peek()
        if t is None:
            raise ProgramError(f"expected a statement {self.where()}")
        if t.text == "print":
            self.i += 1
            return ("print", self.expr())
        if t.text == "repeat":
            self.i += 1
            count = int(self.expect("num").text)
            self.expect("name", "times")
            self.expect("sym", ":")
            return ("repeat", count, self.stmt(depth + 1))
        name = self.expect("name")
        if name.text in KEYWORDS:
            raise ProgramError(f"{name.text!r} is a keyword, not a variable, at position {name.pos}")
        self.expect("sym", "=")
        return ("assign", name.text, self.expr())

    def expr(self):
        terms = [(1, self.atom())]
        while self.peek() is not None and self.peek().kind == "sym" and self.peek().text in ("+", "-"):
            sign = 1 if self.peek().text == "+" else -1
            self.i += 1
            terms.append((sign, self.atom()))
        return terms

    def atom(self):
        t = self.peek()
        if t is not None and t.kind == "num":
            self.i += 1
            return ("num", int(t.text))
        if t is not None and t.kind == "name" and t.text not in KEYWORDS:
            self.i += 1
            return ("var", t.text, t.pos)
        got = repr(t.text) if t else "nothing"
        raise ProgramError(f"expected a number or a variable {self.where()}, got {got}")


def parse(source):
    """The statement list of ``source`` (see the grammar); a ProgramError when it does not parse."""
    return _Parser(tokenize(source)).program()


class _Machine:
    def __init__(self, max_steps):
        self.env = {}
        self.printed = []
        self.steps = 0
        self.max_steps = max_steps

    def value(self, terms):
        v = 0
        for sign, atom in terms:
            if atom[0] == "num":
                x = atom[1]
            elif atom[1] in self.env:
                x = self.env[atom[1]]
            else:
                raise ProgramError(f"variable {atom[1]!r} is used before it is set (position {atom[2]})")
            v += sign * x
            if abs(v) > MAX_VALUE:
                raise ProgramError(f"a value grew beyond the limit of {MAX_VALUE}")
        return v

    def execute(self, s):
        self.steps += 1
        if self.steps > self.max_steps:
            raise ProgramError(f"the program ran more than max_steps={self.max_steps} statements "
                               f"(an endless or too long repeat?)")
        if s[0] == "assign":
            self.env[s[1]] = self.value(s[2])
        elif s[0] == "print":
            self.printed.append(self.value(s[1]))
        else:
            if s[1] > self.max_steps:
                raise ProgramError(f"repeat {s[1]} times exceeds max_steps={self.max_steps}")
            for _ in range(s[1]):
                self.execute(s[2])


def run(source, max_steps=10_000):
    """Run ``source``; returns the list of printed integers. At most ``max_steps`` statements run."""
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps: expected an int >= 1, got {max_steps!r}")
    m = _Machine(max_steps)
    for s in parse(source):
        m.execute(s)
    return m.printed


def output(source, max_steps=10_000):
    """What ``source`` prints, as TinyWorld writes it after "output:" (values joined by spaces)."""
    return " ".join(str(v) for v in run(source, max_steps))
