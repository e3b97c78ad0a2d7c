"""tinyllm: large language models and prompt learning, one readable NumPy equation at a time.

The package mirrors the article's sections (see README.md):

- ``tinyllm.ops``      the equations (E3.1-E4.1, S1-S8) as forward/backward pairs in NumPy
- ``tinyllm.kernels``  the hot loops (softmax, fused matmul-softmax, attention) in C, Numba, CUDA
- ``tinyllm.models``   GPT (causal LM) and BERT (masked LM), Hugging Face import/export
- ``tinyllm.data``     tokenizers, the TinyWorld corpus, framing and masking
- ``tinyllm.train``    optimizers, schedules, the training loop, checkpoints
- ``tinyllm.generate`` sampling with a KV cache

The public model classes are imported lazily so that ``import tinyllm`` stays fast.
"""

__version__ = "0.1.0"

_LAZY = {
    "GPT": "tinyllm.models",
    "GPTConfig": "tinyllm.models",
    "BERT": "tinyllm.models",
    "BERTConfig": "tinyllm.models",
    "pretrained": "tinyllm.zoo",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tinyllm' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["__version__"]
