"""The committed notebooks are their sources: chapters/NAME.ipynb holds exactly the cells that
chapters/_build.py makes from chapters/src/NAME.py (same kinds, same text, same order).

A notebook edited by hand and not its source (or the other way round) fails here; rebuild with
``python chapters/_build.py chapters/src/NAME.py``.
"""

import json
import pathlib
import sys

import pytest

CHAPTERS = pathlib.Path(__file__).resolve().parent.parent / "chapters"
SOURCES = sorted((CHAPTERS / "src").glob("*.py"))

sys.path.insert(0, str(CHAPTERS))
from _build import parse_cells  # noqa: E402  (the build's own reading of the percent format)


def test_every_notebook_has_a_source_and_back():
    notebooks = {p.stem for p in CHAPTERS.glob("*.ipynb")}
    sources = {p.stem for p in SOURCES}
    assert notebooks == sources, f"without a source: {sorted(notebooks - sources)}; " \
                                 f"never built: {sorted(sources - notebooks)}"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_notebook_cells_match_the_source(source):
    expected = parse_cells(source.read_text(encoding="utf-8"))
    cells = json.loads((CHAPTERS / f"{source.stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    got = [(c["cell_type"], "".join(c["source"])) for c in cells]
    assert len(got) == len(expected), f"{source.stem}: {len(got)} cells in the notebook, {len(expected)} in the source"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{source.stem}: cell {i} differs from its source; rebuild with " \
                       f"python chapters/_build.py chapters/src/{source.name}"
