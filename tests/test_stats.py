"""personae.stats against known answers (scipy, a textbook ICC, Holm by hand) and on data with no effect."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from personae.stats import (
    binomial_interval,
    bootstrap_interval,
    compare_independent,
    compare_paired,
    holm,
    icc1,
    mean_interval,
    share_difference_interval,
    share_interval,
    share_minus_reference_interval,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges. ICC(1) = 0.17, F(5, 18) = 1.79, p = 0.16,
# 95% interval [-0.13, 0.72] (as in their paper and R's psych::ICC).
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])


def test_mean_interval_is_the_t_interval_of_scipy():
    x = np.array([0.3, -1.2, 2.5, 0.8, 1.1])
    result = mean_interval(x, unit="roles")
    low, high = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert (result.low, result.high) == pytest.approx((low, high))
    assert result.p_value == pytest.approx(sps.ttest_1samp(x, 0).pvalue)
    assert (result.n_units, result.unit) == (5, "roles")


def test_mean_interval_refuses_one_unit_and_missing_values():
    with pytest.raises(ValueError, match="at least 2"):
        mean_interval([1.0])
    with pytest.raises(ValueError, match="non-finite"):
        mean_interval([1.0, np.nan, 2.0])


def test_share_interval_has_width_when_every_unit_has_the_same_share():
    result = share_interval(np.full(6, 1 / 8), trials=8, unit="personas")
    assert result.low < 0.125 < result.high and result.high > 0.2  # 1 of 8 per persona does not pin 12.5%
    assert share_interval(np.zeros(6), trials=8).high > 0.0  # none flagged still has an upper bound
    assert "8 lines each" in result.method and result.n_units == 6


def test_share_interval_is_the_plain_t_interval_when_units_really_differ():
    shares = np.array([0.0, 0.5, 1.0, 0.25, 0.75, 0.5])
    low, high = sps.t.interval(0.95, 5, loc=shares.mean(), scale=sps.sem(shares))
    result = share_interval(shares, trials=8)
    assert (result.low, result.high) == pytest.approx((low, high))


def test_share_interval_covers_a_rare_true_share_where_the_plain_t_interval_does_not():
    """The case built to show no effect: lines flagged at random at a true rate of 0.02; the interval should miss
    it about 5% of the time (the plain t interval misses it about 40% of the time at this size)."""
    rng = np.random.default_rng(0)
    shares = rng.binomial(8, 0.02, size=(2000, 6)) / 8
    missed = np.mean([not (r.low <= 0.02 <= r.high) for r in (share_interval(x, 8) for x in shares)])
    plain = np.mean([not (r.low <= 0.02 <= r.high) for r in (mean_interval(x) for x in shares)])
    assert missed <= 0.07 and plain > 0.2


def test_share_interval_refuses_values_that_are_not_shares():
    with pytest.raises(ValueError, match="share_interval"):
        share_interval([0.5, 1.5], trials=4)


def test_share_difference_has_width_when_every_unit_moves_by_the_same_amount():
    plain = compare_paired([0.5, 0.5], [0.75, 0.75], unit="personas", seeded=False)
    result = share_difference_interval([0.5, 0.5], [0.75, 0.75], trials=8, unit="personas")
    assert plain.low == plain.high == -0.25  # the plain paired t: no width, a "certain" effect from 2 personas
    assert result.low < 0 < result.high and result.estimate == -0.25 and result.n_units == 2
    assert share_difference_interval(np.zeros(6), np.zeros(6), trials=8).high > 0  # nothing flagged: still a bound
    assert "8 lines each" in result.method


def test_share_difference_is_the_plain_paired_t_when_units_really_differ():
    a, b = np.array([0.0, 0.5, 1.0, 0.25, 0.75, 0.5]), np.array([0.5, 0.25, 0.0, 0.75, 0.25, 1.0])
    plain = compare_paired(a, b, seeded=False)
    assert (share_difference_interval(a, b, trials=8).low, share_difference_interval(a, b, trials=8).high) == \
        pytest.approx((plain.low, plain.high))


def test_share_difference_is_never_narrower_than_the_paired_t_and_uses_the_normal_quantile_on_its_floor():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a, b = rng.binomial(8, 0.3, size=(2, 6)) / 8
        plain, floored = compare_paired(a, b, seeded=False), share_difference_interval(a, b, trials=8)
        assert floored.high - floored.low >= plain.high - plain.low - 1e-12
        assert floored.p_value >= plain.p_value - 1e-12
    # Every persona's difference the same: the floor alone sets the width, with the normal quantile.
    a, b = np.full(6, 0.5), np.full(6, 0.25)
    adjusted = [(s * 48 + 2) / 52 for s in (0.5, 0.25)]
    se = np.sqrt(sum(p * (1 - p) for p in adjusted) / 8 / 6)
    result = share_difference_interval(a, b, trials=8)
    assert (result.low, result.high) == pytest.approx((0.25 - 1.959964 * se, 0.25 + 1.959964 * se))


def test_share_difference_of_two_conditions_with_the_same_rate_is_rarely_an_effect_and_a_real_one_is_found():
    """The case built to show no effect: both conditions flag lines at the same true rate of 0.05 (6 personas x
    24 lines); the interval excludes zero at most about 5% of the time. A planted difference (0.40 against
    0.10) is found nearly always."""
    rng = np.random.default_rng(1)
    same = [share_difference_interval(*(rng.binomial(24, 0.05, size=(2, 6)) / 24), trials=24) for _ in range(1000)]
    assert np.mean([r.low > 0 or r.high < 0 for r in same]) <= 0.06
    moved = [share_difference_interval(rng.binomial(24, 0.4, 6) / 24, rng.binomial(24, 0.1, 6) / 24, trials=24)
             for _ in range(200)]
    assert np.mean([r.low > 0 for r in moved]) >= 0.9


def test_share_difference_refuses_unpaired_or_non_share_values():
    with pytest.raises(ValueError, match="pair unit by unit"):
        share_difference_interval([0.5, 0.5, 0.5], [0.5, 0.5], trials=4)
    with pytest.raises(ValueError, match="shares must lie"):
        share_difference_interval([0.5, 1.5], [0.5, 0.5], trials=4)


def test_share_minus_reference_with_the_same_rate_is_rarely_an_effect_and_a_real_one_is_found():
    """The case built to show no effect: 6 personas x 24 lines, each persona's true rate drawn around 0.10 (and,
    separately, all at 0.10), against 600 independent reference lines at 0.10; the interval excludes zero at
    most about 5% of the time. A planted gap (0.30 against 0.10) is found nearly always."""
    rng = np.random.default_rng(4)
    for rates in (lambda: np.full(6, 0.1), lambda: rng.beta(2, 18, 6)):
        same = [share_minus_reference_interval(rng.binomial(24, rates()) / 24, 24, rng.random(600) < 0.1)
                for _ in range(1000)]
        assert np.mean([r.low > 0 or r.high < 0 for r in same]) <= 0.06
    moved = [share_minus_reference_interval(rng.binomial(24, 0.3, 6) / 24, 24, rng.random(600) < 0.1)
             for _ in range(200)]
    assert np.mean([r.low > 0 for r in moved]) >= 0.9


def test_share_minus_reference_has_width_and_names_both_sets():
    result = share_minus_reference_interval(np.zeros(6), 8, np.zeros(100, dtype=bool), unit="personas",
                                            reference_unit="real lines")
    assert result.estimate == 0 and result.low < 0 < result.high and result.n_units == 6  # the t is over personas
    assert "100 independent real lines" in result.method and result.unit == "personas"
    with pytest.raises(ValueError, match="reference flags of 0/1"):
        share_minus_reference_interval([0.5, 0.5], 8, [0.5, 1.0])


def test_one_seed_paired_comparison_is_scipys_paired_t_and_says_seed_variance_is_not_measured():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    result = compare_paired(a, b)
    assert result.p_value == pytest.approx(sps.ttest_rel(a, b).pvalue)
    assert result.n_seeds == 1 and "seed variance not measured" in result.note
    assert "over 50 users" in result.describe()


def test_welch_comparison_matches_scipy():
    a, b = np.array([1.0, 2.0, 4.0, 3.5]), np.array([0.5, 0.1, 1.0, 0.7, 0.2, 0.9])
    assert compare_independent(a, b).p_value == pytest.approx(sps.ttest_ind(a, b, equal_var=False).pvalue)


def test_crossed_seeds_interval_matches_the_anova_by_hand():
    diff = np.array([[1.0, 2.0, 3.0], [2.0, 2.5, 5.0]])  # 2 seeds x 3 users
    result = compare_paired(diff, np.zeros_like(diff))
    grand = diff.mean()
    ms_seed = 3 * ((diff.mean(1) - grand) ** 2).sum() / 1
    ms_unit = 2 * ((diff.mean(0) - grand) ** 2).sum() / 2
    resid = diff - diff.mean(1, keepdims=True) - diff.mean(0, keepdims=True) + grand
    ms_res = (resid ** 2).sum() / 2
    combined = ms_seed + ms_unit - ms_res
    df = combined ** 2 / (ms_seed ** 2 / 1 + ms_unit ** 2 / 2 + ms_res ** 2 / 2)
    half = sps.t.ppf(0.975, df) * np.sqrt(combined / 6)
    assert (result.low, result.high) == pytest.approx((grand - half, grand + half))
    assert (result.n_units, result.n_seeds) == (3, 2)


def test_a_seed_shift_that_users_alone_would_call_an_effect_is_no_difference_over_seeds():
    rng = np.random.default_rng(1)
    users = rng.normal(size=2000)
    shift = np.array([[0.15], [-0.1], [0.12]])  # one lucky training run per seed, no system difference
    a = users + shift + rng.normal(0, 0.3, size=(3, 2000))
    b = users + rng.normal(0, 0.3, size=(3, 2000))
    assert compare_paired(a[0], b[0]).effect  # one seed, users only: "an effect"
    assert not compare_paired(a, b).effect  # the seeds' spread is in the interval


def test_identical_systems_give_no_difference_with_a_note_instead_of_a_zero_width_claim():
    x = np.random.default_rng(2).random((3, 100))
    result = compare_paired(x, x.copy())
    assert not result.effect and result.estimate == 0 and "no resolution" in result.note


def test_icc1_of_the_shrout_fleiss_example():
    groups = np.repeat(np.arange(6), 4)
    result = icc1(SHROUT_FLEISS.ravel(), groups, unit="targets", n_null=0)
    assert result.estimate == pytest.approx(0.166, abs=0.002)
    assert result.low == pytest.approx(-0.13, abs=0.01) and result.high == pytest.approx(0.72, abs=0.01)
    assert result.p_value == pytest.approx(0.16, abs=0.01)


def test_icc1_of_groups_that_carry_no_information_sits_inside_its_shuffled_null():
    rng = np.random.default_rng(3)
    values, groups = rng.normal(size=60), np.repeat(np.arange(12), 5)
    result = icc1(values, groups, n_null=200)
    assert result.low < 0 < result.high
    assert result.null["p_value"] > 0.05 and result.null["n"] == 200


def test_icc1_finds_a_planted_group_effect():
    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(10), 5)
    values = rng.normal(size=10)[groups] * 1.5 + rng.normal(size=50)
    result = icc1(values, groups, n_null=50)
    assert result.low > 0 and result.null["p_value"] < 0.05


def test_holm_on_a_known_vector():
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 with running maximum: 0.02, 0.03, 0.06, 0.06
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, 0.02])


def test_holm_keeps_missing_p_values_missing():
    adjusted = holm([0.01, np.nan, 0.02])
    assert np.isnan(adjusted[1]) and adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.02)


def test_bootstrap_refuses_fewer_than_twenty_units():
    with pytest.raises(ValueError, match="too few"):
        bootstrap_interval(lambda idx: float(idx.mean()), 12)


def test_bootstrap_of_an_auc_judges_an_effect_against_one_half_not_zero():
    half = np.random.default_rng(5).normal(size=100)
    scores, labels = np.concatenate([half, half]), np.repeat([0, 1], 100)  # the same scores: AUC exactly 1/2

    def auc(idx: np.ndarray) -> float:
        s, y = scores[idx], labels[idx]
        return float(sps.mannwhitneyu(s[y == 1], s[y == 0]).statistic / ((y == 1).sum() * (y == 0).sum()))

    result = bootstrap_interval(auc, 200, unit="sessions", resamples=300, null_value=0.5)
    assert result.low < 0.5 < result.high and not result.effect


def test_binomial_interval_is_clopper_pearson():
    result = binomial_interval(5, 100)
    expected = sps.binomtest(5, 100).proportion_ci(method="exact")
    assert (result.low, result.high) == pytest.approx((expected.low, expected.high))


def test_benchmark_comparison_keeps_the_contract_keys_and_counts_seeds_and_users():
    from personae.experiment import paired_ndcg

    rng = np.random.default_rng(6)
    per_user = {"a": [rng.random(40) for _ in range(3)], "b": [rng.random(40) for _ in range(3)]}
    entry = paired_ndcg(per_user, "a", "b", "leave-last-out")
    assert {"diff", "ci_low", "ci_high", "p_value", "n_units", "n_seeds", "unit", "method"} <= set(entry)
    assert (entry["n_units"], entry["n_seeds"], entry["unit"]) == (40, 3, "users")
    assert entry["diff"] == pytest.approx(np.mean(per_user["a"]) - np.mean(per_user["b"]))


def test_benchmark_comparison_on_a_random_split_tests_seed_level_means():
    from personae.experiment import paired_ndcg

    rng = np.random.default_rng(7)
    per_user = {"a": [rng.random(n) for n in (40, 40, 40)], "b": [rng.random(n) for n in (40, 40, 40)]}
    entry = paired_ndcg(per_user, "a", "b", "random")  # other users under every seed: no pairing across seeds
    assert entry["n_seeds"] == 3 and "seed-level" in entry["method"]


def test_a_stored_plain_t_interval_of_shares_is_turned_into_the_share_interval_of_the_same_shares():
    """bench/llm_users.py recomputes runs stored with the plain t interval; the recovered variance must give the
    same interval as share_interval on the shares themselves (one spread case, one all-equal case)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "llm_users.py"
    spec = importlib.util.spec_from_file_location("llm_users_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    for shares in (np.array([0.0, 0.5, 1.0, 0.25, 0.75, 0.5]), np.full(6, 1 / 8)):
        stored = {"routes": {"a": {"n_lines": 48, "n_personas": 6,
                                   "assistant_like_share": mean_interval(shares, unit="personas").to_dict()}}}
        got = bench.with_share_intervals(stored)["routes"]["a"]["assistant_like_share"]
        want = share_interval(shares, trials=8, unit="personas")
        assert (got["low"], got["high"]) == pytest.approx((want.low, want.high))
