"""Every equation ID (docs/EQUATIONS.md) lives in three places: code, tests and a chapter.

docs/EQUATIONS.md, in the repository, is the list of IDs with their formulas and where each lives;
the README's "Equation index" table maps each ID to the functions that compute it. This test checks
both against the code (each function exists and cites the ID in its docstring), the tests (the ID
appears in a test file other than this one) and the chapters (a Markdown cell shows it and the
next cell is code), and checks that the two lists agree.

IDs whose issue is still open are listed in PENDING with the reason; the test checks that they
really are absent from the index, so the list cannot go stale silently.
"""

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "EQUATIONS.md"
ID_RE = r"(?:E\d+\.\d+|S\d+)"

PENDING = {}


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


def docs_rows():
    """{ID: the text of its row} from the tables of docs/EQUATIONS.md."""
    text = DOCS.read_text(encoding="utf-8")
    return {m.group(1): m.group(0) for m in re.finditer(rf"^\|\s*({ID_RE})\s*\|.*$", text, re.M)}


def test_docs_and_readme_index_list_the_same_ids():
    docs_ids = set(docs_rows())
    assert docs_ids, "no IDs parsed from docs/EQUATIONS.md"
    missing = docs_ids - set(INDEX) - set(PENDING)
    assert not missing, f"README equation index lacks {sorted(missing)} (listed in docs/EQUATIONS.md)"
    unknown = (set(INDEX) | set(PENDING)) - docs_ids
    assert not unknown, f"docs/EQUATIONS.md lacks {sorted(unknown)}: add a row with its formula"


@pytest.mark.parametrize("eid", sorted(INDEX))
def test_docs_row_names_code_that_cites_it(eid):
    row = docs_rows().get(eid, "")
    names = re.findall(r"`(tinyllm\.[\w.]+)`", row)
    assert names, f"docs/EQUATIONS.md: the row of {eid} names no tinyllm function (still 'in progress'?)"
    for dotted in names:
        assert id_pattern(eid).search(resolve(dotted).__doc__ or ""), f"{dotted}'s docstring does not cite {eid}"


def test_references_point_into_the_repository():
    """The README, chapters, tests and library cite docs/EQUATIONS.md and docs/KERNELS.md, which
    exist; nothing cites a file outside the repository."""
    assert (ROOT / "docs" / "KERNELS.md").exists()
    files = [ROOT / "README.md", *sorted((ROOT / "chapters").glob("*.ipynb")),
             *sorted((ROOT / "chapters" / "src").glob("*.py")), *sorted((ROOT / "tests").glob("*.py")),
             *sorted((ROOT / "tinyllm").rglob("*.py"))]
    bad = []
    for path in files:
        if path == Path(__file__).resolve():
            continue
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"(?:\.\./)+[\w.-]+", text):        # a path that climbs out of the repository
            target = (ROOT / m.group(0)).resolve()
            if ROOT not in target.parents and target != ROOT and target.exists():
                bad.append(f"{path.name}: {m.group(0)} (outside the repository)")
        for name in ("EQUATIONS.md", "KERNELS.md", "DESIGN.md"):
            for m in re.finditer(rf"[\w./-]*{name}", text):
                if m.group(0) not in (f"docs/{name}",) or name == "DESIGN.md":
                    bad.append(f"{path.name}: {m.group(0)}")
    assert not bad, f"references outside docs/ (use docs/EQUATIONS.md or docs/KERNELS.md): {bad}"


def test_pending_ids_are_really_pending():
    stale = sorted(set(PENDING) & set(INDEX))
    assert not stale, f"{stale} are in the README index now: remove them from PENDING"


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
