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


def _thread_policy():
    """OpenBLAS's workers sleep right after a call and OpenMP's threads wait passively (see
    tinyllm.runtime), so the two pools do not spin against each other on a small machine. Environment
    variables only act before NumPy loads them, so this runs at ``import tinyllm`` when NumPy is not
    imported yet; values the user set are kept. It changes no result, only how idle threads wait."""
    import os
    import sys

    from tinyllm.runtime import POLICY      # imports only os, sys and contextlib

    if "numpy" not in sys.modules:
        for var, value in POLICY.items():
            os.environ.setdefault(var, value)


_thread_policy()

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
