"""DIN: shapes, consistency of the two scoring paths, persistence, and that the candidate matters."""

import numpy as np
import pytest

from personae.evaluate import evaluate
from personae.models import MODELS
from personae.models.din import DIN
from personae.models.history import history_matrix
from personae.models.persistence import load_model
from personae.models.pop import Popularity

# dim 4: too small for one averaged vector to serve three interests, so the candidate has to matter
FAST = {"dim": 4, "normalize": True, "attention_hidden": 16, "max_history": 20, "epochs": 25, "lr": 0.01, "batch_size": 256, "patience": 5,
            "progress": False}


@pytest.fixture(scope="module")
def split(planted_split):
    return planted_split


@pytest.fixture(scope="module")
def fitted(split):
    return DIN(**FAST).fit(split.train, split.valid)


def test_history_keeps_the_latest_training_items_oldest_first_left_padded():
    from personae.data.interactions import Interactions
    data = Interactions.from_ids([1, 1, 1, 2], [10, 11, 12, 10], timestamps=[3.0, 1.0, 2.0, 5.0])
    pad = data.n_items
    history = history_matrix(data, 2, pad=pad)
    assert history[0].tolist() == [data.item_index([12])[0], data.item_index([10])[0]]
    assert history[1].tolist() == [pad, data.item_index([10])[0]]


def test_scores_have_one_column_per_candidate_or_per_item(fitted, split):
    users = np.array([0, 1, 2])
    assert fitted.score(users).shape == (3, split.train.n_items)
    assert fitted.score(users, np.array([4, 5])).shape == (3, 2)


def test_score_all_equals_forward_on_the_same_items(fitted, split):
    users = np.arange(12)
    items = np.arange(split.train.n_items)
    np.testing.assert_allclose(fitted.score(users), fitted.score(users, items), rtol=1e-5, atol=1e-5)


def test_the_folded_activation_unit_is_the_papers_unit_on_the_concatenated_features(fitted):
    """MLP([q, k, q - k, q * k]) written out with the layers' own weights, for every (candidate, history) pair."""
    import torch
    network = fitted.network_.eval()
    q, k = network.items.weight[:5], network.items.weight[5:12]  # 5 candidates, 7 history items
    pairs = q[:, None, :] * k[None, :, :]
    hidden = (network.attend_query(q)[:, None, :] + network.attend_key(k)[None, :, :]
              + network.attend_product(pairs))  # (C, L, hidden)
    expected = network.attend_out(network.attend_act(hidden)).squeeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(network.activation_logits(q, k), expected, rtol=1e-5, atol=1e-5)
        batched = network.activation_logits(q.expand(3, -1, -1), k.expand(3, -1, -1))  # (B, C, L) form
        torch.testing.assert_close(batched, expected.expand(3, -1, -1), rtol=1e-5, atol=1e-5)


def test_the_ranking_batch_changes_no_metric(fitted, split):
    """score_all shares pair logits across a batch: how users are grouped must not change their rankings."""
    assert fitted.ranking_batch_users > 256
    whole = evaluate(fitted, split, beyond_accuracy=False)
    small = evaluate(fitted, split, beyond_accuracy=False, batch_size=7)
    for key, values in whole.per_user.items():
        np.testing.assert_array_equal(values, small.per_user[key], err_msg=key)


def test_an_item_in_the_history_is_scored_as_if_it_were_not_there(fitted):
    network = fitted.network_
    user, own = 0, network.history[0, -1].item()
    candidates = np.array([own] + [i for i in range(network.n_items) if i != own])
    before = fitted.score(np.array([user]), candidates)
    saved = network.history.clone()
    try:
        network.history[user, -1] = network.n_items  # drop the item from the history: padding
        after = fitted.score(np.array([user]), candidates)
    finally:
        network.history.copy_(saved)
    assert after[0, 0] == pytest.approx(before[0, 0], abs=1e-5)  # the candidate never saw itself
    assert np.abs(after[0, 1:] - before[0, 1:]).max() > 1e-4  # other candidates did see it


def test_save_and_load_give_identical_scores(fitted, tmp_path, monkeypatch):
    monkeypatch.setitem(MODELS, "din", DIN)
    fitted.save(str(tmp_path / "din"))
    loaded = load_model(str(tmp_path / "din"))
    users = np.arange(20)
    np.testing.assert_array_equal(fitted.score(users), loaded.score(users))


def test_attention_beats_popularity_and_the_uniform_mean_on_planted_interests(fitted, split):
    din = evaluate(fitted, split).metrics
    pop = evaluate(Popularity().fit(split.train), split).metrics
    uniform = evaluate(DIN(**FAST, attention="uniform").fit(split.train, split.valid), split).metrics
    assert din["ndcg@10"] > 1.5 * pop["ndcg@10"]
    assert din["hr@10"] > pop["hr@10"] + 0.1
    assert din["ndcg@10"] > uniform["ndcg@10"] + 0.02


def test_unknown_attention_is_refused_by_name(split):
    with pytest.raises(ValueError, match="attention"):
        DIN(**FAST, attention="softmax").fit(split.train)
