import numpy as np
import pytest

from personae.llm.variance import icc1, icc_over_items


def test_icc1_matches_hand_computed_one_way_anova():
    # means 1.5 and 3.5, grand 2.5: MSB = 2 * (1 + 1) / 1 = 4, MSW = (4 * 0.25) / 2 = 0.5
    res = icc1(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert res["msb"] == pytest.approx(4.0)
    assert res["msw"] == pytest.approx(0.5)
    assert res["icc1"] == pytest.approx(3.5 / 4.5)
    assert res["var_between"] == pytest.approx(1.75)


def test_icc1_is_one_when_runs_agree_and_personas_differ():
    assert icc1(np.array([[1.0, 1, 1], [5, 5, 5]]))["icc1"] == pytest.approx(1.0)


def test_icc1_is_negative_when_personas_do_not_differ_at_all():
    # identical persona means, all variance within: MSB = 0 -> ICC = -MSW / ((R-1) MSW) = -1/(R-1)
    assert icc1(np.array([[1.0, 5.0], [5.0, 1.0]]))["icc1"] == pytest.approx(-1.0)


def test_multivariate_icc_sums_sums_of_squares_over_dimensions():
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    stacked = np.stack([x, x], axis=-1)  # (P, R, D=2), same data twice: same ICC
    assert icc1(stacked)["icc1"] == pytest.approx(3.5 / 4.5)
    assert icc1(stacked)["msb"] == pytest.approx(8.0)


def test_icc_rejects_a_single_run():
    with pytest.raises(ValueError, match="at least 2"):
        icc1(np.ones((3, 1)))


def test_icc_over_items_skips_items_with_unparsed_answers_and_flags_the_finding():
    x = np.zeros((2, 2, 3))
    x[:, :, 0] = [[1, 2], [3, 4]]
    x[:, :, 1] = [[1, 5], [5, 1]]
    x[0, 0, 2] = np.nan
    res = icc_over_items(x)
    assert res["items_skipped"] == 1
    assert res["icc1_per_item"] == pytest.approx([3.5 / 4.5, -1.0])
    # pooled: MSB 4 + 0, MSW 0.5 + 8 -> (4 - 8.5) / (4 + 8.5)
    assert res["icc1_pooled"] == pytest.approx(-4.5 / 12.5)
    assert res["run_to_run_ge_cross_persona"] is True
