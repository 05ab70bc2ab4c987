"""Saving and loading models: safetensors + config.json + id maps, written atomically; loading refuses missing,
truncated or mismatched files with a clear error and never unpickles."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from personae.cli import main
from personae.models import persistence
from personae.models.base import Recommender
from personae.models.bpr import BPR
from personae.models.ease import EASE
from personae.models.itemknn import ItemKNN
from personae.models.persistence import ModelFileError, load_model, save_model
from personae.models.pop import Popularity

BASELINES = {
    "pop": lambda: Popularity(),
    "itemknn": lambda: ItemKNN(neighbours=3),
    "ease": lambda: EASE(l2=5.0),
    "bpr": lambda: BPR(dim=4, epochs=2, progress=False),
}


@pytest.fixture
def saved(tiny_split, tmp_path) -> Path:
    path = tmp_path / "model"
    EASE(l2=5.0).fit(tiny_split.train).save(str(path))
    return path


def _rewrite_checksums(path: Path, config: dict | None = None) -> None:
    """Make config.json (``config`` if given) agree with the files and itself again, as an attacker might."""
    config = config or json.loads((path / "config.json").read_text())
    config["files"] = {name: persistence._sha256(path / name) for name in config["files"]}
    config[persistence.CONFIG_SHA] = persistence.config_checksum(config)
    (path / "config.json").write_text(json.dumps(config))


@pytest.mark.parametrize("name", list(BASELINES))
def test_round_trip_gives_identical_scores(name, tiny_split, tmp_path):
    model = BASELINES[name]().fit(tiny_split.train)
    model.save(str(tmp_path / name))
    loaded = Recommender.load(str(tmp_path / name))
    users = np.arange(tiny_split.train.n_users)
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    assert np.array_equal(loaded.score(users), model.score(users))


@pytest.mark.parametrize("name", list(BASELINES))
def test_round_trip_gives_identical_recommendations_with_titles(name, tiny_split, tmp_path):
    model = BASELINES[name]().fit(tiny_split.train)
    model.save(str(tmp_path / name))
    before, after = model.recommend(["a", "d"], k=3), load_model(tmp_path / name).recommend(["a", "d"], k=3)
    assert after == before


def test_save_writes_safetensors_config_and_id_maps(saved):
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "id_maps.json", "weights.safetensors"]
    config = json.loads((saved / "config.json").read_text())
    assert config["model"] == "ease" and config["options"]["l2"] == 5.0
    assert (config["n_users"], config["n_items"]) == (4, 6)
    id_maps = json.loads((saved / "id_maps.json").read_text())
    assert id_maps["user_ids"] == ["a", "b", "c", "d"]
    assert id_maps["item_titles"][:2] == ["One", "Two"]


def test_save_records_provenance_for_evaluate(tiny_split, tmp_path):
    model = Popularity().fit(tiny_split.train)
    model.provenance_ = {"source": {"dataset": "x"}, "split": "leave-last-out", "seed": 0}
    model.save(str(tmp_path / "m"))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["split"] == "leave-last-out"


def test_a_failed_save_leaves_neither_the_model_nor_scratch_files(tiny_split, tmp_path, monkeypatch):
    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", crash)
    with pytest.raises(ModelFileError, match=r"cannot write the model \(disk full\)"):
        save_model(Popularity().fit(tiny_split.train), tmp_path / "model")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_over_an_existing_model_keeps_the_old_one(saved, tiny_split, monkeypatch):
    monkeypatch.setattr(persistence, "_write_json", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(ModelFileError):
        save_model(Popularity().fit(tiny_split.train), saved)
    assert load_model(saved).name == "ease"
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]


def test_saving_over_an_existing_model_replaces_it(saved, tiny_split):
    Popularity().fit(tiny_split.train).save(str(saved))
    assert load_model(saved).name == "pop"
    assert sorted(p.name for p in saved.parent.iterdir()) == ["model"]


def test_loading_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match=r"nowhere: not a model directory"):
        load_model(tmp_path / "nowhere")


@pytest.mark.parametrize("name", ["config.json", "weights.safetensors", "id_maps.json"])
def test_loading_with_a_missing_file_names_it(saved, name):
    (saved / name).unlink()
    with pytest.raises(ModelFileError, match=rf"{name}: missing"):
        load_model(saved)


def test_loading_a_truncated_weights_file_is_refused(saved):
    weights = saved / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-20])
    with pytest.raises(ModelFileError, match=r"weights\.safetensors: checksum mismatch"):
        load_model(saved)


def test_loading_weights_from_another_model_is_refused(saved, tiny_split, tmp_path):
    Popularity().fit(tiny_split.train).save(str(tmp_path / "other"))
    (saved / "weights.safetensors").write_bytes((tmp_path / "other" / "weights.safetensors").read_bytes())
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model(saved)


def test_loading_a_config_that_is_not_json_is_refused(saved):
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match=r"config\.json: not valid JSON"):
        load_model(saved)


def test_loading_a_config_of_another_format_is_refused(saved):
    (saved / "config.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ModelFileError, match=r"config\.json: not a personae-model/1 config"):
        load_model(saved)


def test_loading_a_config_naming_an_unknown_model_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["model"] = "nope"
    _rewrite_checksums(saved, config)
    with pytest.raises(ModelFileError, match=r"config\.json: field 'model': unknown model 'nope'"):
        load_model(saved)


def test_loading_options_that_do_not_fit_the_model_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["options"]["dim"] = 8  # ease has no 'dim'
    _rewrite_checksums(saved, config)
    with pytest.raises(ModelFileError, match=r"field 'options' does not fit model 'ease'"):
        load_model(saved)


def test_weights_saved_for_another_model_are_refused_even_with_matching_checksums(saved, tiny_split, tmp_path):
    Popularity().fit(tiny_split.train).save(str(tmp_path / "other"))
    (saved / "weights.safetensors").write_bytes((tmp_path / "other" / "weights.safetensors").read_bytes())
    _rewrite_checksums(saved)
    with pytest.raises(ModelFileError, match=r"weights do not match model 'ease'"):
        load_model(saved)


class _Trap:
    """Unpickling this creates a marker file: proof that the loader ran pickle."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_in_place_of_the_weights_is_refused_and_never_unpickled(saved, tmp_path):
    marker = tmp_path / "unpickled"
    (saved / "weights.safetensors").write_bytes(pickle.dumps(_Trap(marker)))
    _rewrite_checksums(saved)
    with pytest.raises(ModelFileError, match=r"weights\.safetensors"):
        load_model(saved)
    assert not marker.exists()


