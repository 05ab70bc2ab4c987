"""End to end on real MovieLens-100K through the command line: fetch, train, evaluate, recommend, benchmark.

One BPR model is trained for the module (3 epochs) and reused by the commands that read a saved model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from personae.cli import main

pytestmark = pytest.mark.slow

METRIC_KEYS = {"ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10"}


@pytest.fixture(scope="module")
def bpr_run(tmp_path_factory, ml100k_folder):
    """(model dir, train --json report) of BPR trained for 3 epochs on ml-100k."""
    folder = tmp_path_factory.mktemp("e2e")
    model_dir, report = folder / "bpr", folder / "train.json"
    status = main(["train", "--dataset", "ml-100k", "--model", "bpr", "--epochs", "3", "--seed", "0",
                   "--param", "progress=false", "--out", str(model_dir), "--json", str(report)])
    assert status == 0
    return model_dir, json.loads(report.read_text())


def test_datasets_fetch_through_the_installed_command_uses_the_cache(personae_home, ml100k_folder):
    script = Path(sys.executable).with_name("personae")
    result = subprocess.run([str(script), "datasets", "fetch", "ml-100k"], check=False, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ml-100k: {personae_home / 'ml-100k'}"
    assert "Traceback" not in result.stderr


def test_train_saves_a_bpr_model_that_beats_chance(bpr_run):
    model_dir, report = bpr_run
    assert (model_dir / "weights.safetensors").is_file()
    entry = report["models"]["bpr"]
    assert report["dataset"] == "ml-100k" and report["protocol"] == "leave-last-out/full"
    # chance: 10 of ~1,580 unseen items -> HR@10 about 0.006
    assert entry["hr@10"] > 0.03


def test_evaluate_json_has_the_documented_shape_and_matches_training(bpr_run, tmp_path, capsys):
    model_dir, at_train = bpr_run
    out = tmp_path / "eval.json"
    assert main(["evaluate", str(model_dir), "--json", str(out)]) == 0
    assert "ndcg@10" in capsys.readouterr().out  # the table
    report = json.loads(out.read_text())
    assert report["dataset"] == "ml-100k"
    assert report["protocol"] == "leave-last-out/full"
    entry = report["models"]["bpr"]
    assert METRIC_KEYS | {"params", "bytes_per_user"} <= set(entry)
    assert entry["params"] == (943 + 1682) * 64
    assert entry["bytes_per_user"] == 64 * 4
    for key in METRIC_KEYS:
        assert entry[key] == pytest.approx(at_train["models"]["bpr"][key]), key


def test_recommend_json_gives_titles_of_unseen_movies(bpr_run, capsys, ml100k_split):
    model_dir, _ = bpr_run
    assert main(["recommend", str(model_dir), "--user", "1", "--k", "5", "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["user"] == "1" and len(entry["items"]) == 5
    train = ml100k_split.train
    titles = dict(zip(train.item_ids, train.item_titles(range(train.n_items))))
    for item in entry["items"]:
        assert item["title"] == titles[item["item"]]
    seen = {train.item_ids[i] for i in train.items[train.users == train.user_index("1")]}
    assert not seen & {item["item"] for item in entry["items"]}


def test_recommend_table_lists_movie_titles(bpr_run, capsys):
    model_dir, _ = bpr_run
    assert main(["recommend", str(model_dir), "--user", "42", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "user 42: top 3" in out
    assert "title" in out and out.count("\n") >= 7


def test_benchmark_writes_seed_means_std_and_the_paired_comparison(tmp_path, capsys, ml100k_folder):
    out = tmp_path / "bench.json"
    status = main(["benchmark", "--dataset", "ml-100k", "--models", "pop,ease", "--param", "l2=250",
                   "--seeds", "0,1", "--baseline", "pop", "--json", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    assert report["protocol"] == "leave-last-out/full"
    assert set(report["models"]) == {"pop", "ease"}
    ease = report["models"]["ease"]
    assert METRIC_KEYS <= set(ease) and METRIC_KEYS <= set(ease["std"])
    # both are deterministic on one split, so the seed std is zero and the mean is the peer-checked figure
    assert ease["std"]["ndcg@10"] == 0.0
    assert ease["ndcg@10"] == pytest.approx(0.0706, abs=0.0015)
    assert ease["seeds"] == [0, 1]
    comparison = ease["vs_baseline"]
    assert comparison["baseline"] == "pop"
    assert comparison["ci_low"] <= comparison["diff"] <= comparison["ci_high"]
    assert comparison["ci_low"] > 0  # EASE beats popularity clearly on ml-100k
    assert report["models"]["pop"]["vs_baseline"]["diff"] == 0.0
