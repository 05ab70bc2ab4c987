"""Benchmarks: every model x seed on one split, with seed means and paired, seed-aware comparisons.

Runs of one model live in :mod:`personae.runs`, option parsing in :mod:`personae.models.options`, the JSON
writer in :mod:`personae.files`. The names imported from them here are re-exported for the bench scripts that
still import them from this module (``__all__``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from personae.data.sources import DataSource, load_source
from personae.data.splits import make_split
from personae.files import write_json
from personae.memory import peak_rss_mb
from personae.models.options import build_model, params_for, parse_params
from personae.models.options import coerce as _coerce
from personae.runs import PROTOCOL_SUFFIX, TrainedRun, evaluate_saved, model_report, train_and_evaluate
from personae.stats import Interval, compare_paired

TWIN = "mf"  # the single-vector twin of ampcf: benchmarks compare every model with it when it runs


def ci_entry(interval: Interval) -> dict[str, Any]:
    """An interval in the JSON shape of the benchmark contract: ``diff``, ``ci_low``, ``ci_high`` (DESIGN.md),
    plus ``p_value``, ``n_units``, ``n_seeds``, ``unit``, ``method`` and ``note`` so that the count is never lost."""
    entry = interval.to_dict()
    return {"diff": entry["estimate"], "ci_low": entry["low"], "ci_high": entry["high"],
            **{key: entry[key] for key in ("p_value", "n_units", "n_seeds", "unit", "method", "note")}}


def benchmark(source: DataSource, model_names: list[str], seeds: list[int], params: dict[str, Any] | None = None,
              baseline: str | None = None, split_method: str = "leave-last-out", progress: bool = False,
              on_result=None) -> dict[str, Any]:
    """Every model x seed on one split; ``on_result(name, seed, run, entry)`` sees each finished run.

    Values are seed means with ``std``; ``vs_baseline`` is the paired NDCG@10 comparison with the baseline
    (per-user NDCG@10 of every seed, paired user by user and seed by seed: :func:`personae.stats.compare_paired`,
    which counts the training-seed variance); when the single-vector twin ``mf`` is among the models,
    ``vs = {"mf": {...}}`` is the same against it.
    """
    data = load_source(source)
    splits = {seed: make_split(data, split_method, seed=seed) for seed in seeds}
    per_model: dict[str, dict[str, Any]] = {}
    per_user_ndcg: dict[str, list[np.ndarray]] = {}
    for name in model_names:
        entries, ndcg_by_user = [], []
        for seed in seeds:
            run = train_and_evaluate(source, name, params_for(name, params or {}), seed=seed,
                                     progress=progress, split=splits[seed])
            entries.append(model_report(run))
            ndcg_by_user.append(run.result.per_user["ndcg@10"])
            if on_result:
                on_result(name, seed, run, entries[-1])
        keys = entries[0].keys()
        mean = {k: float(np.mean([e[k] for e in entries])) for k in keys}
        mean["std"] = {k: float(np.std([e[k] for e in entries])) for k in keys}
        mean["seeds"] = list(seeds)
        mean["peak_rss_mb"] = peak_rss_mb()
        per_model[name] = mean
        per_user_ndcg[name] = ndcg_by_user
    for name in model_names:
        if baseline in per_user_ndcg:
            per_model[name]["vs_baseline"] = {"baseline": baseline,
                                              **paired_ndcg(per_user_ndcg, name, baseline, split_method)}
        if TWIN in per_user_ndcg and name != TWIN:  # every persona claim is measured against the twin too
            per_model[name]["vs"] = {TWIN: paired_ndcg(per_user_ndcg, name, TWIN, split_method)}
    method = next(iter(splits.values())).method
    return {"dataset": source.label(), "protocol": f"{method}/{PROTOCOL_SUFFIX}", "models": per_model}


def mean_std(entry: dict[str, Any], metric: str) -> str:
    """``0.1234 ± 0.0100`` for a benchmark entry; the mean alone when it comes from one seed (no spread)."""
    text = f"{entry[metric]:.4f}"
    if len(entry.get("seeds", ())) > 1 and metric in entry.get("std", {}):
        text += f" ± {entry['std'][metric]:.4f}"
    return text


def paired_ndcg(per_user_ndcg: dict[str, list[np.ndarray]], name: str, reference: str,
                split_method: str) -> dict[str, Any]:
    """``name``'s per-user NDCG@10 minus ``reference``'s, paired by user and by seed (lists of per-seed arrays).

    Leave-last-out tests the same users under every seed: (n_seeds, n_users) arrays, crossed seeds x users.
    A random split tests other users per seed: the comparison runs on the seed-level mean differences."""
    a, b = per_user_ndcg[name], per_user_ndcg[reference]
    same_users = len({len(x) for x in a}) == 1 and split_method != "random"
    if same_users:
        return ci_entry(compare_paired(np.stack(a), np.stack(b), unit="users"))
    if len(a) == 1:
        return ci_entry(compare_paired(a[0], b[0], unit="users"))
    return ci_entry(compare_paired(_per_seed(a), _per_seed(b), unit="users"))


def _per_seed(arrays: list[np.ndarray]) -> np.ndarray:
    """Per-seed arrays of different users as one object array: compare_paired then pairs seed by seed only."""
    out = np.empty(len(arrays), dtype=object)
    out[:] = arrays
    return out


__all__ = ["TWIN", "TrainedRun", "_coerce", "benchmark", "build_model", "ci_entry", "evaluate_saved", "mean_std",
           "model_report", "paired_ndcg", "params_for", "parse_params", "peak_rss_mb", "train_and_evaluate",
           "write_json"]
