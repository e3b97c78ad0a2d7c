"""Data for tinyllm (article §3.2 steps 1-4): tokenizers, the TinyWorld corpus, real text,
batching and masking.

- tokenizers: ``CharTokenizer``, ``WordTokenizer``, ``BPETokenizer``, ``WordPieceTokenizer``,
  all with the face of ``tokenizer.Tokenizer``; ``load_tokenizer(path)`` reads any of them back,
  and Hugging Face ``tokenizer.json``, GPT-2's ``vocab.json``/``merges.txt`` and BERT's ``vocab.txt``
- ``tinyworld``: the built-in seeded corpus with exact log-probabilities and an entropy floor
- ``text``: any UTF-8 file or folder as a corpus; ``fetch``: real data sets through pip
- ``framing`` / ``masking``: framing and the causal-LM shift (E3.6), masked-LM corruption (S10, E3.7)
"""

from .tokenizer import SPECIAL_TOKENS, Tokenizer, load_tokenizer
from .char_tokenizer import CharTokenizer
from .word_tokenizer import WordTokenizer
from .bpe_tokenizer import BPETokenizer
from .wordpiece_tokenizer import WordPieceTokenizer

__all__ = ["SPECIAL_TOKENS", "Tokenizer", "load_tokenizer", "CharTokenizer", "WordTokenizer",
           "BPETokenizer", "WordPieceTokenizer"]
