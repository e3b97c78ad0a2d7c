"""Real text as a corpus (article §3.2 step 1): cleaning rules and clear errors."""

import pytest

from tinyllm.data.text import clean_text, load_corpus, read_text, split_paragraphs


def test_clean_text_rules():
    raw = "\ufeff  Hello\t\tworld \r\nline\rtwo\x00\x07 zero\u200bwidth\u00a0nbsp  \n\n\n\n\nnext  "
    assert clean_text(raw) == "Hello world\nline\ntwo zerowidth nbsp\n\nnext"
    assert clean_text("e\u0301") == "\u00e9"  # NFC
    assert clean_text("a\nb\na\n\nb\nc", dedup_lines=True) == "a\nb\n\nc"
    assert clean_text("你好，世界 😀") == "你好，世界 😀"
    assert split_paragraphs("a\nb\n\nc") == ["a\nb", "c"]
    with pytest.raises(TypeError, match="text must be a str"):
        clean_text(b"bytes")


def test_load_corpus_file_and_folder(tmp_path):
    (tmp_path / "b.txt").write_text("second  file\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("first\r\nfile", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("skip me", encoding="utf-8")
    (tmp_path / "notes.md").write_text("markdown", encoding="utf-8")
    assert load_corpus(tmp_path, pattern="*.txt") == ["second file", "first\nfile"]
    assert load_corpus(tmp_path / "b.txt", clean=False) == ["second  file\n"]
    assert len(load_corpus(tmp_path)) == 3


def test_errors_name_the_file_and_offset(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        load_corpus(tmp_path / "missing")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf".encode() + "é".encode("latin-1") + b" ok")
    with pytest.raises(ValueError, match=r"latin1\.txt.*not UTF-8.*0xe9 at byte offset 3"):
        load_corpus(bad)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"  \n ")
    with pytest.raises(ValueError, match=r"empty\.txt.* is empty"):
        read_text(empty)
    folder = tmp_path / "none"
    folder.mkdir()
    with pytest.raises(ValueError, match="no files matching"):
        load_corpus(folder)
    controls = tmp_path / "controls.txt"
    controls.write_bytes(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="empty after cleaning"):
        load_corpus(controls)
