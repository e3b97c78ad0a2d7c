"""GPT (causal LM, E3.6) and BERT (masked LM, E3.7) built from tinyllm.ops, with Hugging Face
checkpoint import/export (hf.py, safetensors_io.py).

    config.py          GPTConfig, BERTConfig, presets, HF config.json fields
    block.py           the Transformer block, pre-LN and post-LN (S7)
    gpt.py, bert.py    the two architectures (S8 embeddings and tied heads)
    classifier.py      BERTClassifier: [CLS] classification head for fine-tuning (E2.1)
    gpt_classifier.py  GPTClassifier: the same baseline on GPT, head on the last real token (E2.1)
    hf.py              HF parameter names and layouts; safetensors_io.py the file format
"""

from tinyllm.models.bert import BERT
from tinyllm.models.classifier import BERTClassifier
from tinyllm.models.config import BERTConfig, GPTConfig
from tinyllm.models.gpt import GPT
from tinyllm.models.gpt_classifier import GPTClassifier

__all__ = ["BERT", "BERTClassifier", "BERTConfig", "GPT", "GPTClassifier", "GPTConfig"]
