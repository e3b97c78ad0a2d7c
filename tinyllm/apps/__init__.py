"""The article's applications (§3.4, §6), each a prompt template, the model, a parser and a metric.

    from tinyllm import apps
    result = apps.run("qa", model="tinyworld-gpt-256", n=100, seed=0)
    print(result.report())            # a few examples (prompt -> output -> parsed -> gold), then metrics

One module per application: ``qa``, ``translation``, ``summarization``, ``dialogue``,
``classification``, ``knowledge``, ``code``; each has ``run(model=None, n=..., seed=0)`` returning an
``AppResult`` (``tinyllm.apps.base``). ``interpreter`` runs TinyWorld's small program language.
"""

import importlib

NAMES = ("qa", "translation", "summarization", "dialogue", "classification", "knowledge", "code")


def run(name, model=None, n=100, seed=0, **kwargs):
    """Run the application ``name`` (one of ``NAMES``) and return its ``AppResult``."""
    if name not in NAMES:
        raise ValueError(f"name: unknown application {name!r}; choose one of {', '.join(NAMES)}")
    return importlib.import_module(f"tinyllm.apps.{name}").run(model=model, n=n, seed=seed, **kwargs)
