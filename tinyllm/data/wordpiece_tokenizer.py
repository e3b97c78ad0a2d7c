"""WordPiece, the BERT tokenizer, loaded from a BERT ``vocab.txt``.

It follows BERT's two stages, so that the ids match ``transformers.BertTokenizer`` on real text:

1. basic tokenization: drop NUL, U+FFFD and control characters; turn every whitespace into a
   space; put spaces around CJK ideographs (each becomes its own word); with ``do_lower_case``
   lower-case and strip accents (NFD, then drop combining marks); split on whitespace, then split
   every punctuation character (ASCII symbols and Unicode P* categories) into its own word;
2. WordPiece: each word is cut greedily into the longest vocabulary pieces from the left, pieces
   after the first carrying the "##" prefix; a word with no such cut, or longer than
   ``max_input_chars_per_word`` characters, becomes [UNK].

Special-token strings of the vocabulary ([PAD] [UNK] [CLS] [SEP] [MASK]) that appear verbatim in
the text are kept as those tokens, as in transformers. BERT vocabularies have no [BOS]/[EOS]:
``bos_id`` and ``eos_id`` are then None. Decoding is lossy (case, accents, spacing).

Which transformers tokenizer this follows: the pure-Python ``BertTokenizerLegacy`` (BERT's reference
code). transformers 5's default ``BertTokenizer`` runs Hugging Face's Rust normalizer, which differs
in two places (both tested in tests/test_hf_tokenizer.py):

- all-caps Greek: Python's ``str.lower`` writes a word-final capital sigma as the final form
  ("ΟΔΟΣ" -> "οδος", as Unicode's casing rules say); the Rust normalizer lower-cases letter by
  letter ("οδοσ"), so the pieces and ids differ;
- code points newer than Python's Unicode tables (the emoji U+1FAE8 of Unicode 15 on Python 3.11,
  whose tables are Unicode 14): unassigned for Python, so dropped like a control character; the
  Rust tables know them and give [UNK].

The ``tokenizer.json`` that ``save(folder)`` exports for Hugging Face is BERT's own Rust pipeline,
so it inherits those two differences; on other text the ids are the same.
"""

import os
import re
import unicodedata

from .tokenizer import SPECIAL_TOKENS, Tokenizer, check_flag, check_str_list

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
               (0x2B740, 0x2B81F), (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F))


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    return ch not in "\t\n\r" and unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch):
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CJK_RANGES)


def _strip_accents(text):
    return "".join(ch for ch in unicodedata.normalize("NFD", text)
                   if unicodedata.category(ch) != "Mn")


