"""Library functions behind the commands: train on a data source, evaluate a saved model, benchmark models.

The CLI only parses arguments and calls these; a notebook can call them too.
"""

from __future__ import annotations

import json
import resource
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, get_type_hints

import numpy as np

from personae.data.sources import DataSource, load_source
from personae.data.splits import Split, make_split
from personae.errors import DataError
from personae.evaluate.evaluator import EvaluationResult, evaluate
from personae.files import write_text_atomic
from personae.models import model_class
from personae.models.base import Recommender
from personae.models.persistence import check_same_events, events_fingerprint, load_model
from personae.models.torch_base import place_model
from personae.stats import Interval, compare_paired

PROTOCOL_SUFFIX = "full"
TWIN = "mf"  # the single-vector twin of ampcf: benchmarks compare every model with it when it runs
REPORTED = ("ndcg@10", "hr@10", "recall@10", "mrr@10", "ndcg@20", "hr@20", "recall@20", "mrr@20",
            "coverage@10", "ild@10", "novelty@10")


def parse_params(model_name: str, pairs: list[str]) -> dict[str, Any]:
    """``["l2=250", "dim=32"]`` -> typed option values for ``model_name``; unknown keys are refused."""
    cls = model_class(model_name)
    hints = get_type_hints(cls.Options)
    known = {f.name for f in fields(cls.Options)}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise DataError(f"--param '{pair}': expected KEY=VALUE")
        if key not in known:
            raise DataError(f"--param {key}: model '{model_name}' has no such option (options: {', '.join(sorted(known))})")
        values[key] = _coerce(key, raw.strip(), hints[key])
    return values


def _coerce(key: str, raw: str, hint: Any) -> Any:
    """Convert ``raw`` to the first type of the option's type hint that accepts it (bool, int, float, str)."""
    text = str(hint)
    if raw.lower() in ("none", "null", "") and "None" in text:
        return None
    if "bool" in text and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.lower() in ("true", "1", "yes")
    for name, convert in (("int", int), ("float", float)):
        if name in text:
            try:
                return convert(raw)
            except ValueError:
                continue
    if "str" in text:
        return raw
    raise DataError(f"--param {key}={raw}: expected {text.replace('typing.', '')}")


def params_for(model_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` that ``model_name`` has as options (benchmark applies keys where they fit)."""
    known = {f.name for f in fields(model_class(model_name).Options)}
    return {k: v for k, v in params.items() if k in known}


def build_model(model_name: str, params: dict[str, Any] | None = None, seed: int = 0,
                progress: bool = True) -> Recommender:
    cls = model_class(model_name)
    values = dict(params or {})
    values.setdefault("seed", seed)
    if "progress" in {f.name for f in fields(cls.Options)}:
        values.setdefault("progress", progress)
    try:
        return cls(**values)
    except TypeError as exc:
        raise DataError(f"model '{model_name}': {exc}") from None


@dataclass
class TrainedRun:
    model: Recommender
    split: Split
    result: EvaluationResult
    train_seconds: float


def train_and_evaluate(source: DataSource, model_name: str, params: dict[str, Any] | None = None,
                       seed: int = 0, split_method: str = "leave-last-out", progress: bool = True,
                       split: Split | None = None) -> TrainedRun:
    """Load, split, fit on train (early stopping / tuning on valid), evaluate on test."""
    if split is None:
        split = make_split(load_source(source), split_method, seed=seed)
    model = build_model(model_name, params, seed=seed, progress=progress)
    start = time.perf_counter()
    model.fit(split.train, split.valid)
    seconds = time.perf_counter() - start
    model.provenance_ = {"source": source.to_dict(), "split": split.method, "seed": seed,
                         "events": {"valid": events_fingerprint(split.valid), "test": events_fingerprint(split.test)}}
    return TrainedRun(model, split, evaluate(model, split), seconds)


def model_report(run: TrainedRun) -> dict[str, float]:
    """The per-model JSON entry: reported metrics plus cost figures."""
    entry = {key: run.result.metrics[key] for key in REPORTED if key in run.result.metrics}
    entry["train_seconds"] = run.train_seconds
    entry["params"] = run.model.n_parameters()
    entry["bytes_per_user"] = run.model.bytes_per_user()
    return entry


def evaluate_saved(path: str | Path, device: str = "cpu") -> tuple[Recommender, dict[str, Any]]:
    """Reload a saved model, rebuild its data split from its recorded source, evaluate on test (scoring on
    ``device``: see personae.train.devices)."""
    model = place_model(load_model(path), device)
    config = model.saved_config_
    where = Path(path) / "config.json"
    if "source" not in config:
        raise DataError(f"{where}: no field 'source'; cannot rebuild its test split")
    method, seed = config.get("split", "leave-last-out"), config.get("seed", 0)
    if not isinstance(method, str) or not isinstance(seed, int) or isinstance(seed, bool):
        raise DataError(f"{where}: fields 'split' and 'seed' must be a string and an integer, got {method!r}, {seed!r}")
    try:
        source = DataSource.from_dict(config["source"])
    except DataError as exc:
        raise DataError(f"{where}: field 'source': {exc}") from None
    split = make_split(load_source(source), method, seed=seed)
    check_same_events(config, {"train": split.train, "valid": split.valid, "test": split.test},
                      model.fitted_data, f"the data at {source.data or source.dataset}")
    if split.train.n_items != model.fitted_data.n_items or split.train.n_users != model.fitted_data.n_users:
        raise DataError(f"{path}: the data at {source.label()} no longer matches the saved model's id maps")
    result = evaluate(model, split)
    entry = {key: result.metrics[key] for key in REPORTED if key in result.metrics}
    entry["params"] = model.n_parameters()
    entry["bytes_per_user"] = model.bytes_per_user()
    report = {"dataset": source.label(), "protocol": f"{split.method}/{PROTOCOL_SUFFIX}",
              "models": {model.name: entry}}
    return model, report


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


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_json(path: str | Path, payload: Any) -> None:
    """Write JSON atomically: a temporary file in the same folder, then rename."""
    write_text_atomic(path, json.dumps(payload, indent=2))
