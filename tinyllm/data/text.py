"""Any UTF-8 text file or folder as a corpus (article §3.2 step 1: collect and clean).

    docs = load_corpus("my_books/")            # one cleaned string per file, sorted by path
    text = clean_text(raw, dedup_lines=True)

Cleaning (``clean_text``), in order:
1. Unicode NFC normalisation (one code point sequence per visible character);
2. newlines: "\\r\\n" and "\\r" become "\\n"; tabs, form feeds and other Unicode spaces become " ";
3. control and format characters (Unicode categories Cc, Cf, e.g. NUL, BEL, zero-width space,
   a byte-order mark) are dropped, except "\\n";
4. runs of spaces become one space; spaces at the start and end of every line are removed;
5. three or more consecutive newlines become two (at most one blank line between paragraphs);
6. optionally (``dedup_lines=True``) a non-empty line identical to an earlier one is dropped;
7. leading and trailing blank lines are removed.
"""

import os
import re
import sys
import unicodedata
from pathlib import Path

from .tokenizer import check_text

_SPACES = re.compile(r"[^\S\n]+")
_BLANKS = re.compile(r"\n{3,}")
_CONTROL = []


def _control_pattern():
    """A regex class of every Cc/Cf character that is not whitespace (built once, ~0.3 s)."""
    if not _CONTROL:
        ranges = []  # [first, last] code point runs
        for c in range(sys.maxunicode + 1):
            ch = chr(c)
            if unicodedata.category(ch) in ("Cc", "Cf") and not ch.isspace():
                if ranges and ranges[-1][1] == c - 1:
                    ranges[-1][1] = c
                else:
                    ranges.append([c, c])
        body = "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)
        _CONTROL.append(re.compile(f"[{body}]"))
    return _CONTROL[0]


def clean_text(text, dedup_lines=False):
    """Clean ``text`` as the module docstring lists (steps 1-7); returns a str."""
    check_text(text)
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _control_pattern().sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    if dedup_lines:
        seen, unique = set(), []
        for line in lines:
            if line and line in seen:
                continue
            seen.add(line)
            unique.append(line)
        lines = unique
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")


def read_text(path):
    """The contents of one UTF-8 file (a leading byte-order mark is removed).

    FileNotFoundError if missing; ValueError naming the file and the byte offset of the first
    invalid byte if it is not UTF-8; ValueError if it is empty.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"{str(path)!r} is not UTF-8: invalid byte 0x{data[e.start]:02x} at byte "
                         f"offset {e.start}") from None
    if not text.strip():
        raise ValueError(f"{str(path)!r} is empty (no text after decoding)")
    return text


BYTES_PER_CHARACTER = 20    # in memory: the text (up to 4 bytes a character), its cleaned copy, its ids


def _check_size(files, path):
    """ValueError before reading when the corpus would need more memory than the machine has (the
    text, its cleaned copy and its token ids: about BYTES_PER_CHARACTER bytes per byte of file)."""
    from tinyllm.runtime import physical_memory

    total, memory = sum(f.stat().st_size for f in files), physical_memory()
    if memory is not None and total * BYTES_PER_CHARACTER > memory:
        raise ValueError(f"corpus {str(path)!r} holds {total:,} bytes of text in {len(files):,} file(s); "
                         f"reading and encoding it needs about {total * BYTES_PER_CHARACTER / 2**30:,.1f} GiB, "
                         f"more than this machine's {memory / 2**30:,.1f} GiB; use a smaller corpus")


def load_corpus(path, clean=True, dedup_lines=False, pattern="*"):
    """A corpus from a file or a folder: a list of documents, one per file.

    A folder is searched recursively for files whose name matches ``pattern`` (hidden files and
    folders are skipped), in sorted path order. With ``clean`` every document goes through
    ``clean_text``. Raises FileNotFoundError for a missing path, ValueError for a folder without
    matching files, an empty or non-UTF-8 file (named, with the byte offset), or a corpus that is
    empty after cleaning.
    """
    if not os.fspath(path).strip():
        raise ValueError("corpus: the path is empty; give a file or folder of UTF-8 text")
    path = Path(os.fspath(path)).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob(pattern)
                       if p.is_file() and not any(part.startswith(".")
                                                  for part in p.relative_to(path).parts))
        if not files:
            raise ValueError(f"folder {str(path)!r} has no files matching {pattern!r}")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"no such file or folder: {str(path)!r}")
    _check_size(files, path)
    docs = []
    for f in files:
        text = read_text(f)
        docs.append(clean_text(text, dedup_lines) if clean else text)
    if not any(d.strip() for d in docs):
        raise ValueError(f"corpus at {str(path)!r} is empty after cleaning")
    return docs


def split_paragraphs(text):
    """The non-empty paragraphs (blocks separated by blank lines) of a cleaned text."""
    return [p for p in text.split("\n\n") if p.strip()]
