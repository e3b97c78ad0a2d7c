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
from collections import Counter, defaultdict

from .pretokenize import GPT2, TINYLLM_BPE, python_regex
from .tokenizer import (MAX_TOKEN_CHARS, MAX_VOCAB, SPECIAL_TOKENS, Tokenizer, check_str_list,
                        check_text, utf8_bytes)

# Contractions, letters, digits, underscores, other symbols (each with an optional leading
# space), then whitespace (pretokenize.TINYLLM_BPE). Every character falls in one class, so the
# chunks tile the text.
_CHUNK = python_regex(TINYLLM_BPE)


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


_CHAR_BYTE = {c: b for b, c in _BYTE_CHAR.items()}
MAX_TOTAL_BYTES = 64 * 1024 * 1024   # all token spellings together (GPT-2's: ~0.3 MB)


class BPETokenizer(Tokenizer):
    """Byte-level BPE.

    ``merges``: ``[left id, right id]`` pairs in rank order (merge k is tried before merge k+1).
    ``vocab``: None for tinyllm's layout (the specials, the 256 bytes in byte order, then merge k as
    id ``len(specials) + 256 + k``); or the token strings in id order, in GPT-2's byte alphabet
    (special tokens verbatim), as GPT-2's ``encoder.json`` lists them: merge k then yields the
    token spelled by its two halves. ``pretokenizer``: "tinyllm" (the chunks above) or "gpt2"
    (GPT-2's own pattern, for GPT-2's files). ``aliases``: roles played by specials of another name,
    e.g. ``{"[EOS]": "<|endoftext|>"}``.

    Every token is at most MAX_TOKEN_CHARS bytes and all of them together MAX_TOTAL_BYTES, checked
    before anything is built: a file whose merges double a token's length forty times is refused,
    not allocated.
    """

    kind = "bpe"

    def __init__(self, merges=(), specials=SPECIAL_TOKENS, vocab=None, pretokenizer=TINYLLM_BPE,
                 aliases=None):
        specials = check_str_list(specials, "specials", allow_empty=True)
        if pretokenizer not in (TINYLLM_BPE, GPT2):
            raise ValueError(f"pretokenizer must be {TINYLLM_BPE!r} or {GPT2!r}, got {pretokenizer!r}")
        merges = _check_merges(merges)
        if vocab is None:
            strings, token_bytes, results = _default_layout(merges, specials)
        else:
            strings = check_str_list(vocab, "vocab")
            token_bytes, results = None, None
        super().__init__(strings, specials, aliases)
        if vocab is not None:
            token_bytes, results = self._explicit_layout(merges)
        self._bytes = token_bytes
        self.merges = merges
        self.pretokenizer = pretokenizer
        self._explicit = vocab is not None
        byte_id = {}
        for i, t in enumerate(token_bytes):
            if len(t) == 1 and i not in self.special_ids:
                byte_id.setdefault(t[0], i)
        if len(byte_id) != 256:
            missing = sorted(set(range(256)) - set(byte_id))[:5]
            raise ValueError(f"vocab has no token for the bytes {missing}...: a byte-level BPE "
                             f"needs one token per byte")
        self._byte_id = [byte_id[b] for b in range(256)]
        self._rank, self._result = {}, {}
        for k, (m, r) in enumerate(zip(merges, results)):
            self._rank.setdefault(m, k)
            self._result.setdefault(m, r)
        self._chunks = python_regex(pretokenizer)
        self._cache = {}

    def _explicit_layout(self, merges):
        """Bytes of every token of an explicit vocabulary, and the id each merge yields."""
        token_bytes = []
        for i, t in enumerate(self._itos):
            if i in self.special_ids:
                token_bytes.append(t.encode("utf-8"))
                continue
            try:
                token_bytes.append(bytes(_CHAR_BYTE[c] for c in t))
            except KeyError:
                raise ValueError(f"vocab[{i}] = {t!r} has a character outside GPT-2's byte "
                                 f"alphabet and is not a special token") from None
        results = []
        for k, (a, b) in enumerate(merges):
            for x in (a, b):
                if not 0 <= x < len(self._itos) or x in self.special_ids:
                    raise ValueError(f"merges[{k}] = {[a, b]} refers to id {x}, which is not a "
                                     f"non-special token of the vocab (size {len(self._itos)})")
            r = self._stoi.get(self._itos[a] + self._itos[b])
            if r is None:
                raise ValueError(f"merges[{k}] = {[a, b]}: the vocab has no token "
                                 f"{self._itos[a] + self._itos[b]!r} for the merged pair")
            results.append(r)
        return token_bytes, results

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
        token_bytes = [b""] * byte0 + [bytes([b]) for b in range(256)]
        seen = set(token_bytes[byte0:]) | {s.encode("utf-8") for s in SPECIAL_TOKENS}
        merges = learn_merges(words, list(chunks.values()), token_bytes, vocab_size, seen,
                              lambda a, b: a + b)
        return cls(merges)

    def _encode_chunk(self, chunk):
        ids = self._cache.get(chunk)
        if ids is not None:
            return ids
        rank, byte_id = self._rank, self._byte_id
        sym = [byte_id[b] for b in utf8_bytes(chunk)]
        while len(sym) > 1:
            best = min(zip(sym, sym[1:]), key=lambda p: rank.get(p, len(rank)))
            if best not in rank:
                break
            sym = _merge(sym, best, self._result[best])
        if len(self._cache) < 100_000:
            self._cache[chunk] = sym
        return sym

    def _encode(self, text):
        utf8_bytes(text)
        out = []
        for chunk in self._chunks.findall(text):
            out.extend(self._encode_chunk(chunk))
        return out

    def _decode(self, ids):
        return b"".join(self._bytes[i] for i in ids).decode("utf-8", errors="replace")

    def _config(self):
        config = {"merges": [list(m) for m in self.merges], "specials": list(self.specials)}
        if self._explicit:
            config["vocab"] = list(self._itos)
        if self.pretokenizer != TINYLLM_BPE:
            config["pretokenizer"] = self.pretokenizer
        if self.aliases:
            config["aliases"] = dict(self.aliases)
        return config


