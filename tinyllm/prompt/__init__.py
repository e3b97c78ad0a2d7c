"""tinyllm.prompt: prompt learning on tinyllm's own GPT and BERT (article §2 and §3.2).

    y* = argmax_y P(y | x, t; theta)                                              (E2.2)

- ``Template``, ``Verbalizer``, ``PromptModel``: step 2 (prompt design) and scoring (E2.2, S11)
- ``Demonstrations``, ``calibrate``: step 3, zero- and few-shot inference in context (S11)
- ``fit``, ``PETEnsemble``, ``distill``: PET (pattern-exploiting training)
- ``PromptTuningConfig``, ``PrefixTuningConfig``, ``PromptEncoderConfig``: soft prompts (S12)
- ``autoprompt``, ``label_search``: automatic prompts (S13)
- ``parse_answer``, ``parse_fields``: step 4 (result parsing); ``evaluate``, ``aggregate``: step 5
- ``tasks``: labelled tasks built from TinyWorld and real data

The soft-prompt configs, parsing, metrics and tasks are imported on first use.
"""

import importlib

from tinyllm.prompt.autoprompt import autoprompt, label_search
from tinyllm.prompt.calibration import calibrate
from tinyllm.prompt.demonstrations import Demonstrations
from tinyllm.prompt.pet import PETEnsemble, distill, fit
from tinyllm.prompt.prompt_model import NonFiniteError, PromptModel
from tinyllm.prompt.template import Template
from tinyllm.prompt.verbalizer import Verbalizer

# the other helpers' modules, imported on first use (the package imports without them)
_LAZY = {
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
        value = getattr(importlib.import_module(f"tinyllm.prompt.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if name == "tasks":
        return importlib.import_module("tinyllm.prompt.tasks")
    raise AttributeError(f"module 'tinyllm.prompt' has no attribute {name!r}")


__all__ = sorted(["Template", "Verbalizer", "PromptModel", "NonFiniteError", "Demonstrations", "calibrate",
                  "fit", "PETEnsemble", "distill", "autoprompt", "label_search", *_LAZY, "tasks"])
