"""The model as a reader of who speaks (personae.llm.speaker_attribution), on the real SmolLM2-135M-Instruct."""

import numpy as np
import pytest

from personae.llm.assistant_likeness import default_replies
from personae.llm.backends import BackendError
from personae.llm.bank import read_data_json
from personae.llm.speaker_attribution import SpeakerAttribution, validate_reader

pytestmark = pytest.mark.slow

BANK = np.random.default_rng(0).permutation(read_data_json("user_lines.json")["lines"]).tolist()


def test_the_reader_tells_the_models_replies_from_user_lines_and_nothing_from_user_lines_against_user_lines(smol):
    reader = SpeakerAttribution(smol)
    users = BANK[:20]
    told = validate_reader(reader, users, default_replies(smol, users, max_new_tokens=16), "replies")
    assert told["accuracy"]["low"] > 0.5 and told["margin_auc"]["low"] > 0.5, told
    assert told["margin_auc"]["unit"] == "pairs" and told["margin_auc"]["n_units"] == 20
    # No effect by construction: user lines "against" other user lines, labels that mean nothing.
    none = validate_reader(reader, users, BANK[20:40], "control")
    assert none["accuracy"]["low"] <= 0.5 <= none["accuracy"]["high"], none
    assert none["margin_auc"]["low"] <= 0.5 <= none["margin_auc"]["high"], none
    assert set(reader.validation) == {"replies", "control"}
    with pytest.raises(ValueError, match="paired"):
        validate_reader(reader, users, BANK[20:22], "unpaired")


def test_batched_scores_equal_scores_read_one_at_a_time_and_margins_are_read_once(smol):
    prompts = ["A: hello\nB:", "The following is a long text-message conversation between two people.\nB:", "Q:"]
    lines = [" Hi there, how are you doing today?", " Fine.", " What is two plus two, please?"]
    together = smol.continuation_log_likelihood(prompts, lines)
    alone = np.array([smol.continuation_log_likelihood([p], [x])[0] for p, x in zip(prompts, lines)])
    assert together == pytest.approx(alone, abs=1e-3) and (together < 0).all()
    calls = []

    class Counting:
        def continuation_log_likelihood(self, p, c):
            calls.append(len(p))
            return smol.continuation_log_likelihood(p, c)

    reader = SpeakerAttribution(Counting())
    first = reader.margins(["Sure, here is a list:", "my cat is sick"])
    again = reader.margins(["my cat is sick", "Sure, here is a list:"])
    assert calls == [4] and again.tolist() == first[::-1].tolist()  # two lines, two labels each, read once
    with pytest.raises(BackendError, match="empty"):
        smol.continuation_log_likelihood(["Q:"], [""])
