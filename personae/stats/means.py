"""Intervals for means and differences of means: one unit, paired units, paired units over training seeds.

Why t intervals and not a percentile bootstrap: a percentile bootstrap over 3-4 units flags pure noise as an
effect 21-28% of the time (it ignores that the spread itself is estimated from 3 numbers). The t interval is
exact for normal units at any n >= 2 and asymptotically right for any units with a finite variance, which
bench/calibration.py checks on data shaped like every figure the project reports.

Training seeds: two trained systems compared on the same users differ by a per-user part (which users gain)
and a per-seed part (how lucky each training run was). Resampling users alone treats the seed part as fixed
and so claims effects that are seed noise. ``compare_paired`` on (n_seeds, n_units) fits the crossed
seeds x units random-effects model, d[s, u] = mu + seed_s + user_u + e_su, estimates the variance of the grand
mean from the two-way ANOVA mean squares,
    Var(mean) = (MS_seed + MS_unit - MS_residual) / (S * N),
and uses a t interval with Satterthwaite's degrees of freedom, so that with 3 seeds and a large seed part the
interval widens to what 3 seeds can show.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from personae.stats.interval import Interval

SEED_NOTE = "one training seed: seed variance not measured"


def mean_interval(x: Sequence[float] | np.ndarray, unit: str = "units", level: float = 0.95) -> Interval:
    """Mean of one value per independent unit with its t interval and two-sided p-value against 0.

    x: (n_units,), n >= 2. NaN is refused: drop those units first and say so where the figure is printed."""
    x = _finite_1d(x, "mean_interval")
    n = len(x)
    return _t_interval(float(x.mean()), float(x.std(ddof=1) / np.sqrt(n)), n - 1, level, n_units=n, n_seeds=1,
                       unit=unit, method=f"t interval over {n} {unit}")


def share_interval(shares: Sequence[float] | np.ndarray, trials: int, unit: str = "units", level: float = 0.95,
                   reference: float = 0.0) -> Interval:
    """Mean of per-unit shares (k_i / trials, e.g. the share of a persona's lines flagged) with a t interval whose
    variance is never below what ``trials`` coin flips per unit would give.

    Why: a rare event over few lines per unit often gives every unit the same share (each persona 1 of 8), and
    the plain t interval then has no width, or is far too narrow; at a true share of 0.02 over 6 units x 8 lines
    it covers 61% instead of 95% (tests/test_stats.py; bench/calibration.py has the rows at 0.05 and 0.10). The
    floor is the binomial variance p(1 - p) / trials at the Agresti-Coull adjusted share p = (K + 2) / (N + 4),
    K flagged of all N lines, so that a share of 0 still gets an upper bound; the between-unit variance is used
    when it is larger (lines within a unit are not independent). Conservative at rare rates (a t quantile on a
    floor that is in effect known). The interval is clipped to [0, 1]; the p-value tests the mean against
    ``reference``."""
    x = _finite_1d(shares, "share_interval")
    if ((x < 0) | (x > 1)).any():
        raise ValueError("share_interval: shares must lie in [0, 1]")
    return share_interval_from_moments(float(x.mean()), float(x.var(ddof=1)), len(x), trials, unit, level, reference)


def share_interval_from_moments(mean: float, variance: float, n_units: int, trials: int, unit: str = "units",
                                level: float = 0.95, reference: float = 0.0) -> Interval:
    """share_interval from the mean and sample variance (ddof=1) of the per-unit shares: for stored results that
    kept only a mean and its plain t interval (the variance is recoverable from its half-width)."""
    if trials < 1 or n_units < 2 or not 0.0 <= mean <= 1.0 or not variance >= 0.0:
        raise ValueError(f"share_interval: need a mean share in [0, 1] over >= 2 units and trials >= 1, got "
                         f"mean={mean}, variance={variance}, n_units={n_units}, trials={trials}")
    adjusted = _adjusted_share(mean, n_units * trials)
    se = float(np.sqrt(max(variance, adjusted * (1 - adjusted) / trials) / n_units))
    half = float(sps.t.ppf(0.5 + level / 2, n_units - 1)) * se
    p = float(2 * sps.t.sf(abs(mean - reference) / se, n_units - 1))
    return Interval(mean, max(0.0, mean - half), min(1.0, mean + half), p, n_units, 1, unit,
                    f"t over {n_units} {unit}, {trials} lines each, variance at least binomial", reference=reference)


def share_difference_interval(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, trials: int,
                              unit: str = "units", level: float = 0.95) -> Interval:
    """Mean of per-unit share differences a - b (two conditions on the same units, ``trials`` lines per unit in
    each): the wider of the plain paired t interval and a normal interval on a binomial variance floor.

    Why: as with ``share_interval``, a few units whose shares all move by the same amount (two personas each
    losing 2 of 8 flagged lines) give the plain paired t interval no width, which reads as a certain effect.
    The floor is the variance of a difference of two binomial shares, p_a(1 - p_a) / trials + p_b(1 - p_b) /
    trials, each p the Agresti-Coull adjusted share of its condition. The per-unit part cancels in a paired
    difference, so the floor is in effect a known variance and takes the normal quantile (a t quantile on it
    is far too conservative where it binds). Taking the wider of the two intervals, and the larger of the two
    p-values, means this is never narrower than the paired t it replaces. The interval is clipped to [-1, 1];
    the p-value tests the difference against 0."""
    x, y = _finite_1d(a, "share_difference_interval"), _finite_1d(b, "share_difference_interval")
    if x.shape != y.shape:
        raise ValueError(f"share_difference_interval: a and b must pair unit by unit, got {len(x)} and {len(y)}")
    if ((x < 0) | (x > 1) | (y < 0) | (y > 1)).any():
        raise ValueError("share_difference_interval: shares must lie in [0, 1]")
    if trials < 1:
        raise ValueError(f"share_difference_interval: trials must be >= 1, got {trials}")
    n = len(x)
    adjusted = [_adjusted_share(float(s.mean()), n * trials) for s in (x, y)]
    floor_se = float(np.sqrt(sum(p * (1 - p) for p in adjusted) / trials / n))
    diff = x - y
    estimate = float(diff.mean())
    plain_se = float(diff.std(ddof=1) / np.sqrt(n))
    quantile = 0.5 + level / 2
    half = max(float(sps.t.ppf(quantile, n - 1)) * plain_se, float(sps.norm.ppf(quantile)) * floor_se)
    plain_p = float(2 * sps.t.sf(abs(estimate) / plain_se, n - 1)) if plain_se > 0 else float(estimate == 0)
    p_value = max(plain_p, float(2 * sps.norm.sf(abs(estimate) / floor_se)))
    return Interval(estimate, max(-1.0, estimate - half), min(1.0, estimate + half), p_value, n, 1, unit,
                    f"paired over {n} {unit}, {trials} lines each: the wider of the paired t and a normal interval "
                    "on the binomial variance")


def share_minus_reference_interval(shares: Sequence[float] | np.ndarray, trials: int, reference_flags: Sequence[bool]
                                   | np.ndarray, unit: str = "units", reference_unit: str = "lines",
                                   level: float = 0.95) -> Interval:
    """Mean of per-unit shares (as in ``share_interval``: k_i / trials, the variance floored at binomial) minus
    the share of an independent reference set of single lines (0/1 flags, each line its own unit, e.g. real
    people's lines read by the same classifier).

    Why: "a route flags 13% of turns" only means something beside what the same reading gives on real lines,
    and the two carry different noise: the route's lines cluster within personas, the reference lines are
    independent. The variances add; the t quantile takes the route side's degrees of freedom (units - 1),
    which is conservative where the reference set is large. The p-value tests the difference against 0."""
    x = _finite_1d(shares, "share_minus_reference_interval")
    ref = np.asarray(reference_flags, dtype=np.float64).reshape(-1)
    if ((x < 0) | (x > 1)).any() or len(ref) < 2 or not np.isin(ref, (0.0, 1.0)).all() or trials < 1:
        raise ValueError(f"share_minus_reference_interval: need shares in [0, 1], trials >= 1 and >= 2 reference "
                         f"flags of 0/1, got {len(x)} shares, trials={trials}, {len(ref)} reference flags")
    n, m = len(x), len(ref)
    adjusted = _adjusted_share(float(x.mean()), n * trials)
    route_var = max(float(x.var(ddof=1)), adjusted * (1 - adjusted) / trials) / n
    ref_adjusted = _adjusted_share(float(ref.mean()), m)
    se = float(np.sqrt(route_var + ref_adjusted * (1 - ref_adjusted) / m))
    estimate = float(x.mean() - ref.mean())
    half = float(sps.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * sps.t.sf(abs(estimate) / se, n - 1))
    return Interval(estimate, max(-1.0, estimate - half), min(1.0, estimate + half), p, n, 1, unit,
                    f"t over {n} {unit} ({trials} lines each, variance at least binomial) minus a share over {m} "
                    f"independent {reference_unit}")


def compare_paired(a: np.ndarray | Sequence, b: np.ndarray | Sequence, unit: str = "users",
                   level: float = 0.95, seeded: bool = True) -> Interval:
    """a - b for two systems measured on the same units.

    a, b: (n_units,) for one seed, or (n_seeds, n_units) with seed s of a paired with seed s of b. When the
    seeds see different units (a random split), pass lists of per-seed arrays: the test then runs on the
    seed-level mean differences. ``seeded``: whether the systems depend on a training seed at all (an LLM
    prompt does not); only then does one seed carry the "seed variance not measured" note."""
    if _is_ragged(a) or _is_ragged(b):
        return _compare_ragged(a, b, unit, level)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"compare_paired: a and b must pair unit by unit, got shapes {a.shape} and {b.shape}")
    diff = a - b
    if diff.ndim == 2 and diff.shape[0] == 1:
        diff = diff[0]
    if diff.ndim == 1:
        d = _finite_1d(diff, "compare_paired")
        n = len(d)
        return _t_interval(float(d.mean()), float(d.std(ddof=1) / np.sqrt(n)), n - 1, level, n_units=n,
                           n_seeds=1, unit=unit, method=f"paired t over {n} {unit}",
                           note=SEED_NOTE if seeded else "")
    if diff.ndim != 2:
        raise ValueError(f"compare_paired: expected (n_units,) or (n_seeds, n_units), got shape {diff.shape}")
    if not np.isfinite(diff).all():
        raise ValueError("compare_paired: non-finite values; drop those units from every seed first")
    return _crossed_seeds_units(diff, unit, level)


def compare_independent(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, unit: str = "units",
                        level: float = 0.95) -> Interval:
    """mean(a) - mean(b) for two independent groups of units (Welch's t, unequal variances)."""
    a, b = _finite_1d(a, "compare_independent"), _finite_1d(b, "compare_independent")
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = float(np.sqrt(va + vb))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb > 0 else len(a) + len(b) - 2
    return _t_interval(float(a.mean() - b.mean()), se, float(df), level, n_units=len(a) + len(b), n_seeds=1,
                       unit=unit, method=f"Welch t, {len(a)} vs {len(b)} {unit}")


def _crossed_seeds_units(diff: np.ndarray, unit: str, level: float) -> Interval:
    s, n = diff.shape
    if n < 2:
        raise ValueError("compare_paired: need at least 2 units per seed")
    grand = diff.mean()
    seed_means, unit_means = diff.mean(1), diff.mean(0)
    ms_seed = n * ((seed_means - grand) ** 2).sum() / (s - 1)
    ms_unit = s * ((unit_means - grand) ** 2).sum() / (n - 1)
    resid = diff - seed_means[:, None] - unit_means[None, :] + grand
    df_res = (s - 1) * (n - 1)
    ms_res = (resid ** 2).sum() / df_res
    # Var(grand mean) * S * N; never below the pure-noise part (the moment estimate can dip under it by chance).
    combined = max(ms_seed + ms_unit - ms_res, ms_res)
    terms = ms_seed ** 2 / (s - 1) + ms_unit ** 2 / (n - 1) + ms_res ** 2 / df_res
    df = combined ** 2 / terms if terms > 0 else float(df_res)
    se = float(np.sqrt(combined / (s * n)))
    return _t_interval(float(grand), se, float(df), level, n_units=n, n_seeds=s, unit=unit,
                       method=f"crossed seeds x {unit} t (Satterthwaite df {df:.1f})")


def _compare_ragged(a: Sequence, b: Sequence, unit: str, level: float) -> Interval:
    if len(a) != len(b):
        raise ValueError(f"compare_paired: {len(a)} seeds against {len(b)}")
    seed_diffs = []
    for s, (x, y) in enumerate(zip(a, b)):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.shape != y.shape:
            raise ValueError(f"compare_paired: seed {s} pairs {x.shape} with {y.shape}")
        seed_diffs.append((x - y).mean())
    d = np.asarray(seed_diffs)
    units = int(np.mean([len(x) for x in a]))
    if len(d) < 2:
        raise ValueError("compare_paired: different units per seed need at least 2 seeds")
    return _t_interval(float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d))), len(d) - 1, level,
                       n_units=units, n_seeds=len(d), unit=unit,
                       method=f"t over {len(d)} seed-level mean differences (about {units} {unit} each)")


