"""tinyllm.prompt: prompt learning on tinyllm's own GPT and BERT (article §2 and §3.2).

    y* = argmax_y P(y | x, t; theta)                                              (E2.2)

- ``Template``, ``Verbalizer``, ``PromptModel``: step 2 (prompt design) and scoring (E2.2, S11)
- ``Demonstrations``, ``calibrate``: step 3, zero- and few-shot inference in context (S11)
- ``fit``, ``PETEnsemble``, ``distill``: PET (pattern-exploiting training)
- ``PromptTuningConfig``, ``PrefixTuningConfig``, ``PromptEncoderConfig``: soft prompts (S12)
- ``autoprompt``, ``label_search``: automatic prompts (S13)
- ``parse_answer``, ``parse_fields``: step 4 (result parsing); ``evaluate``, ``aggregate``: step 5
- ``tasks``: labelled tasks built from TinyWorld and real data

Names are imported on first use, so ``import tinyllm.prompt`` is fast.
"""

import importlib

_LAZY = {
    "Template": "template",
    "Verbalizer": "verbalizer",
    "PromptModel": "prompt_model",
    "NonFiniteError": "prompt_model",
    "Demonstrations": "demonstrations",
    "calibrate": "calibration",
    "fit": "pet",
    "PETEnsemble": "pet",
    "distill": "pet",
    "autoprompt": "autoprompt",
    "label_search": "autoprompt",
    "PromptTuningConfig": "peft",
    "PrefixTuningConfig": "peft",
    "PromptEncoderConfig": "peft",
    "make_peft": "peft",
    "parse_answer": "parse",
    "parse_fields": "parse",
    "evaluate": "metrics",
    "aggregate": "metrics",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"tinyllm.prompt.{_LAZY[name]}"), name)
    if name == "tasks":
        return importlib.import_module("tinyllm.prompt.tasks")
    raise AttributeError(f"module 'tinyllm.prompt' has no attribute {name!r}")


__all__ = sorted(_LAZY) + ["tasks"]
