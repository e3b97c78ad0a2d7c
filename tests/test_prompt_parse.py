"""Result parsing (§3.2 step 4): parse_answer and parse_fields on hand examples and hostile inputs."""

import pytest

from tinyllm.prompt.parse import answer_segment, parse_answer, parse_fields

CITIES = ["Fennick", "Tolmar", "Glenhollow"]


@pytest.mark.parametrize("text, expected", [
    (" Fennick. question: where does Ben live? answer: Tolmar.", "Fennick"),   # runs on past the answer
    ("fennick", "Fennick"),                                                    # case-insensitive
    ("answer: TOLMAR .", "Tolmar"),                                            # a label, tokenised spacing
    ("\n\n  Glenhollow\nTolmar", "Glenhollow"),                                # first non-empty line
    ("Fennick is where she lives", "Fennick"),                                 # begins with a choice
    ("'Tolmar'", "Tolmar"),                                                    # quotes
    ("Fennickville", None),                                                    # not a whole word
    ("Paris", None),
    ("", None),
    ("   \n  ", None),
    ("the answer is Tolmar", None),                                            # not guessed from inside
])
def test_parse_answer_with_choices(text, expected):
    assert parse_answer(text, choices=CITIES) == expected


def test_longest_choice_wins_and_choice_is_returned_as_given():
    choices = ["I would watch it again", "I", "a total mess"]
    assert parse_answer("I would watch it again. review: ...", choices) == "I would watch it again"
    assert parse_answer("a  TOTAL mess!", choices) == "a total mess"
    assert parse_answer(" 7", choices=[3, 7]) == 7                               # non-str choices


@pytest.mark.parametrize("text, typ, expected", [
    ("12", int, 12),
    (" 12 . math: 3 + 4 = 7.", int, 12),
    ("answer: 27", int, 27),
    ("3.5", float, 3.5),                      # a decimal point is not a sentence end
    ("12 apples", int, 12),                   # then the first word
    ("twelve", int, None),
    ("1e999", float, float("inf")),
    ("yes", bool, True),
    ("No.", bool, False),
    ("maybe", bool, None),
    ("  Fennick  Tolmar ", str, "Fennick Tolmar"),
    ("", int, None),
])
def test_parse_answer_with_type(text, typ, expected):
    assert parse_answer(text, type=typ) == expected


def test_parse_answer_bad_arguments():
    with pytest.raises(TypeError, match="text"):
        parse_answer(None)
    with pytest.raises(TypeError, match="text"):
        parse_answer(b"Fennick")
    with pytest.raises(TypeError, match="choices"):
        parse_answer("x", choices="Fennick")            # a string is not a list of choices
    with pytest.raises(ValueError, match="empty list"):
        parse_answer("x", choices=[])
    with pytest.raises(ValueError, match="same answer"):
        parse_answer("x", choices=["Yes", "yes"])
    with pytest.raises(ValueError, match="empty"):
        parse_answer("x", choices=["a", "  "])
    with pytest.raises(TypeError, match="type"):
        parse_answer("x", type="int")


def test_answer_segment():
    assert answer_segment("A: great movie! bad ending.") == "great movie"
    assert answer_segment("x" * 10_000 + ". y") == "x" * 10_000             # long input, no blow-up


PATTERN = "{giver} gave {recipient} a {object}."


@pytest.mark.parametrize("text, expected", [
    ("Anna gave Ben a cup.", {"giver": "Anna", "recipient": "Ben", "object": "cup"}),
    ("Anna gave Ben a cup .", {"giver": "Anna", "recipient": "Ben", "object": "cup"}),      # tokenised
    ("  Anna   gave\tBen a  cup . summary: more", {"giver": "Anna", "recipient": "Ben", "object": "cup"}),
    ("The Old Queen gave Sir Ben a golden cup.", {"giver": "The Old Queen", "recipient": "Sir Ben",
                                                  "object": "golden cup"}),
    ("Anna gave Ben a cup", None),                 # the final '.' is part of the pattern
    ("Anna GAVE Ben a cup.", None),                # literal parts match exactly
    ("Anna gave Ben an owl.", None),
    ("Anna gave  a cup.", None),                   # an empty field
    ("gave Ben a cup.", None),
    ("", None),
])
def test_parse_fields(text, expected):
    assert parse_fields(text, PATTERN) == expected


def test_parse_fields_more_patterns():
    assert parse_fields("output: 27.", "output: {value}.") == {"value": "27"}
    assert parse_fields("x = 3 ; y = 4", "x = {x} ; y = {y}") == {"x": "3", "y": "4"}   # last field to line end
    assert parse_fields("set {a} to 5", "set {{a}} to {v}") == {"v": "5"}                 # literal braces
    assert parse_fields("a.b", "{x}.{y}") == {"x": "a", "y": "b"}
    assert parse_fields("line one\nAnna gave Ben a cup.", PATTERN)["giver"] == "Anna"      # never across lines
    assert parse_fields("(a+b)*c", "({x}+{y})*{z}") == {"x": "a", "y": "b", "z": "c"}     # regex characters


@pytest.mark.parametrize("pattern, message", [
    ("no fields here", "no {field}"),
    ("{a}{b}", "touch"),
    ("{a} and {a}", "twice"),
    ("{a:>3} x", "format spec"),
    ("{a!r} x", "format spec"),
    ("{0} x", "plain name"),
    ("{} x", "plain name"),
    ("{a x", "brace"),
    ("a} x {b}", "brace"),
])
def test_parse_fields_bad_patterns(pattern, message):
    with pytest.raises(ValueError, match=message):
        parse_fields("anything", pattern)


def test_parse_fields_bad_types():
    with pytest.raises(TypeError, match="pattern"):
        parse_fields("x", None)
    with pytest.raises(TypeError, match="text"):
        parse_fields(3, PATTERN)
