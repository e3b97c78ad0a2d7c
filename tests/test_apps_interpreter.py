"""tinyllm.apps.interpreter: TinyWorld's program language, its semantics and hostile programs."""

import re

import pytest

from tinyllm.apps.interpreter import MAX_DEPTH, MAX_SOURCE_CHARS, ProgramError, output, parse, run
from tinyllm.data import tinyworld


def test_the_three_program_shapes_of_tinyworld():
    assert run("k = 7; y = k + 9; print y.") == [16]
    assert run("x = 4; z = 5; print x + z.") == [9]
    assert run("n = 0; repeat 3 times: n = n + 4; print n.") == [12]
    assert output("m = 0; repeat 2 times: m = m + 9; print m.") == "18"


def test_every_tinyworld_test_program_prints_its_recorded_output():
    docs = tinyworld.sample(60, seed=3, split="test", kinds=("program",))
    for d in docs:
        source = d.text.split("program:", 1)[1].split("output:", 1)[0]
        assert output(source) == d.fields["output"], d.text


def test_semantics_beyond_the_corpus():
    assert run("a = 5; b = a - 7; print b; print a + a + 1") == [-2, 11]      # minus, several prints
    assert run("x = 1; repeat 3 times: repeat 2 times: x = x + x; print x.") == [64]   # nested
    assert run("x = 3; repeat 0 times: x = 9; print x") == [3]
    assert run("  x=2 ;print   x  .  ") == [2]                                 # free whitespace
    assert parse("print 1") == [("print", [(1, ("num", 1))])]


@pytest.mark.parametrize("source, message", [
    ("print y.", "variable 'y' is used before it is set"),
    ("x = 1; print x", None),
    ("x = ; print x.", "expected a number or a variable at position 4"),
    ("x = 1 print x.", "expected ';' or '.'"),
    ("print = 3.", "expected a number or a variable"),
    ("times = 3.", "'times' is a keyword"),
    ("x = 1; x.", "expected '='"),
    ("x = 1 * 2.", "unexpected character '*' at position 6"),
    ("__import__('os').system('true')", "unexpected character"),
    ("", "the program is empty"),
    ("x = 1;", "expected a statement at the end of the program"),
    ("repeat x times: print 1.", "expected a number at position 7"),
    ("x = 1. print x.", "expected ';' or '.'"),
])
def test_bad_programs_are_clear_program_errors(source, message):
    if message is None:
        assert run(source) == [1]
        return
    with pytest.raises(ProgramError, match=re.escape(message)):
        run(source)


def test_program_error_is_a_value_error_and_non_text_is_a_type_error():
    assert issubclass(ProgramError, ValueError)
    with pytest.raises(TypeError, match="source: expected a str"):
        run(b"print 1")
    with pytest.raises(ValueError, match="max_steps"):
        run("print 1", max_steps=0)


def test_hostile_programs_are_bounded():
    with pytest.raises(ProgramError, match="max_steps=10000"):
        run("x = 0; repeat 999999999 times: x = x + 1; print x.")
    with pytest.raises(ProgramError, match="max_steps=100"):      # nested loops count every step
        run("x = 0; repeat 50 times: repeat 50 times: x = x + 1.", max_steps=100)
    with pytest.raises(ProgramError, match="beyond the limit"):   # doubling overflows the value bound
        run("x = 1; repeat 60 times: x = x + x.")
    with pytest.raises(ProgramError, match="too large"):
        run("print 99999999999999999999.")
    with pytest.raises(ProgramError, match=f"more than the limit of {MAX_SOURCE_CHARS}"):
        run("print 1;" * 2000)
    with pytest.raises(ProgramError, match=f"nested more than {MAX_DEPTH} deep"):
        run("repeat 1 times: " * 200 + "print 1.")
    assert run("print " + "+".join(["1"] * 4000)) == [4000]     # a long sum is a loop, not a recursion