class WordPieceTokenizer(Tokenizer):
    kind = "wordpiece"

    def __init__(self, vocab, do_lower_case=True, strip_accents=None,
                 tokenize_chinese_chars=True, max_input_chars_per_word=100,
                 specials=SPECIAL_TOKENS):
        super().__init__(check_str_list(vocab, "vocab"), specials)
        if self.unk_id is None:
            raise ValueError("vocab must contain the [UNK] token")
        self.do_lower_case = check_flag(do_lower_case, "do_lower_case")
        if strip_accents is not None:
            check_flag(strip_accents, "strip_accents")
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = check_flag(tokenize_chinese_chars, "tokenize_chinese_chars")
        n = max_input_chars_per_word
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"max_input_chars_per_word must be an int >= 1, got {n!r}")
        self.max_input_chars_per_word = n
        names = sorted(self.specials, key=len, reverse=True)
        self._special_split = re.compile("(" + "|".join(map(re.escape, names)) + ")")
        self._cache = {}

    @classmethod
    def train(cls, texts, vocab_size, do_lower_case=True):
        """Learn a WordPiece vocabulary of about ``vocab_size`` tokens from ``texts`` (str or list).

        As Hugging Face's WordPiece trainer does: stage 1 cuts the texts into words; each word is
        spelled as its first character and "##"-prefixed later characters; BPE merges
        (``bpe_tokenizer.learn_merges``) join the most frequent adjacent pieces ("un" + "##a" ->
        "una") until the vocabulary is full. The vocabulary is the special tokens, every
        character piece seen (even beyond ``vocab_size``: no character is left without a piece),
        then the merged pieces in the order they were learned.
        """
        from collections import Counter

        from .bpe_tokenizer import learn_merges
        from .tokenizer import check_text

        if isinstance(texts, str):
            texts = [texts]
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or \
                vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size must be an int > {len(SPECIAL_TOKENS)} (the special "
                             f"tokens), got {vocab_size!r}")
        scratch = cls(list(SPECIAL_TOKENS), do_lower_case=do_lower_case)
        counts = Counter()
        for k, t in enumerate(texts):
            check_text(t, f"texts[{k}]")
            counts.update(w for w in scratch.basic_tokenize(t) if w not in SPECIAL_TOKENS)
        pieces = [[w[0]] + ["##" + c for c in w[1:]] for w in counts]
        alphabet = sorted({p for word in pieces for p in word})
        spellings = list(SPECIAL_TOKENS) + alphabet
        ids = {p: i for i, p in enumerate(spellings)}
        words = [[ids[p] for p in word] for word in pieces]
        learn_merges(words, list(counts.values()), spellings, vocab_size, set(spellings),
                     lambda a, b: a + (b[2:] if b.startswith("##") else b))
        return cls(spellings, do_lower_case=do_lower_case)

    @classmethod
    def from_vocab_file(cls, path, **options):
        """Read a BERT ``vocab.txt`` (one token per line; the line number is the id)."""
        from .tokenizer_files import load_bert_vocab

        return load_bert_vocab(path, **options)

    @classmethod
    def from_pretrained(cls, folder):
        """Read ``vocab.txt`` and the casing options of ``tokenizer_config.json`` from a folder."""
        from .tokenizer_files import load_bert_folder

        return load_bert_folder(os.fspath(folder))

    # -- stage 1 ------------------------------------------------------------------------------
    def basic_tokenize(self, text):
        """Text -> list of words (stage 1 above)."""
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
            elif self.tokenize_chinese_chars and _is_cjk(ch):
                chars.extend((" ", ch, " "))
            else:
                chars.append(ch)
        words = []
        for word in "".join(chars).split():
            if self.do_lower_case:
                word = word.lower()
                if self.strip_accents is not False:
                    word = _strip_accents(word)
            elif self.strip_accents:
                word = _strip_accents(word)
            current = []
            for ch in word:
                if _is_punctuation(ch):
                    if current:
                        words.append("".join(current))
                        current = []
                    words.append(ch)
                else:
                    current.append(ch)
            if current:
                words.append("".join(current))
        return words

    # -- stage 2 ------------------------------------------------------------------------------
    def _wordpiece(self, word):
        ids = self._cache.get(word)
        if ids is not None:
            return ids
        stoi = self._stoi
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_id]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                i = stoi.get(piece)
                if i is not None:
                    break
                end -= 1
            else:
                ids = [self.unk_id]
                break
            ids.append(i)
            start = end
        if len(self._cache) < 100_000:
            self._cache[word] = ids
        return ids

    def _encode(self, text):
        out = []
        for part in self._special_split.split(text) if self.specials else [text]:
            if part in self._stoi and part in self.specials:
                out.append(self._stoi[part])
                continue
            for word in self.basic_tokenize(part):
                out.extend(self._wordpiece(word))
        return out

    def _decode(self, ids):
        return " ".join(self._itos[i] for i in ids).replace(" ##", "")

    def _config(self):
        return {"vocab": self._itos, "do_lower_case": self.do_lower_case,
                "strip_accents": self.strip_accents,
                "tokenize_chinese_chars": self.tokenize_chinese_chars,
                "max_input_chars_per_word": self.max_input_chars_per_word,
                "specials": list(self.specials)}
