"""Runs of one model: train on a data source and evaluate on test, or re-evaluate a saved model; and the one
report of a run (the JSON shape of DESIGN.md) that ``train``, ``evaluate``, ``demo`` and the HTML report share.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personae.data.sources import DataSource, load_source
from personae.data.splits import Split, make_split
from personae.errors import DataError
from personae.evaluate.evaluator import EvaluationResult, evaluate
from personae.models.base import Recommender
from personae.models.options import build_model
from personae.models.persistence import check_same_events, events_fingerprint, load_model
from personae.models.torch_base import place_model

PROTOCOL_SUFFIX = "full"  # every figure ranks the full catalogue
REPORTED = ("ndcg@10", "hr@10", "recall@10", "mrr@10", "ndcg@20", "hr@20", "recall@20", "mrr@20",
            "coverage@10", "ild@10", "novelty@10")


@dataclass
class TrainedRun:
    model: Recommender
    split: Split
    result: EvaluationResult
    train_seconds: float
    dataset: str = ""  # the data source's label


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
    return TrainedRun(model, split, evaluate(model, split), seconds, source.label())


def model_entry(model: Recommender, result: EvaluationResult, train_seconds: float | None = None) -> dict[str, float]:
    """The per-model JSON entry: reported metrics, then cost figures (training time when it was measured)."""
    entry = {key: result.metrics[key] for key in REPORTED if key in result.metrics}
    if train_seconds is not None:
        entry["train_seconds"] = train_seconds
    entry["params"] = model.n_parameters()
    entry["bytes_per_user"] = model.bytes_per_user()
    return entry


def model_report(run: TrainedRun) -> dict[str, float]:
    """The per-model JSON entry of a run: reported metrics plus cost figures."""
    return model_entry(run.model, run.result, run.train_seconds)


def report_of(dataset: str, split_method: str, models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{"dataset", "protocol": "<split>/full", "models": {name: entry}}``: the JSON of every command."""
    return {"dataset": dataset, "protocol": f"{split_method}/{PROTOCOL_SUFFIX}", "models": models}


def run_report(run: TrainedRun, dataset: str | None = None) -> dict[str, Any]:
    """The report of one trained run (``dataset`` overrides the source's label, e.g. for a sample of it)."""
    return report_of(dataset or run.dataset, run.split.method, {run.model.name: model_report(run)})


def evaluate_model(model: Recommender, path: str | Path) -> dict[str, Any]:
    """Rebuild the test split of a model loaded from ``path`` from its recorded source and evaluate on it;
    returns the report (no training time: nothing was trained here)."""
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
    return report_of(source.label(), split.method, {model.name: model_entry(model, evaluate(model, split))})


def evaluate_saved(path: str | Path, device: str = "cpu") -> tuple[Recommender, dict[str, Any]]:
    """Reload a saved model, rebuild its data split from its recorded source, evaluate on test (scoring on
    ``device``: see personae.train.devices)."""
    model = place_model(load_model(path), device)
    return model, evaluate_model(model, path)
