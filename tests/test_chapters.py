"""Every chapter notebook runs top to bottom without an error (the chapters cannot drift from the code).

Each chapters/*.ipynb is executed with nbclient on the ``python3`` kernel, in a temporary working
directory, with the repository root on PYTHONPATH (see chapters/_build.py, which builds and runs
them the same way). A failing ``assert`` inside a notebook fails its test here. The cheap static
check below also makes sure the committed notebooks were saved executed and without error outputs.
"""

import pathlib
import sys

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbclient")

CHAPTERS = pathlib.Path(__file__).resolve().parent.parent / "chapters"
NOTEBOOKS = sorted(CHAPTERS.glob("*.ipynb"))
TIMEOUT_S = 600   # per cell; chapter 05 runs the quick prompt grid (about 4 minutes) in one cell

sys.path.insert(0, str(CHAPTERS))
import _build  # noqa: E402  (chapters/_build.py: the shared execute() with the right environment)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_saved_notebook_is_executed_without_errors(path):
    nb = nbformat.read(str(path), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
    assert code, f"{path.name} has no code cells"
    assert all(c.get("execution_count") for c in code), \
        f"{path.name} was saved without running every cell (python chapters/_build.py chapters/src/{path.stem}.py)"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name} was saved with an error output: {errors[0].get('ename')}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path):
    nb = nbformat.read(str(path), as_version=4)
    _build.execute(nb, timeout=TIMEOUT_S)      # raises CellExecutionError on any failing cell
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
