"""Resampling for statistics that are not means (an AUC, a ratio), and the tests that go with many rows.

A percentile bootstrap is only trusted from 20 units up: below that it is too narrow (the flaw this module
replaced), so ``bootstrap_interval`` refuses small samples and points to the t interval of ``means``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats as sps

from personae.stats.interval import Interval

MIN_BOOTSTRAP_UNITS = 20


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_units: int, unit: str = "units",
                       resamples: int = 1000, seed: int = 0, level: float = 0.95, null_value: float = 0.0,
                       estimate: float | None = None) -> Interval:
    """Percentile bootstrap of ``statistic(indices)`` over units drawn with replacement.

    ``statistic`` takes (n_units,) integer indices of units and picks its own rows (so a statistic over events
    resamples whole users, never single events). ``null_value`` is what "no effect" means for the statistic
    (0.5 for an AUC); the p-value is twice the share of draws on the far side of it."""
    if n_units < MIN_BOOTSTRAP_UNITS:
        raise ValueError(f"bootstrap_interval: {n_units} {unit} is too few for a bootstrap "
                         f"(needs >= {MIN_BOOTSTRAP_UNITS}); use mean_interval / compare_paired (t intervals)")
    rng = np.random.default_rng(seed)
    point = float(statistic(np.arange(n_units))) if estimate is None else float(estimate)
    draws = np.array([statistic(rng.integers(0, n_units, n_units)) for _ in range(resamples)], dtype=np.float64)
    draws = draws[np.isfinite(draws)]
    if len(draws) == 0:
        return Interval(point, float("nan"), float("nan"), float("nan"), n_units, 1, unit,
                        f"percentile bootstrap over {n_units} {unit}", "no finite resample", reference=null_value)
    low, high = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    p = float(min(1.0, 2 * min((draws <= null_value).mean(), (draws >= null_value).mean()) + 1 / (len(draws) + 1)))
    return Interval(point, float(low), float(high), p, n_units, 1, unit,
                    f"percentile bootstrap over {n_units} {unit}, {len(draws)} resamples", reference=null_value)


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error at the nominal level), same order as given; NaN stays."""
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full_like(p, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        out[idx] = running
    return out


def binomial_interval(successes: int, trials: int, unit: str = "data sets", level: float = 0.95) -> Interval:
    """A rate with its exact (Clopper-Pearson) interval; the p-value tests the rate against 0.05, the nominal
    false-positive rate, one-sided (is it above?)."""
    if trials < 1:
        raise ValueError("binomial_interval: no trials")
    alpha = 1 - level
    low = 0.0 if successes == 0 else float(sps.beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(sps.beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    p = float(sps.binomtest(successes, trials, 0.05, alternative="greater").pvalue)
    return Interval(successes / trials, low, high, p, trials, 1, unit, f"Clopper-Pearson over {trials} {unit}")