def _adjusted_share(mean: float, lines: int) -> float:
    """The Agresti-Coull adjusted share (K + 2) / (N + 4) of K = mean * N flagged lines: never 0 or 1, so the
    binomial variance floor built on it has width even when nothing (or everything) was flagged."""
    return (mean * lines + 2) / (lines + 4)


def _t_interval(estimate: float, se: float, df: float, level: float, *, n_units: int, n_seeds: int, unit: str,
                method: str, note: str = "") -> Interval:
    if se == 0.0:
        # Every unit gave the same value: the data cannot resolve any difference; say so instead of [x, x].
        note = "; ".join(filter(None, [note, "no variation between units: the interval has no resolution"]))
        return Interval(estimate, estimate, estimate, 1.0 if estimate == 0 else 0.0, n_units, n_seeds, unit,
                        method, note)
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    p = float(2 * sps.t.sf(abs(estimate) / se, df))
    return Interval(estimate, estimate - half, estimate + half, p, n_units, n_seeds, unit, method, note)


def _finite_1d(x, where: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    if len(x) < 2:
        raise ValueError(f"{where}: need at least 2 units, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError(f"{where}: {int((~np.isfinite(x)).sum())} non-finite values; drop those units first")
    return x


def _is_ragged(x) -> bool:
    if isinstance(x, np.ndarray):
        return x.dtype == object
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple, np.ndarray)):
        return len({len(row) for row in x}) > 1
    return False
