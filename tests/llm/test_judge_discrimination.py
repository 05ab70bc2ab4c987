"""The judge's own-vs-mismatched persona difference gets a paired interval over personas."""

import numpy as np

from personae.llm.persona_consistency import discrimination_interval


def _personas(own, mismatched):
    return [{"prompt_to_line": a, "prompt_to_line_mismatched": b} for a, b in zip(own, mismatched)]


def test_judge_that_cannot_tell_personas_apart_shows_no_discrimination():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.3, 0.7, size=(2, 12))  # own and mismatched drawn alike: no effect built in
    iv = discrimination_interval(_personas(scores[0], scores[1]))
    assert iv["low"] <= 0.0 <= iv["high"] and iv["n_units"] == 12 and iv["unit"] == "personas"


def test_judge_that_scores_own_persona_higher_shows_discrimination():
    rng = np.random.default_rng(1)
    mismatched = rng.uniform(0.2, 0.4, size=12)
    iv = discrimination_interval(_personas(mismatched + 0.3 + rng.normal(0, 0.05, 12), mismatched))
    assert iv["low"] > 0.0 and abs(iv["estimate"] - 0.3) < 0.05


def test_personas_without_both_scores_are_left_out_and_one_pair_gives_no_interval():
    assert discrimination_interval(_personas([0.8, None, 0.6], [0.2, 0.3, None])) is None
