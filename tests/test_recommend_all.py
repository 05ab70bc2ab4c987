"""`recommend-all`: every user's top-k with persona attribution, streamed to Parquet, optionally sharded."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

import personae.recommend_all as recommend_all_module
from personae.cli import main
from personae.data.synthetic import planted_interests
from personae.models.ampcf import AMPCF
from personae.models.pop import Popularity
from personae.recommend_all import recommend_all

K = 5


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(folder of a tiny trained ampcf, the model)."""
    data = planted_interests(n_users=50, n_clusters=6, items_per_cluster=8, interests_per_user=2,
                             events_per_user=8, seed=1)
    model = AMPCF(personas=2, dim=4, epochs=2, batch_size=128, progress=False).fit(data)
    folder = tmp_path_factory.mktemp("ampcf")
    model.save(str(folder))
    return folder, model


@pytest.fixture(scope="module")
def full(saved, tmp_path_factory):
    path = tmp_path_factory.mktemp("recs") / "all.parquet"
    recommend_all(saved[0], path, k=K)
    return pd.read_parquet(path)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["user", "rank"]).reset_index(drop=True)


def test_rows_match_model_recommend_for_every_user(saved, full):
    _, model = saved
    users = list(model.fitted_data.user_ids)
    expected = model.recommend(users, k=K)
    assert len(full) == len(users) * K
    by_user = {u: g.sort_values("rank") for u, g in full.groupby("user")}
    for user, items, scores in zip(expected.user_ids, expected.item_ids, expected.scores):
        assert list(by_user[user].item) == items
        assert np.allclose(by_user[user].score, scores, atol=1e-5)


def test_the_union_of_shards_equals_the_unsharded_output(saved, full, tmp_path):
    parts = []
    for i in range(3):
        recommend_all(saved[0], tmp_path / f"part{i}.parquet", k=K, shard=f"{i}/3")
        parts.append(pd.read_parquet(tmp_path / f"part{i}.parquet"))
    assert not set(parts[0].user) & set(parts[1].user)
    assert _sorted(pd.concat(parts)).equals(_sorted(full))


def test_each_item_is_attributed_to_the_persona_its_explanation_names(saved, full):
    _, model = saved
    user = str(model.fitted_data.user_ids[3])
    rows = full[full.user == user].sort_values("rank")
    why = model.explain(user, list(rows.item))
    assert list(rows.persona) == [e.persona for e in why]
    assert np.allclose(rows.persona_weight, [max(e.persona_weights) for e in why], atol=1e-5)
    assert ((full.persona_weight >= 1 / 2 - 1e-6) & (full.persona_weight <= 1)).all()  # argmax of 2 personas


def test_single_vector_models_attribute_every_item_to_persona_zero(saved, tmp_path):
    model = Popularity().fit(saved[1].fitted_data)
    model.save(str(tmp_path / "pop"))
    recommend_all(tmp_path / "pop", tmp_path / "pop.parquet", k=K)
    rows = pd.read_parquet(tmp_path / "pop.parquet")
    assert (rows.persona == 0).all() and (rows.persona_weight == 1).all()


@pytest.mark.parametrize("shard", ["3/3", "1", "a/b", "-1/2"])
def test_a_bad_shard_gives_one_error_line_and_no_file(saved, tmp_path, capsys, shard):
    status = main(["recommend-all", str(saved[0]), "--out", str(tmp_path / "r.parquet"), "--shard", shard])
    err = capsys.readouterr().err
    assert status != 0 and err.count("\n") == 1 and "--shard" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="session")
def local_ray():
    """One local Ray instance for the session (starting Ray takes seconds): 2 CPUs, no dashboard."""
    import os

    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_the_ray_engine_writes_the_same_rows_as_the_local_engine(saved, local_ray, tmp_path, monkeypatch):
    monkeypatch.setattr(recommend_all_module, "SCORE_BUDGET", 8 * 48)  # 8 users a block: shard 1/2 (25 users) in 4 blocks
    recommend_all(saved[0], tmp_path / "local.parquet", k=K, shard="1/2")
    recommend_all(saved[0], tmp_path / "ray.parquet", k=K, shard="1/2", engine="ray")
    local, on_ray = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "ray.parquet")
    assert len(local) == 25 * K and on_ray.equals(local)  # row for row, in the same order


def test_without_ray_installed_the_ray_engine_says_so_in_one_line(saved, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` fail, as on a machine without it
    monkeypatch.delitem(sys.modules, "personae.recommend_ray", raising=False)
    status = main(["recommend-all", str(saved[0]), "--out", str(tmp_path / "r.parquet"), "--engine", "ray"])
    err = capsys.readouterr().err
    assert status != 0 and err.count("\n") == 1 and "ray is not installed" in err
    assert list(tmp_path.iterdir()) == []
