"""Every equation ID (EQUATIONS.md) lives in three places: code, tests and a chapter.

The README's "Equation index" table maps each ID to the functions that compute it. This test checks
that table against the code (each function exists and cites the ID in its docstring), the tests (the
ID appears in a test file other than this one) and the chapters (a Markdown cell shows it and the
next cell is code). When ../shared/EQUATIONS.md is present (a developer checkout), the index must
list every ID it defines.

IDs whose issue is still open are listed in PENDING with the reason; the test checks that they
really are absent from the index, so the list cannot go stale silently.
"""

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "EQUATIONS.md"
ID_RE = r"(?:E\d+\.\d+|S\d+)"

PENDING = {
    "E2.1": "fine-tuning head: prompt-learning issue not filed yet",
    "E2.2": "prompt scoring: prompt-learning issue not filed yet",
    "S11": "verbalizers: prompt-learning issue not filed yet",
    "S12": "soft prompts: prompt-learning issue not filed yet",
    "S13": "automatic prompt search: prompt-learning issue not filed yet",
}


def readme_index():
    """{ID: [dotted function names]} from the README's equation index table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Equation index", 1)[1].split("\n## ", 1)[0]
    index = {}
    for line in section.splitlines():
        m = re.match(rf"\|\s*({ID_RE})\s*\|", line)
        if m:
            index[m.group(1)] = re.findall(r"`(tinyllm\.[\w.]+)`", line)
    return index


INDEX = readme_index()
ALL_IDS = sorted(set(INDEX) | set(PENDING), key=lambda s: (s[0], [int(p) for p in s[1:].split(".")]))


def id_pattern(eid):
    # E3.6 may be written E3_6 in a test name; never match E3.60 or S10 for S1
    return re.compile(rf"(?<![A-Za-z0-9.]){eid.replace('.', '[._]')}(?![0-9]|\.\d)")


def resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def chapter_cells():
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path.name, cells


def test_index_covers_the_shared_equation_list():
    if not SHARED.exists():
        pytest.skip("../shared/EQUATIONS.md is only present in a developer checkout")
    shared_ids = set(re.findall(rf"^\|\s*({ID_RE})\s*\|", SHARED.read_text(encoding="utf-8"), re.M))
    assert shared_ids, "no IDs parsed from EQUATIONS.md"
    missing = shared_ids - set(INDEX) - set(PENDING)
    assert not missing, f"README equation index lacks {sorted(missing)}"


@pytest.mark.parametrize("eid", sorted(PENDING))
def test_pending_ids_are_really_pending(eid):
    assert eid not in INDEX, f"{eid} is in the README index now: remove it from PENDING"


@pytest.mark.parametrize("eid", sorted(INDEX))
def test_equation_is_cited_in_code_docstrings(eid):
    names = INDEX[eid]
    assert names, f"README index row for {eid} names no function"
    for dotted in names:
        obj = resolve(dotted)
        assert id_pattern(eid).search(obj.__doc__ or ""), f"{dotted}'s docstring does not cite {eid}"


@pytest.mark.parametrize("eid", sorted(INDEX))
def test_equation_is_cited_in_a_test(eid):
    pat = id_pattern(eid)
    hits = [p.name for p in (ROOT / "tests").glob("test_*.py")
            if p.name != Path(__file__).name and pat.search(p.read_text(encoding="utf-8"))]
    assert hits, f"no test file mentions {eid}"


@pytest.mark.parametrize("eid", sorted(INDEX))
def test_equation_is_shown_then_computed_in_a_chapter(eid):
    pat = id_pattern(eid)
    for name, cells in chapter_cells():
        for cell, following in zip(cells, cells[1:]):
            if cell["cell_type"] == "markdown" and pat.search("".join(cell["source"])) \
                    and following["cell_type"] == "code":
                return
    pytest.fail(f"no chapter has a Markdown cell citing {eid} followed by a code cell")
