"""Where an observed statistic falls in a null distribution the lab drew itself (random directions, permuted
role labels, shuffled turns). Intervals are not computed here: they come from personae.stats."""

from __future__ import annotations

import numpy as np


def null_summary(observed: float, null: np.ndarray) -> dict:
    """The null's mean and 95th percentile, and the one-sided p-value P(null >= observed) with the +1
    correction (never exactly 0)."""
    null = np.asarray(null, dtype=np.float64)
    return {"observed": float(observed), "null_mean": float(null.mean()), "null_p95": float(np.percentile(null, 95)),
            "p_value": float((1 + (null >= observed).sum()) / (1 + len(null))), "n_null": len(null)}
