"""The instruments' statistics on cases where the answer is known: each has a case built to show no effect."""

import numpy as np
import pytest

from personae.llm.axis_tests import axis_tests
from personae.llm.conversation_drift import drift_against_control
from personae.llm.nulls import null_summary
from personae.llm.variance import analytic_within_variance, icc_with_null


def test_null_summary_p_value_is_never_zero():
    assert null_summary(10.0, np.zeros(99))["p_value"] == pytest.approx(0.01)


def test_axis_on_random_activations_is_not_aligned_with_pc1():
    rng = np.random.default_rng(0)
    samples = rng.normal(size=(60, 64))  # 20 roles x 3 replies, no structure at all
    owner = np.repeat(np.arange(20), 3)
    roles = np.stack([samples[owner == g].mean(0) for g in range(20)])
    res = axis_tests(roles, rng.normal(size=64) * 0.3, samples, owner, n_null=200)
    assert res["axis_aligned_with_pc1"] is False
    assert res["random_direction_null"]["p_value"] > 0.05 or res["permuted_label_null"]["p_value"] > 0.05


def test_axis_planted_along_pc1_beats_both_nulls_and_puts_the_default_at_the_end():
    rng = np.random.default_rng(1)
    direction = np.zeros(64)
    direction[0] = 1.0
    role_pos = np.repeat(rng.normal(size=20) * 3, 3)  # roles spread along one direction
    samples = rng.normal(size=(60, 64)) * 0.3 + role_pos[:, None] * direction
    owner = np.repeat(np.arange(20), 3)
    roles = np.stack([samples[owner == g].mean(0) for g in range(20)])
    res = axis_tests(roles, roles.mean(0) + 12 * direction, samples, owner, n_null=200)
    assert res["abs_cos_axis_pc1"] > 0.9 and res["axis_aligned_with_pc1"] is True
    assert res["default_pc1_rank"] == 1.0 and res["default_at_pc1_end"] is True


def test_icc_with_uninformative_persona_labels_reports_no_persona_effect():
    x = np.random.default_rng(2).integers(1, 6, size=(8, 4, 6)).astype(float)  # every persona the same die
    res = icc_with_null(x)
    assert res["interval"]["low"] <= 0 <= res["interval"]["high"]
    assert res["persona_effect"] is False and res["interval"]["unit"] == "personas"


def test_icc_with_personas_that_differ_beats_the_shuffled_label_null():
    rng = np.random.default_rng(3)
    x = np.clip(np.arange(8)[:, None, None] % 5 + 1 + rng.integers(-1, 2, size=(8, 4, 6)), 1, 5).astype(float)
    res = icc_with_null(x)
    assert res["icc1_pooled"] > res["interval"]["null"]["p95"] and res["persona_effect"] is True


def test_analytic_sampling_variance_is_zero_for_certain_answers_and_two_for_a_uniform_die():
    certain = np.zeros((2, 3, 5))
    certain[..., 3] = 1.0
    assert analytic_within_variance(certain) == pytest.approx(0.0)
    assert analytic_within_variance(np.full((2, 3, 5), 0.2)) == pytest.approx(3 * 2.0)  # summed over 3 items


def test_drift_with_controls_drawn_like_the_personas_shows_no_effect_in_most_draws():
    # Persona and paired control drift from the same distribution, and each persona has its own pull shared by
    # its scripts and its controls: the interval over personas carries the control's noise and the persona
    # clustering, so it flags an effect in about 5% of draws, not in half of them.
    rng = np.random.default_rng(4)
    flagged = []
    for _ in range(400):
        pull = rng.normal(size=(6, 1))
        flagged.append(drift_against_control(pull + rng.normal(size=(6, 3)), rng.normal(size=(6, 3))).effect)
    assert np.mean(flagged) <= 0.09


def test_drift_reports_its_unit_and_an_effect_when_personas_drift_more_than_their_controls():
    rng = np.random.default_rng(5)
    res = drift_against_control(rng.normal(2.0, 0.5, size=(4, 3)), rng.normal(0.0, 0.5, size=(4, 3)))
    assert res.effect and res.n_units == 4 and res.unit == "personas"


def test_drift_refuses_one_shared_control_per_script():
    with pytest.raises(ValueError, match="its own control"):
        drift_against_control(np.zeros((4, 3)), np.zeros(3))
