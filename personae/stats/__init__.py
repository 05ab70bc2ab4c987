"""personae.stats: the one place where intervals and tests are computed.

Every figure personae reports goes through these functions, so that every interval names its unit and count,
accounts for training seeds where systems were trained, and is calibrated: bench/calibration.py measures each
instrument's false-positive rate on data built to have no effect.

    compare_paired(a, b)      two systems on the same units (and seeds) -> Interval of a - b
    compare_independent(a, b) two independent groups -> Interval of mean(a) - mean(b)
    mean_interval(x)          one value per unit -> Interval of the mean (t; any n >= 2)
    share_interval(x, trials) per-unit shares of k / trials -> Interval of the mean share (never zero-width)
    share_difference_interval(a, b, trials) paired per-unit shares -> Interval of a - b (never zero-width)
    share_minus_reference_interval(x, trials, flags) per-unit shares minus an independent set of 0/1 lines
    icc1(values, groups)      ICC(1) with its F interval and the shuffled-label null
    holm(p_values)            Holm-adjusted p-values for tables of many rows
    bootstrap_interval(...)   a non-mean statistic over >= 20 units, resampling whole units
    binomial_interval(k, n)   a rate with its exact interval (false-positive rates)
"""

from personae.stats.icc import icc1, icc_value, shuffled_label_null
from personae.stats.interval import Interval
from personae.stats.means import (
    compare_independent,
    compare_paired,
    mean_interval,
    share_difference_interval,
    share_interval,
    share_interval_from_moments,
    share_minus_reference_interval,
)
from personae.stats.resampling import binomial_interval, bootstrap_interval, holm

__all__ = ["Interval", "binomial_interval", "bootstrap_interval", "compare_independent", "compare_paired",
           "holm", "icc1", "icc_value", "mean_interval", "share_difference_interval", "share_interval",
           "share_interval_from_moments", "share_minus_reference_interval", "shuffled_label_null"]
