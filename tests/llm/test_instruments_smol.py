"""The issue-11 instruments end to end on the real SmolLM2-135M-Instruct at tiny sizes, each with a no-effect case."""

import numpy as np
import pytest

from personae.llm.activation_capping import capped, run_capping, steered
from personae.llm.bank import RoleBank, load_conversation_scripts, load_role_bank
from personae.llm.conversation_drift import run_drift
from personae.llm.space import build_persona_space
from personae.llm.variance import sample_ratings

pytestmark = pytest.mark.slow

CONV = [[{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Where do you live?"}]]


@pytest.fixture(scope="module")
def tiny_space(smol):
    bank = load_role_bank()
    space, _ = build_persona_space(smol, bank.subset(3, 1, 2), max_new_tokens=4,
                                   default_questions=bank.questions[:3])
    return space


def test_persona_space_keeps_reply_activations_for_the_permuted_label_null(tiny_space, smol):
    assert tiny_space.role_sample_activations.shape == (6, smol.model.config.hidden_size)
    assert tiny_space.meta["n_default_chats"] == 3
    t = tiny_space.tests(n_null=20)
    assert 0 <= t["abs_cos_axis_pc1"] <= 1 and 0 < t["permuted_label_null"]["p_value"] <= 1


def test_ratings_are_parsed_from_independent_sampled_generations(smol):
    x, unparsed = sample_ratings(smol, ["pirate"] * 3, ["Rate pizza from 1 to 5. Answer with a single digit."],
                                 runs=3, temperature=1.0)
    assert x.shape == (3, 3, 1)
    assert set(np.unique(x[~np.isnan(x)])) <= {1, 2, 3, 4, 5}
    assert len(unparsed) == int(np.isnan(x).sum()) and all(u["reason"] for u in unparsed)
    greedy, _ = sample_ratings(smol, ["pirate"], ["Rate pizza from 1 to 5. Answer with a single digit."], runs=2,
                            temperature=0.0)
    assert np.array_equal(greedy[:, 0], greedy[:, 1], equal_nan=True)  # temperature 0: runs cannot differ


def test_cap_with_tau_below_every_projection_clamps_no_position_and_changes_nothing(smol, tiny_space):
    base = smol.chat(CONV, max_new_tokens=5)
    axes = {i: tiny_space.unit_axis(i) for i in (10, 11)}
    with capped(smol.model, axes, {10: -1e9, 11: -1e9}) as stats:
        same = smol.chat(CONV, max_new_tokens=5)
    assert stats["positions"] > 0 and stats["clamped"] == 0 and same == base
    with steered(smol.model, axes, high={10: 1e9, 11: 1e9}) as stats:  # a ceiling above everything: same
        assert smol.chat(CONV, max_new_tokens=5) == base
    assert stats["clamped"] == 0


def test_cap_chooses_its_percentile_on_calibration_roles_and_reports_the_smallest_detectable_mcq_difference(
        smol, tiny_space):
    bank = load_role_bank()
    probe = RoleBank(bank.roles[:2], bank.questions[-1:])
    calibration = RoleBank(bank.roles[-2:], bank.questions[-2:-1])
    res = run_capping(smol, tiny_space, probe, calibration, percentiles=(25.0, 50.0), max_new_tokens=4, n_mcq=4)
    assert res["percentile"] in (25.0, 50.0) and set(res["calibration"]["roles"]).isdisjoint(res["roles"])
    assert 0 < res["share_positions_clamped"] < 1
    assert res["projection_shift"]["unit"] == "evaluation roles" and res["projection_shift"]["n_units"] == 2
    assert res["mcq_smallest_detectable_difference"] == pytest.approx(6 / 4)  # 4 questions cannot show any cost
    assert res["mcq_accuracy_diff"]["unit"] == "questions"


def test_cap_refuses_calibration_roles_that_the_evaluation_also_uses(smol, tiny_space):
    bank = load_role_bank()
    with pytest.raises(ValueError, match="overlap"):
        run_capping(smol, tiny_space, RoleBank(bank.roles[:2], bank.questions[-1:]),
                    RoleBank(bank.roles[1:3], bank.questions[-2:-1]), max_new_tokens=2, n_mcq=2)


def test_drift_is_reported_against_a_persona_free_control_including_pressure(smol, tiny_space):
    names, scripts = load_conversation_scripts()
    res = run_drift(smol, tiny_space, names[:2], scripts, n_turns=2, n_scripts=1, max_new_tokens=4)
    assert "pressure" in res["by_type"]
    p = res["by_type"]["pressure"]
    assert len(p["control_projection_by_turn"]) == 2 and p["persona_minus_control"]["n_units"] == 2
    assert p["n_control_conversations"] == p["n_conversations"] == 2  # one control per (persona, script) pair
    assert p["persona_minus_control"]["unit"] == "personas"  # each persona's scripts averaged
    assert len(p["per_control_drift"]) == 2 and len(p["per_control_drift"][0]) == 1  # (persona, script)
