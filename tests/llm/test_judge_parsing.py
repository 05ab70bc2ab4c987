import pytest

from personae.llm.backends import match_option
from personae.llm.consistency import parse_judgement


@pytest.mark.parametrize("text,expected", [
    ("YES", 1.0), ("No.", 0.0), ("yes, the line fits", 1.0), ("Answer: NO - it contradicts", 0.0),
    ("It is consistent.", 1.0), ("This is not consistent with the persona", 0.0), ("Inconsistent.", 0.0),
    ("I would give it 7/10", 0.7), ("4 out of 5", 0.8), ("True", 1.0),
])
def test_parse_judgement_reads_common_judge_answers(text, expected):
    assert parse_judgement(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "Hmm, hard to say.", "12/10 amazing"])
def test_parse_judgement_returns_none_when_nothing_usable(text):
    assert parse_judgement(text) is None


def test_match_option_finds_the_first_option_word():
    assert match_option("I'd say 4, maybe 5", ["1", "2", "3", "4", "5"]) == 3
    assert match_option("no digits here", ["1", "2"]) is None
