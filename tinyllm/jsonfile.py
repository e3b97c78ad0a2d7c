"""Read a JSON file that may be hostile: bounded size, UTF-8, no recursion blow-up, the right top type.

Every file tinyllm reads from a folder a user hands it (config.json, tokenizer files, a sharded
checkpoint's index, a run's recipe) goes through ``read_json``, so that a damaged or crafted file
gives one ``ValueError`` that names the file and what is wrong, never a traceback from deep inside
the json module and never an unbounded allocation.
"""

import json
import os

MAX_JSON_BYTES = 64 * 1024 * 1024   # a GPT-2 tokenizer.json is ~1.4 MB; BERT's ~0.7 MB


def read_bytes(path, max_bytes, what="file"):
    """The bytes of ``path``; ValueError when it is larger than ``max_bytes`` (checked before reading)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what}: no file at {path!r}")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"{what} {path!r} is {size:,} bytes, more than the {max_bytes:,} tinyllm "
                         f"accepts for this kind of file")
    with open(path, "rb") as f:
        data = f.read(size + 1)         # not max_bytes: read(n) reserves n bytes up front
    if len(data) > max_bytes:
        raise ValueError(f"{what} {path!r} grew past {max_bytes:,} bytes while being read")
    return data


def read_text(path, max_bytes=MAX_JSON_BYTES, what="file"):
    """The text of a UTF-8 file (ValueError naming the file for binary or non-UTF-8 content)."""
    data = read_bytes(path, max_bytes, what)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} {os.fspath(path)!r} is not UTF-8 text (byte {e.start}: "
                         f"{data[e.start:e.start + 1]!r}); is it a binary file?") from None
    if "\x00" in text:
        raise ValueError(f"{what} {os.fspath(path)!r} contains NUL bytes; is it a binary file?")
    return text


def parse_json(text, source, what="JSON"):
    """json.loads with ValueError naming ``source`` for bad syntax and for nesting too deep to parse."""
    try:
        return json.loads(text)
    except ValueError as e:             # JSONDecodeError, and ints too long to convert
        raise ValueError(f"{what} {source!r} is not valid JSON: {e}") from None
    except RecursionError:
        raise ValueError(f"{what} {source!r} is nested too deeply to be a real {what}") from None


def read_json(path, what="JSON file", expect=dict, max_bytes=MAX_JSON_BYTES):
    """Parse the JSON file ``path`` and check that its top level is an ``expect`` (dict by default)."""
    path = os.fspath(path)
    value = parse_json(read_text(path, max_bytes, what), path, what)
    if expect is not None and not isinstance(value, expect):
        raise ValueError(f"{what} {path!r} must hold a JSON {_json_name(expect)}, "
                         f"got {_json_name(type(value))}")
    return value


def _json_name(t):
    return {dict: "object", list: "array", str: "string", int: "number", float: "number",
            bool: "boolean", type(None): "null"}.get(t, t.__name__)
