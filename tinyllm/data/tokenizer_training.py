"""Train a tokenizer of any kind by name (article §3.2 step 2): what ``tinyllm pretrain --tokenizer``
runs on the training text.

    tok = train_tokenizer("bpe", texts, vocab_size=1000)

``vocab_size`` counts every id, the special tokens included; None takes the kind's default
(every character seen for "char", 5,000 for "word", 1,000 for "bpe" and "wordpiece"). Character and
BPE tokenizers are lossless (one-to-one on text); word and WordPiece tokenizers are not ([UNK],
lower case), which matters for entropy floors.
"""

from .bpe_tokenizer import BPETokenizer
from .char_tokenizer import BYTE_TOKENS, CharTokenizer
from .tokenizer import SPECIAL_TOKENS
from .word_tokenizer import WordTokenizer
from .wordpiece_tokenizer import WordPieceTokenizer

KINDS = ("char", "word", "bpe", "wordpiece")
LOSSLESS = ("char", "bpe")
DEFAULT_VOCAB = {"char": None, "word": 5000, "bpe": 1000, "wordpiece": 1000}


def train_tokenizer(kind, texts, vocab_size=None, lower=True):
    """A ``kind`` tokenizer ("char", "word", "bpe", "wordpiece") trained on ``texts``.

    ``lower`` applies to the word and WordPiece kinds (lower-case before looking words up).
    """
    if kind not in KINDS:
        raise ValueError(f"tokenizer: expected one of {KINDS}, got {kind!r}")
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int)):
        raise TypeError(f"vocab_size: expected an int or None, got {type(vocab_size).__name__}")
    n = DEFAULT_VOCAB[kind] if vocab_size is None else vocab_size
    if kind == "char":
        base = len(SPECIAL_TOKENS) + len(BYTE_TOKENS)
        if n is not None and n <= base:
            raise ValueError(f"vocab_size: a character vocabulary needs more than {base} ids "
                             f"(specials + 256 byte tokens), got {n}")
        return CharTokenizer.train(texts, max_chars=None if n is None else n - base)
    if kind == "word":
        return WordTokenizer.train(texts, vocab_size=n, lower=lower)
    if kind == "bpe":
        return BPETokenizer.train(texts, vocab_size=n)
    return WordPieceTokenizer.train(texts, vocab_size=n, do_lower_case=lower)
