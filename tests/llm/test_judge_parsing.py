import pytest

from personae.llm.backends import match_option
from personae.llm.persona_consistency import parse_judgement


@pytest.mark.parametrize("text,expected", [
    ("YES", 1.0), ("No.", 0.0), ("yes, the line fits", 1.0), ("Answer: NO - it contradicts", 0.0),
    ("It is consistent.", 1.0), ("This is not consistent with the persona", 0.0), ("Inconsistent.", 0.0),
    ("I would give it 7/10", 0.7), ("4 out of 5", 0.8), ("True", 1.0),
])
def test_parse_judgement_reads_common_judge_answers(text, expected):
    assert parse_judgement(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [
    "It isn't consistent.", "It isn\u2019t consistent with the persona.", "No, it isn't.", "It doesn't.",
    "The line doesn't fit the description.", "Not really.", "Not really consistent.", "It's not at all consistent.",
    "They don't agree.", "It is not entirely consistent, 7/10",
])
def test_parse_judgement_reads_negations_as_not_consistent(text):
    assert parse_judgement(text) == 0.0


@pytest.mark.parametrize("text", [
    "Yes, it is consistent.", "It doesn't contradict the description.", "There is no contradiction.",
    "It isn't inconsistent.", "Yes - nothing here isn't in character.",
])
def test_parse_judgement_keeps_consistent_answers_consistent(text):
    assert parse_judgement(text) == 1.0


@pytest.mark.parametrize("text", ["", "Hmm, hard to say.", "12/10 amazing", "I'm not sure.", "I don't know."])
def test_parse_judgement_returns_none_when_nothing_usable(text):
    assert parse_judgement(text) is None


def test_match_option_finds_the_first_option_word():
    assert match_option("I'd say 4, maybe 5", ["1", "2", "3", "4", "5"]) == 3
    assert match_option("no digits here", ["1", "2"]) is None