def _check_merges(merges):
    """``merges`` as a list of (int, int) tuples (TypeError / ValueError naming the bad entry)."""
    if isinstance(merges, (str, bytes, dict)) or not hasattr(merges, "__iter__"):
        raise TypeError(f"merges must be a list of [left id, right id] pairs, got "
                        f"{type(merges).__name__}")
    out = []
    for k, m in enumerate(merges):
        if (not isinstance(m, (list, tuple)) or len(m) != 2
                or any(isinstance(x, bool) or not isinstance(x, int) for x in m)):
            raise ValueError(f"merges[{k}] must be a pair of int ids, got {m!r}"[:200])
        out.append((int(m[0]), int(m[1])))
        if len(out) > MAX_VOCAB:
            raise ValueError(f"merges: more than {MAX_VOCAB:,} merges")
    return out


def _default_layout(merges, specials):
    """tinyllm's layout: token strings, token bytes and merge results, with every size checked
    before the bytes are built."""
    n_special = len(specials)
    token_bytes = [s.encode("utf-8") for s in specials] + [bytes([b]) for b in range(256)]
    total, results = 256, []
    for k, (a, b) in enumerate(merges):
        if not (n_special <= a < len(token_bytes) and n_special <= b < len(token_bytes)):
            raise ValueError(f"merges[{k}] = {[a, b]} refers to an id that is not a byte or an "
                             f"earlier merge (valid: [{n_special}, {len(token_bytes)}))")
        size = len(token_bytes[a]) + len(token_bytes[b])
        total += size
        if size > MAX_TOKEN_CHARS or total > MAX_TOTAL_BYTES:
            raise ValueError(f"merges[{k}] = {[a, b]} would make a token of {size:,} bytes (all "
                             f"tokens: {total:,}); tinyllm accepts at most {MAX_TOKEN_CHARS:,} per "
                             f"token and {MAX_TOTAL_BYTES:,} in all")
        token_bytes.append(token_bytes[a] + token_bytes[b])
        results.append(len(token_bytes) - 1)
    strings = list(specials) + ["".join(_BYTE_CHAR[x] for x in t) for t in token_bytes[n_special:]]
    return strings, token_bytes, results


def learn_merges(words, freqs, spellings, vocab_size, seen, join):
    """The BPE training loop: merge the most frequent adjacent pair of symbols until ``vocab_size``.

    ``words``: symbol-id lists (changed in place), ``freqs``: how often each occurs, ``spellings``:
    id -> spelling (extended with each new symbol), ``seen``: spellings already taken (a pair whose
    merge spells one of them is never merged), ``join(a, b)``: the spelling of a merged pair.
    Stops early when no pair occurs twice; ties go to the smaller (left id, right id), so training
    is deterministic. Returns the merged pairs in order (symbol ``len(spellings)`` at the start is
    the first one's result, and so on).
    """
    pair_count = defaultdict(int)
    where = defaultdict(set)
    for wi, sym in enumerate(words):
        for p in zip(sym, sym[1:]):
            pair_count[p] += freqs[wi]
            where[p].add(wi)
    heap = [(-n, p) for p, n in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(spellings) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) != -neg:
            continue  # stale entry
        if -neg < 2:
            break
        new = join(spellings[pair[0]], spellings[pair[1]])
        del pair_count[pair]
        if new in seen:
            continue  # another merge already spells this; never merge this pair
        new_id = len(spellings)
        spellings.append(new)
        seen.add(new)
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
    return merges


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
