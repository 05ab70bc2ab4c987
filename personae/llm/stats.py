"""Confidence intervals and nulls shared by the LLM instruments.

Every CI here resamples the units that were drawn independently (roles, personas, questions), never the
individual answers within one unit, because answers of one role are not independent of each other.
A CI that includes zero is reported as "no effect" (`effect: False`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from personae.experiment import paired_bootstrap


def mean_ci(per_unit: np.ndarray, seed: int = 0, resamples: int = 2000) -> dict:
    """Mean of one value per unit (e.g. a role's mean shift) with its 95% bootstrap CI over units, and
    `effect`: whether the CI excludes zero."""
    per_unit = np.asarray(per_unit, dtype=np.float64)
    res = paired_bootstrap(per_unit, resamples=resamples, seed=seed)
    return {"mean": res["diff"], "ci95": [res["ci_low"], res["ci_high"]], "n_units": len(per_unit),
            "effect": bool(res["ci_low"] > 0 or res["ci_high"] < 0)}


def group_means(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """(n,) values with (n,) group ids -> (n_groups,) mean per group, in sorted group order."""
    values, groups = np.asarray(values, dtype=np.float64), np.asarray(groups)
    return np.array([values[groups == g].mean() for g in np.unique(groups)])


def bootstrap_units(statistic: Callable[[np.ndarray], float], n_units: int, seed: int = 0,
                    resamples: int = 500) -> list[float]:
    """95% percentile CI of `statistic(indices)` over units resampled with replacement
    (`indices` (n_units,) ints; the statistic picks its own rows)."""
    rng = np.random.default_rng(seed)
    draws = [statistic(rng.integers(0, n_units, n_units)) for _ in range(resamples)]
    draws = [d for d in draws if np.isfinite(d)]
    return np.percentile(draws, [2.5, 97.5]).tolist() if draws else [float("nan"), float("nan")]


def null_summary(observed: float, null: np.ndarray) -> dict:
    """Where an observed statistic falls in a null distribution: the null's mean and 95th percentile, and the
    one-sided p-value P(null >= observed) with the +1 correction (never exactly 0)."""
    null = np.asarray(null, dtype=np.float64)
    return {"observed": float(observed), "null_mean": float(null.mean()), "null_p95": float(np.percentile(null, 95)),
            "p_value": float((1 + (null >= observed).sum()) / (1 + len(null))), "n_null": len(null)}
