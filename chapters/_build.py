"""Build a chapter notebook from a plain Python source file, execute it, and save it with outputs.

Usage (from the repository root):

    python chapters/_build.py chapters/src/03a_self_attention.py          # -> chapters/03a_self_attention.ipynb
    python chapters/_build.py chapters/src/*.py                           # several at once
    python chapters/_build.py --no-execute chapters/src/04_math_model.py  # structure only, no outputs

The source uses the "percent" cell format (the one Jupytext, VS Code and Spyder understand):

    # %% [markdown]
    # # A title
    # Prose, with LaTeX: $A = \\mathrm{softmax}(QK^\\top/\\sqrt d)$
    #
    # %%
    import numpy as np            # a code cell runs until the next "# %%" line

In a Markdown cell every line starts with "#"; the leading "# " (or a lone "#") is removed. Anything
before the first "# %%" marker (a module docstring, say) is not part of the notebook.

Execution uses nbclient with the ``python3`` kernel in a fresh temporary directory (so a notebook
never litters the repository; write files under ``tempfile`` and do not rely on the working
directory). The repository root is put on PYTHONPATH, so ``import tinyllm`` works without
installing the package. Any cell error stops the build with the failing cell's traceback, and no
notebook is written. The wall time of each notebook is printed: the goal is under 2 minutes on 2
cores (chapter 05, which reruns the quick prompt grid, takes about 4); tests/test_chapters.py allows
600 s per cell.
"""

import argparse
import os
import pathlib
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

CHAPTERS = pathlib.Path(__file__).resolve().parent
REPO = CHAPTERS.parent
TIMEOUT_S = 600   # per cell; chapter 05 runs the quick prompt grid (about 4 minutes) in one cell


def parse_cells(text):
    """Split percent-format source into a list of (kind, source) with kind "markdown" or "code"."""
    cells, kind, lines = [], None, []

    def flush():
        if kind is not None:
            body = "\n".join(lines).strip("\n")
            if body.strip():
                cells.append((kind, body))

    for line in text.splitlines():
        if line.startswith("# %%"):
            flush()
            kind, lines = ("markdown" if "[markdown]" in line else "code"), []
        elif kind == "markdown":
            lines.append(line[2:] if line.startswith("# ") else line.lstrip("#"))
        elif kind == "code":
            lines.append(line)
    flush()
    return cells


def make_notebook(cells):
    """An nbformat v4 notebook with the python3 kernel from (kind, source) pairs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, body) in enumerate(cells):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(body)
        cell["id"] = f"cell-{i:03d}"          # stable ids keep rebuilds' diffs small
        nb.cells.append(cell)
    return nb


def kernel_env():
    """os.environ with the repository root prepended to PYTHONPATH (the kernel inherits it)."""
    env = dict(os.environ)
    parts = [str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    return env


def prebuild_models(nb):
    """Build the zoo models a notebook loads (``tinyllm.pretrained("NAME")``) before it runs, so that a
    first-use build (minutes, once per machine) never counts against a cell's timeout."""
    import re

    names = sorted({m for c in nb.cells if c.cell_type == "code"
                    for m in re.findall(r"pretrained\(\s*[\"']([\w.-]+)[\"']", c.source)})
    if names:
        sys.path.insert(0, str(REPO))
        import tinyllm

        for name in names:
            tinyllm.pretrained(name)
    return names


def execute(nb, timeout=TIMEOUT_S):
    """Run every cell of nb in place, in a temporary working directory. Returns the wall time in s
    (not counting a first-use build of the zoo models it loads, see ``prebuild_models``)."""
    prebuild_models(nb)
    old = os.environ.copy()
    os.environ.update(kernel_env())
    try:
        with tempfile.TemporaryDirectory() as cwd:
            start = time.perf_counter()
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": cwd}}).execute()
            return time.perf_counter() - start
    finally:
        os.environ.clear()
        os.environ.update(old)


def build(source, run=True):
    """source: path to chapters/src/NAME.py -> writes chapters/NAME.ipynb; returns (path, seconds)."""
    source = pathlib.Path(source)
    nb = make_notebook(parse_cells(source.read_text(encoding="utf-8")))
    seconds = execute(nb) if run else 0.0
    target = CHAPTERS / (source.stem + ".ipynb")
    nbformat.validate(nb)
    nbformat.write(nb, str(target))
    return target, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", nargs="+", help="percent-format .py files (chapters/src/*.py)")
    parser.add_argument("--no-execute", action="store_true", help="write the notebook without running it")
    args = parser.parse_args(argv)
    for source in args.sources:
        target, seconds = build(source, run=not args.no_execute)
        status = "not executed" if args.no_execute else f"executed in {seconds:.1f} s"
        print(f"{target.relative_to(REPO)}: {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