def test_the_cli_reports_a_damaged_model_in_one_line(saved, capsys):
    weights = saved / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:10])
    status = main(["recommend", str(saved), "--user", "a"])
    err = capsys.readouterr().err
    assert status != 0
    assert err.splitlines() == [f"personae: error: {weights}: checksum mismatch (truncated or changed after saving)"]


def test_a_config_whose_checksums_leave_out_a_file_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    del config["files"]["weights.safetensors"]
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match=r"field 'files' must give the SHA-256 of weights\.safetensors"):
        load_model(saved)


def test_id_maps_missing_a_key_are_refused_in_one_line(saved):
    id_maps = json.loads((saved / "id_maps.json").read_text())
    del id_maps["user_ids"]
    (saved / "id_maps.json").write_text(json.dumps(id_maps))
    _rewrite_checksums(saved)
    with pytest.raises(ModelFileError, match=r"id_maps\.json: missing field 'user_ids'"):
        load_model(saved)


def test_weights_missing_the_training_events_are_refused_in_one_line(saved):
    from safetensors.numpy import load_file, save_file

    arrays = load_file(str(saved / "weights.safetensors"))
    del arrays["train.users"]
    save_file(arrays, str(saved / "weights.safetensors"))
    _rewrite_checksums(saved)
    with pytest.raises(ModelFileError, match=r"weights\.safetensors: missing array 'train\.users'"):
        load_model(saved)


def test_a_saved_model_keeps_the_digest_of_its_training_events(saved, tiny_split):
    config = json.loads((saved / "config.json").read_text())
    assert config["events"]["train"] == persistence.events_fingerprint(tiny_split.train)
    assert config["events"]["train"]["events"] == len(tiny_split.train)


def test_the_events_digest_follows_the_events_not_the_index_maps(make_data):
    events = [("a", 1, 1), ("b", 2, 2)]
    alone = make_data(events)
    with_more = make_data([("0", 0, 0), *events])  # other id maps: user "0" and item 0 come first
    same_events = with_more.subset(np.array([False, True, True]))
    changed = make_data([("a", 1, 1), ("b", 3, 2)])
    assert persistence.events_fingerprint(same_events) == persistence.events_fingerprint(alone)
    assert persistence.events_fingerprint(changed) != persistence.events_fingerprint(alone)
