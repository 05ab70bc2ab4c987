"""ICC(1): how much of the variance lies between groups (personas, users) rather than within them (runs).

One-way random effects (Shrout & Fleiss 1979, case 1) from the one-way ANOVA with groups as the factor:
    MSB = sum_g n_g ||mean_g - grand||^2 / (k - 1),   MSW = sum ||x - mean_g||^2 / (N - k)
    ICC(1) = (MSB - MSW) / (MSB + (n0 - 1) MSW),      n0 = (N - sum_g n_g^2 / N) / (k - 1)
The interval inverts F = MSB / MSW, which is F(k - 1, N - k) distributed times a known factor. For values with
D dimensions (embeddings, or the items of a questionnaire pooled) the sums of squares add over dimensions;
the F reference then uses degrees of freedom scaled by the effective number of dimensions (the participation
ratio of the within-group covariance), an approximation the method string names. Beside it always: the
shuffled-label null, the ICC that group labels carrying no information give at exactly these sizes.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

from personae.stats.interval import Interval


def anova_mean_squares(values: np.ndarray, groups: np.ndarray) -> tuple[float, float, float, int, int]:
    """values (n,) or (n, D), groups (n,) -> (MSB, MSW, n0, k, N), sums of squares added over D."""
    x = np.asarray(values, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x.reshape(len(x), -1)
    labels, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    k, n = len(labels), len(x)
    if k < 2 or n - k < 1:
        raise ValueError(f"ICC needs at least 2 groups and a group with 2 or more values, got {k} groups of {n}")
    if not np.isfinite(x).all():
        raise ValueError("ICC input has non-finite values (unparsed answers?): drop them first")
    sums = np.zeros((k, x.shape[1]))
    np.add.at(sums, inverse, x)
    means = sums / counts[:, None]
    grand = x.mean(0)
    msb = float((counts[:, None] * (means - grand) ** 2).sum() / (k - 1))
    msw = float(((x - means[inverse]) ** 2).sum() / (n - k))
    n0 = float((n - (counts ** 2).sum() / n) / (k - 1))
    return msb, msw, n0, k, n


def icc_value(values: np.ndarray, groups: np.ndarray) -> float:
    """ICC(1) alone (NaN when there is no variance at all)."""
    msb, msw, n0, _, _ = anova_mean_squares(values, groups)
    denom = msb + (n0 - 1) * msw
    return (msb - msw) / denom if denom > 0 else float("nan")


def icc1(values: np.ndarray, groups: np.ndarray, unit: str = "groups", level: float = 0.95, n_null: int = 200,
         seed: int = 0) -> Interval:
    """ICC(1) with its F-based interval, the F test's p-value (ICC > 0) and, in ``.null``, the shuffled-label
    null: ``{"mean", "p95", "p_value", "n"}`` where p_value = P(null ICC >= observed) with the +1 correction."""
    values, groups = np.asarray(values), np.asarray(groups)
    if len(values) != len(groups):
        raise ValueError(f"icc1: {len(values)} values but {len(groups)} group labels")
    msb, msw, n0, k, n = anova_mean_squares(values, groups)
    estimate = icc_value(values, groups)
    dims = 1.0 if values.ndim == 1 else _effective_dimensions(values, groups)
    df1, df2 = dims * (k - 1), dims * (n - k)
    null = shuffled_label_null(values, groups, n_null, seed, estimate) if n_null else None
    method = f"F interval (Shrout & Fleiss), {k} {unit} of {n0:.1f} values"
    if values.ndim > 1:
        method += f", {np.asarray(values).reshape(len(values), -1).shape[1]} dims pooled (effective {dims:.1f})"
    if msw == 0 or not np.isfinite(estimate):
        return Interval(estimate, float("nan"), float("nan"), float("nan"), k, 1, unit, method,
                        "no within-group variance: the F interval is undefined", null)
    f = msb / msw
    alpha = 1 - level
    f_low = f / sps.f.ppf(1 - alpha / 2, df1, df2)
    f_high = f * sps.f.ppf(1 - alpha / 2, df2, df1)
    low = (f_low - 1) / (f_low + n0 - 1)
    high = (f_high - 1) / (f_high + n0 - 1)
    p = float(sps.f.sf(f, df1, df2))
    return Interval(float(estimate), float(low), float(high), p, k, 1, unit, method, "", null)


def shuffled_label_null(values: np.ndarray, groups: np.ndarray, n: int = 200, seed: int = 0,
                        observed: float | None = None) -> dict:
    """ICC(1) after permuting the group labels ``n`` times (group sizes kept)."""
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    draws = np.array([icc_value(values, rng.permutation(groups)) for _ in range(n)])
    draws = draws[np.isfinite(draws)]
    out = {"mean": float(draws.mean()) if len(draws) else float("nan"),
           "p95": float(np.quantile(draws, 0.95)) if len(draws) else float("nan"), "n": len(draws)}
    if observed is not None and np.isfinite(observed):
        out["p_value"] = float((1 + (draws >= observed).sum()) / (1 + len(draws)))
    return out


def _effective_dimensions(values: np.ndarray, groups: np.ndarray) -> float:
    """Participation ratio (sum lambda)^2 / sum lambda^2 of the within-group covariance: how many independent
    dimensions the pooled sums of squares really hold (1 for perfectly correlated columns, D for independent
    equal ones)."""
    x = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    _, inverse = np.unique(np.asarray(groups), return_inverse=True)
    sums = np.zeros((inverse.max() + 1, x.shape[1]))
    np.add.at(sums, inverse, x)
    counts = np.bincount(inverse)[:, None]
    resid = x - (sums / counts)[inverse]
    gram = resid @ resid.T if resid.shape[1] > resid.shape[0] else resid.T @ resid
    eig = np.clip(np.linalg.eigvalsh(gram), 0, None)
    return float(eig.sum() ** 2 / (eig ** 2).sum()) if (eig ** 2).sum() > 0 else 1.0
