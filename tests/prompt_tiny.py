"""Tiny random GPT and BERT (float64) with a small word vocabulary, for the prompt-learning tests."""

import numpy as np

from tinyllm.data.word_tokenizer import WordTokenizer
from tinyllm.models import BERT, BERTConfig, GPT, GPTConfig

WORDS = ("the food was great awful good bad it movie a an very not terrible fine . , ! is "
         "soup cold warm service slow fast and i liked hated this place").split()
LABEL_WORDS = {"neg": ["awful", "very bad"], "pos": ["great", "very good"]}
TEXTS = ["the food was good", "a movie", "the soup was cold and the service slow", "i liked this place"]
LABELS = [1, 0, 0, 1]


def tokenizer():
    return WordTokenizer(WORDS)


def gpt(max_len=40, seed=0):
    tok = tokenizer()
    return GPT(GPTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, d_model=16, max_len=max_len),
               seed=seed, dtype=np.float64)


def bert(max_len=40, seed=0):
    tok = tokenizer()
    return BERT(BERTConfig(vocab_size=tok.vocab_size, n_layer=2, n_head=2, d_model=16, max_len=max_len),
                seed=seed, dtype=np.float64)


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
