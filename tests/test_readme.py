"""The README's newcomer path holds together: what it tells a new user to run is what CI runs, every
command-line example parses and uses only folders that an earlier example created, and the stated
Python versions match the package metadata."""

import re
import shlex
from pathlib import Path

import pytest

from tinyllm import zoo
from tinyllm.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")   # read as text: tomllib is 3.11+


def section(title):
    return README.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def bash_lines(text):
    """The commands of the ```bash blocks in ``text``, comments removed."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def tinyllm_commands():
    """Every `tinyllm ...` invocation of the Quickstart and command-line sections, in order."""
    commands = []
    for line in bash_lines(section("Quickstart")) + bash_lines(section("The command line")):
        for part in line.split("&&"):
            words = shlex.split(part)
            if words and words[0] == "tinyllm":
                commands.append(words[1:])
    return commands


def test_ci_runs_the_quickstart_install_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command2 = [line for line in bash_lines(section("Quickstart")) if "pytest" in line]
    assert len(command2) == 1, "the Quickstart should have one test command"
    installs = [p.strip() for p in command2[0].split("&&") if p.strip().startswith("pip install")]
    assert any("--index-url https://download.pytorch.org/whl/cpu" in p for p in installs), \
        "the Quickstart must install PyTorch's CPU-only build"
    for p in installs:
        assert p.replace("pip install ", "pip install --quiet ", 1) in ci, f".ci/run does not run: {p}"


def test_every_cli_example_parses_and_uses_an_existing_folder():
    parser = build_parser()
    made = set()
    commands = tinyllm_commands()
    assert any(c[:1] == ["demo"] for c in commands) and len(commands) >= 6
    for argv in commands:
        if "--help" in argv:
            with pytest.raises(SystemExit) as e:
                parser.parse_args(argv)
            assert e.value.code == 0
            continue
        args = parser.parse_args(argv)
        if args.command == "demo":
            made.add(args.out)
        elif args.command == "pretrain":
            if args.resume:
                assert args.out in made, f"`tinyllm {' '.join(argv)}` resumes a run no earlier example made"
            made.add(args.out)
        elif args.command in ("generate", "eval"):
            assert args.model in made or args.model in zoo.RECIPES, \
                f"`tinyllm {' '.join(argv)}` needs {args.model!r}, which no earlier example creates"


def test_python_versions_agree_with_the_classifiers():
    versions = sorted(re.findall(r'"Programming Language :: Python :: (3\.\d+)"', PYPROJECT),
                      key=lambda v: int(v.split(".")[1]))
    m = re.search(r"Supported: Python (3\.\d+)–(3\.\d+)", README)
    assert m, "the README states no supported Python range"
    lo, hi = (int(v.split(".")[1]) for v in m.groups())
    assert versions == [f"3.{i}" for i in range(lo, hi + 1)]
    assert f'requires-python = ">={m.group(1)}"' in PYPROJECT


def test_chapters_extra_and_how_to_open_them():
    extra = re.search(r"^chapters = \[(.*?)\]", PYPROJECT, re.S | re.M)
    assert extra and '"jupyterlab' in extra.group(1)
    assert 'pip install -e ".[chapters]" && jupyter lab chapters/' in README
