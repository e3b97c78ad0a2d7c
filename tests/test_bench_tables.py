"""The README's machine tables of benchmarks/bench_train.py are generated from the committed JSON,
never typed: regenerating each one into a copy of the README changes nothing."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TABLES = {"avx2": "benchmarks/train_results_avx2.json", "zen4": "benchmarks/train_results_zen4.json"}


@pytest.mark.parametrize("tag", sorted(TABLES))
def test_readme_bench_train_table_is_the_json(tag, tmp_path):
    copy = tmp_path / "README.md"
    shutil.copyfile(ROOT / "README.md", copy)
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_train.py"), "--json", str(ROOT / TABLES[tag]),
                        "--readme-table", tag, "--readme", str(copy)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert f"<!-- bench_train:{tag}:table:begin -->" in copy.read_text()
    assert copy.read_text() == (ROOT / "README.md").read_text(), f"README's {tag} table differs from {TABLES[tag]}"
