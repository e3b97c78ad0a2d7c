"""Byte-level byte-pair encoding (BPE), trained on a corpus.

Text is first cut into chunks (a word with its leading space, a run of digits, a run of
punctuation, a run of spaces; the GPT-2 pre-tokenization idea), each chunk becomes its UTF-8
bytes, and learned merges join the most frequent adjacent pair of symbols into a new symbol,
repeated until the vocabulary reaches ``vocab_size``.

Vocabulary: the special tokens, then the 256 bytes, then one token per merge. Token strings use
GPT-2's printable stand-ins for bytes (a space shows as "Ġ").

Round-trip guarantee: ``decode(encode(text)) == text`` for every str that is valid Unicode (any
script, emoji, control characters); the chunks cover the text exactly and every byte has a token.
Lone surrogates cannot be UTF-8 encoded and raise ValueError.
"""

import heapq
import re
from collections import Counter, defaultdict

from .tokenizer import SPECIAL_TOKENS, Tokenizer, check_text, utf8_bytes

# Contractions, letters, digits, underscores, other symbols (each with an optional leading
# space), then whitespace. Every character falls in one class, so the chunks tile the text.
_CHUNK = re.compile(r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?_+| ?[^\s\w]+|\s+(?!\S)|\s+""")


def _bytes_to_unicode():
    """GPT-2's map from each byte to a printable character (for readable token strings)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


_BYTE_CHAR = _bytes_to_unicode()


class BPETokenizer(Tokenizer):
    kind = "bpe"

    def __init__(self, merges=(), specials=SPECIAL_TOKENS):
        n_special = len(specials)
        self._byte0 = n_special
        self.merges = [tuple(int(x) for x in m) for m in merges]
        token_bytes = [s.encode("utf-8") for s in specials] + [bytes([b]) for b in range(256)]
        for k, (a, b) in enumerate(self.merges):
            if not (n_special <= a < len(token_bytes) and n_special <= b < len(token_bytes)):
                raise ValueError(f"merges[{k}] = {(a, b)} refers to an id that is not a byte or an "
                                 f"earlier merge (valid: [{n_special}, {len(token_bytes)}))")
            token_bytes.append(token_bytes[a] + token_bytes[b])
        self._bytes = token_bytes
        strings = list(specials) + ["".join(_BYTE_CHAR[x] for x in t)
                                    for t in token_bytes[n_special:]]
        super().__init__(strings, specials)
        self._rank = {m: k for k, m in enumerate(self.merges)}
        self._cache = {}

    @classmethod
    def train(cls, texts, vocab_size):
        """Learn merges on ``texts`` (a str or a list of str) until ``vocab_size`` tokens.

        Stops early when no pair occurs twice. Ties between equally frequent pairs go to the
        smaller (left id, right id), so training is deterministic.
        """
        if isinstance(texts, str):
            texts = [texts]
        n_base = len(SPECIAL_TOKENS) + 256
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < n_base:
            raise ValueError(f"vocab_size must be an int >= {n_base} (specials + 256 bytes), "
                             f"got {vocab_size!r}")
        chunks = Counter()
        for k, t in enumerate(texts):
            check_text(t, f"texts[{k}]")
            chunks.update(_CHUNK.findall(t))
        byte0 = len(SPECIAL_TOKENS)
        words = [[byte0 + b for b in utf8_bytes(c)] for c in chunks]
        freqs = list(chunks.values())
        pair_count = defaultdict(int)
        where = defaultdict(set)
        for wi, sym in enumerate(words):
            for p in zip(sym, sym[1:]):
                pair_count[p] += freqs[wi]
                where[p].add(wi)
        heap = [(-n, p) for p, n in pair_count.items()]
        heapq.heapify(heap)
        token_bytes = [b""] * byte0 + [bytes([b]) for b in range(256)]
        seen = set(token_bytes[byte0:]) | {s.encode("utf-8") for s in SPECIAL_TOKENS}
        merges = []
        while len(token_bytes) < vocab_size and heap:
            neg, pair = heapq.heappop(heap)
            if pair_count.get(pair, 0) != -neg:
                continue  # stale entry
            if -neg < 2:
                break
            new_bytes = token_bytes[pair[0]] + token_bytes[pair[1]]
            del pair_count[pair]
            if new_bytes in seen:
                continue  # another merge already spells these bytes; never merge this pair
            new_id = len(token_bytes)
            token_bytes.append(new_bytes)
            seen.add(new_bytes)
            merges.append(pair)
            touched = set()
            for wi in where.pop(pair, ()):
                sym, f = words[wi], freqs[wi]
                merged = _merge(sym, pair, new_id)
                if len(merged) == len(sym):
                    continue
                for p in zip(sym, sym[1:]):
                    if p != pair:
                        pair_count[p] -= f
                        touched.add(p)
                for p in zip(merged, merged[1:]):
                    pair_count[p] += f
                    where[p].add(wi)
                    touched.add(p)
                words[wi] = merged
            for p in touched:
                n = pair_count.get(p, 0)
                if n > 0:
                    heapq.heappush(heap, (-n, p))
                else:
                    pair_count.pop(p, None)
        return cls(merges)

    def _encode_chunk(self, chunk):
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        byte0, rank = self._byte0, self._rank
        sym = [byte0 + b for b in utf8_bytes(chunk)]
        while len(sym) > 1:
            best = min(zip(sym, sym[1:]), key=lambda p: rank.get(p, len(rank)))
            r = rank.get(best)
            if r is None:
                break
            sym = _merge(sym, best, byte0 + 256 + r)
        if len(self._cache) < 100_000:
            self._cache[chunk] = sym
        return sym

    def _encode(self, text):
        utf8_bytes(text)
        out = []
        for chunk in _CHUNK.findall(text):
            out.extend(self._encode_chunk(chunk))
        return out

    def _decode(self, ids):
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def _config(self):
        return {"merges": [list(m) for m in self.merges], "specials": list(self.specials)}


def _merge(sym, pair, new_id):
    """Replace every non-overlapping occurrence of ``pair`` in ``sym`` (left to right)."""
    a, b = pair
    out, i, n = [], 0, len(sym)
    while i < n:
        if i < n - 1 and sym[i] == a and sym[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(sym[i])
            i += 1
    return out
