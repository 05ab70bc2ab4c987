"""The n-gram judge (personae.llm.ngram_judge) on real lines: it learns a real assistant's register, it finds
nothing where both classes are real users (the case built to show no effect), and its vocabulary comes from
its training lines alone."""

from __future__ import annotations

import pytest

from personae.errors import DataError
from personae.llm.assistant_likeness import split_lines
from personae.llm.ngram_judge import train_ngram_judge
from personae.llm.real_lines import real_judge, real_user_lines, real_user_reply_pairs


def test_two_sets_of_real_users_cannot_be_told_apart():
    """No effect by construction: 'replies' that are other real users' lines."""
    lines = real_user_lines("sharegpt", 400, seed=5)
    judge = train_ngram_judge(lines[:200], lines[200:], n_null=5, seed=0)
    accuracy = judge.validation["heldout_accuracy"]
    assert accuracy["low"] < 0.5 < accuracy["high"] and not judge.validation["beats_chance"]


def test_real_users_against_chatgpt_are_told_apart_with_a_vocabulary_of_training_lines_only():
    users, replies = real_user_reply_pairs(300, seed=0)
    judge = train_ngram_judge(users, replies, n_null=5, seed=0)
    assert judge.validation["heldout_accuracy"]["low"] > judge.validation["shuffled_label_accuracy_max"]
    train, held = split_lines(len(users), seed=0)
    terms = judge.vectorizers[0].build_analyzer()  # the judge's own words and word pairs
    seen = {t for i in train for text in (users[i], replies[i]) for t in terms(text)}
    only_held = {t for i in held for t in terms(users[i])} - seen
    assert len(only_held) > 50 and not only_held & set(judge.vectorizers[0].vocabulary_)
    assert judge.probability([]).shape == (0,)


def test_an_unknown_kind_of_judge_is_refused_by_name():
    with pytest.raises(DataError, match="unknown judge features 'bag' \\(known: minilm, ngrams\\)"):
        real_judge(20, features="bag")
