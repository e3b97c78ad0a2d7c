"""Character tokenizer with byte fallback.

Vocabulary: the special tokens, then 256 byte tokens ``<0x00>`` ... ``<0xFF>``, then characters
(usually the ones seen in a training corpus, ``CharTokenizer.train``). A character in the
vocabulary is one token; any other character is written as the tokens of its UTF-8 bytes.

Round-trip guarantee: ``decode(encode(text)) == text`` for every Python str that is valid
Unicode (no lone surrogates, which UTF-8 cannot encode: ``encode`` raises ValueError for them),
whether or not its characters were seen in training. Arbitrary id sequences may contain byte runs
that are not valid UTF-8; ``decode`` shows those as U+FFFD.
"""

from collections import Counter

from .tokenizer import SPECIAL_TOKENS, Tokenizer, check_str_list, check_text, utf8_bytes

BYTE_TOKENS = tuple(f"<0x{b:02X}>" for b in range(256))


class CharTokenizer(Tokenizer):
    kind = "char"

    def __init__(self, chars=(), specials=SPECIAL_TOKENS):
        chars = check_str_list(list(chars) if isinstance(chars, (set, frozenset)) else chars,
                               "chars", allow_empty=True)
        for k, ch in enumerate(chars):
            if len(ch) != 1:
                raise ValueError(f"chars[{k}] must be a single character, got {ch!r}")
        utf8_bytes("".join(chars))
        specials = check_str_list(specials, "specials", allow_empty=True)
        super().__init__(list(specials) + list(BYTE_TOKENS) + chars, specials)
        self._byte0 = len(self.specials)
        self.chars = chars

    @classmethod
    def train(cls, texts, max_chars=None, min_count=1):
        """Keep the ``max_chars`` most frequent characters of ``texts`` (ties: code point order)."""
        if isinstance(texts, str):
            texts = [texts]
        counts = Counter()
        for k, t in enumerate(texts):
            check_text(t, f"texts[{k}]")
            utf8_bytes(t)
            counts.update(t)
        ranked = sorted((ch for ch, n in counts.items() if n >= min_count),
                        key=lambda ch: (-counts[ch], ch))
        if max_chars is not None:
            ranked = ranked[:max_chars]
        return cls(sorted(ranked))

    def _encode(self, text):
        utf8_bytes(text)
        stoi, byte0 = self._stoi, self._byte0
        ids = []
        for ch in text:
            i = stoi.get(ch)  # specials and byte tokens are longer than one character
            if i is None:
                ids.extend(byte0 + b for b in ch.encode("utf-8"))
            else:
                ids.append(i)
        return ids

    def _decode(self, ids):
        out, pending = [], bytearray()
        lo, hi = self._byte0, self._byte0 + 256
        for i in ids:
            if lo <= i < hi:
                pending.append(i - lo)
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            out.append(self._itos[i])
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)

    def _config(self):
        return {"chars": self.chars, "specials": list(self.specials)}
