"""mf: ampcf's single-vector twin. It must be ampcf with one persona, and a named model with its own options."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from personae.cli import main
from personae.data import DataSource, leave_last_out
from personae.data.synthetic import planted_interests
from personae.evaluate import evaluate
from personae.experiment import benchmark
from personae.models.ampcf import AMPCF
from personae.models.mf import MF
from personae.stats import compare_paired

# dim 4 with three disjoint interests per user: small enough for one vector to be a bottleneck
FAST = {"dim": 4, "epochs": 12, "patience": 12, "batch_size": 256, "lr": 0.02, "progress": False}


@pytest.fixture(scope="module")
def split():
    return leave_last_out(planted_interests(n_users=240, n_clusters=12, items_per_cluster=15,
                                            interests_per_user=3, events_per_user=24, seed=0))


@pytest.fixture(scope="module")
def twin(split):
    return MF(**FAST).fit(split.train, split.valid)


def _per_user_ndcg(model, split) -> np.ndarray:
    return evaluate(model, split, beyond_accuracy=False).per_user["ndcg@10"]


def test_mf_is_ampcf_with_one_persona_score_for_score_from_the_same_seed(twin, split):
    one = AMPCF(personas=1, **FAST).fit(split.train, split.valid)
    users = np.arange(split.train.n_users)
    np.testing.assert_allclose(twin.score(users), one.score(users), atol=1e-4)


def test_mf_and_one_persona_ampcf_differ_by_no_more_than_seed_noise(twin, split):
    other_seed = AMPCF(personas=1, seed=1, **FAST).fit(split.train, split.valid)
    ci = compare_paired(_per_user_ndcg(other_seed, split), _per_user_ndcg(twin, split))
    assert not ci.effect, ci.describe()


def test_three_personas_beat_the_twin_on_planted_interests_beyond_noise(twin, split):
    # the control that the comparison above can detect a difference when there is one
    multi = AMPCF(personas=3, **FAST).fit(split.train, split.valid)
    ci = compare_paired(_per_user_ndcg(multi, split), _per_user_ndcg(twin, split))
    assert ci.low > 0.0, ci.describe()


def test_mf_shares_ampcfs_training_defaults():
    mf, ampcf = MF().options, AMPCF().options
    for option in ("loss", "negatives", "lr", "weight_decay", "dropout", "dim", "epochs", "batch_size", "patience"):
        assert getattr(mf, option) == getattr(ampcf, option), option


def test_mf_keeps_one_dim_vector_of_bytes_per_user(twin):
    assert twin.bytes_per_user() == FAST["dim"] * 4


def test_personae_models_lists_mf_with_its_own_options(capsys):
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    lines = listing.split("\nmf:", 1)[1].split("\n")[1:]
    block = "\n".join(itertools.takewhile(lambda line: line.startswith(" "), lines))  # up to the next model
    for option in ("loss = 'softmax'", "negatives = 20", "dropout = ", "weight_decay = "):
        assert option in block, option
    assert "personas" not in block


def test_benchmark_compares_every_model_with_the_twin_when_mf_runs(tmp_path):
    events = tmp_path / "events.csv"
    data = planted_interests(n_users=60, n_clusters=6, items_per_cluster=8, interests_per_user=2,
                             events_per_user=8, seed=1)
    lines = ["user,item,time"] + [f"{u},{i},{t}" for u, i, t in zip(data.user_ids[data.users],
                                                                    data.item_ids[data.items], data.timestamps)]
    events.write_text("\n".join(lines))
    source = DataSource(data=str(events), user_col="user", item_col="item", time_col="time")
    report = benchmark(source, ["pop", "mf"], [0], {"epochs": 2}, baseline="pop")
    comparison = report["models"]["pop"]["vs"]["mf"]
    assert {"diff", "ci_low", "ci_high", "p_value", "n_units", "n_seeds", "unit", "method"} <= set(comparison)
    assert (comparison["n_seeds"], comparison["unit"]) == (1, "users")
    assert "vs" not in report["models"]["mf"]
    assert report["models"]["mf"]["vs_baseline"]["baseline"] == "pop"


def test_saved_mf_loads_as_mf_with_identical_scores(twin, tmp_path):
    from personae.models.persistence import load_model

    twin.save(str(tmp_path / "mf"))
    loaded = load_model(str(tmp_path / "mf"))
    users = np.arange(10)
    assert loaded.name == "mf"
    np.testing.assert_array_equal(twin.score(users), loaded.score(users))
