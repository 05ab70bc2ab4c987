"""Service options from the command line: a JSON config file, then --param KEY=VALUE pairs."""

from __future__ import annotations

import json

import pytest

from personae.errors import DataError
from personae.serve.config import serve_options


def test_params_override_the_config_file_and_reach_both_option_groups(tmp_path):
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"novel_below": 0.4, "candidate_weight": 0.1, "rating_scale": [1, 5], "nprobe": 8}))
    options = serve_options(config, ["novel_below=0.6", "drift_percentile=none", "cap=false"])
    update = options.update
    assert (update.novel_below, update.candidate_weight, update.rating_scale) == (0.6, 0.1, (1, 5))
    assert update.drift_percentile is None and update.cap is False
    assert options.index.nprobe == 8


def test_an_unknown_option_is_refused_by_name(tmp_path):
    with pytest.raises(DataError, match="--param novel: the service has no such option"):
        serve_options(None, ["novel=0.5"])


def test_a_config_value_of_the_wrong_type_is_refused_by_name(tmp_path):
    config = tmp_path / "serve.json"
    config.write_text(json.dumps({"steps": "five"}))
    with pytest.raises(DataError, match="option 'steps' expects int, got 'five'"):
        serve_options(config, [])


def test_no_file_and_no_params_give_the_defaults():
    from personae.serve.service import ServeOptions

    assert serve_options(None, None) == ServeOptions()


def test_bounds_given_as_options_are_used_as_given(served_model_dir, tmp_path):
    from personae.models.persistence import load_model
    from personae.serve.service import PersonaService
    from personae.serve.store import SQLiteStore

    options = serve_options(None, ["max_step=0.25", "max_drift=1.5"])
    service = PersonaService(load_model(served_model_dir), SQLiteStore(tmp_path / "s.sqlite"), options)
    assert (service.updater.bounds.max_step, service.updater.bounds.max_drift) == (0.25, 1.5)
    assert service.health()["bounds_from"] == "given"
