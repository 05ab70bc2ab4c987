"""One report of a run (personae.runs) and the one JSON writer (personae.files)."""

from __future__ import annotations

import json

import numpy as np

from personae.evaluate import evaluate
from personae.files import write_json
from personae.models.pop import Popularity
from personae.runs import TrainedRun, run_report


def test_run_report_has_the_json_shape_of_every_command(tiny_split):
    model = Popularity().fit(tiny_split.train, tiny_split.valid)
    run = TrainedRun(model, tiny_split, evaluate(model, tiny_split), 1.5, "tiny")
    report = run_report(run)
    assert report["dataset"] == "tiny" and report["protocol"] == "leave-last-out/full"
    entry = report["models"]["pop"]
    assert entry["ndcg@10"] == run.result.metrics["ndcg@10"]
    assert list(entry)[-3:] == ["train_seconds", "params", "bytes_per_user"] and entry["train_seconds"] == 1.5


def test_run_report_takes_a_dataset_label_for_a_sample(tiny_split):
    model = Popularity().fit(tiny_split.train)
    run = TrainedRun(model, tiny_split, evaluate(model, tiny_split), 0.1, "tiny")
    assert run_report(run, dataset="tiny, 3 sampled users")["dataset"] == "tiny, 3 sampled users"


def test_write_json_is_strict_json_with_numpy_values(tmp_path):
    path = write_json(tmp_path / "out" / "r.json", {"icc": float("nan"), "n": np.int64(3), "x": np.float32(0.5),
                                                      "v": np.array([1.0, np.inf]), "t": (1, 2)})
    text = path.read_text()
    assert text.endswith("\n") and "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"icc": None, "n": 3, "x": 0.5, "v": [1.0, None], "t": [1, 2]}


def test_write_json_leaves_finite_values_alone(tmp_path):
    payload = {"ndcg@10": 0.0731, "models": {"mf": {"seeds": [0, 1, 2]}}}
    assert json.loads(write_json(tmp_path / "r.json", payload).read_text()) == payload
