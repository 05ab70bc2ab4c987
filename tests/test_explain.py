"""Explanations: lift labels, explanation fields for every model, time-ordered histories, the CLI views."""

from __future__ import annotations

import json

import numpy as np
import pytest

from personae.cli import main
from personae.explain import explained_recommendations, genre_lift, lift_label
from personae.models import MODELS

TINY = {"epochs": 2, "progress": False}


@pytest.fixture(scope="module")
def every_model(planted_split):
    """Every registered model fitted briefly on planted data."""
    fitted = {}
    for name, cls in MODELS.items():
        options = {k: v for k, v in TINY.items() if k in {f for f, _, _ in cls.option_fields()}}
        fitted[name] = cls(**options).fit(planted_split.train, planted_split.valid)
    return fitted


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_explains_with_weights_label_and_supporting_history_items(every_model, planted_split, name):
    model, train = every_model[name], planted_split.train
    user = train.user_ids[4]
    items = model.recommend([user], k=4).item_ids[0]
    history = [str(train.item_ids[i]) for i in model.user_history(user)]
    for why in model.explain(user, items):
        assert why.user_id == user and why.item_id in items
        assert sum(why.persona_weights) == pytest.approx(1.0, abs=1e-5)
        assert why.persona == int(np.argmax(why.persona_weights))
        assert why.label and why.label != "all items"
        assert 1 <= len(why.supporting_items) <= 3 and set(why.supporting_items) <= set(history)
        assert why.supporting_titles == train.item_titles(train.item_index(why.supporting_items))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_gives_personas_with_supporting_items_and_the_history_assignment(every_model, name):
    mix = every_model[name].user_personas(every_model[name].fitted_data.user_ids[4])
    payload = mix.to_dict()
    assert sum(p["weight"] for p in payload["personas"]) == pytest.approx(1.0, abs=1e-5)
    assert {h["persona"] for h in payload["history"]} <= set(mix.persona_ids) | {-1}
    assert len(payload["history"]) == len(mix.history) > 0
    assert all(len(p["supporting_items"]) <= 3 for p in payload["personas"])


def test_the_single_vector_default_names_the_three_newest_items(every_model):
    model = every_model["bpr"]
    user = model.fitted_data.user_ids[7]
    newest = [str(model.fitted_data.item_ids[i]) for i in model.user_history(user)[-3:][::-1]]
    assert model.explain(user, model.recommend([user], k=1).item_ids[0])[0].supporting_items == newest


def test_user_history_is_in_time_order_not_file_order(make_data):
    data = make_data([("u", "a", 30), ("u", "b", 10), ("v", "a", 5), ("u", "c", 20), ("u", "d", 20)])
    ids = [data.item_ids[i] for i in data.user_history(data.user_index("u"))]
    assert ids == ["b", "c", "d", "a"]  # ties in time keep file order (c before d)


def test_lift_names_the_over_represented_genre_not_the_most_frequent(make_data):
    # catalogue: 8 dramas, 2 horror films; the persona: 3 dramas + 2 horror films (drama is commoner in it)
    genres = {str(i): ["Drama"] for i in range(8)} | {"8": ["Horror"], "9": ["Horror"]}
    data = make_data([("u", str(i), i) for i in range(10)], genres=genres)
    persona = data.item_index(["0", "1", "2", "8", "9"])
    assert lift_label(data, persona) == "Horror"
    lifts = genre_lift(data, persona)
    assert lifts["Horror"][0] > 1 > lifts["Drama"][0]


def test_lift_of_a_random_catalogue_sample_shows_no_over_represented_genre(ml100k):
    sample = np.random.default_rng(0).choice(ml100k.n_items, 400, replace=False)
    lifts = genre_lift(ml100k, sample)
    big = {g: lift for g, (lift, count) in lifts.items() if count >= 20}
    assert big and all(0.7 < lift < 1.35 for lift in big.values()), big


@pytest.fixture(scope="module")
def ml100k_ampcf(ml100k_split, tmp_path_factory):
    """ampcf on ml-100k for two epochs (enough for persona structure to show), saved for the CLI."""
    model = MODELS["ampcf"](epochs=2, progress=False).fit(ml100k_split.train, ml100k_split.valid)
    folder = tmp_path_factory.mktemp("explain") / "ampcf"
    model.save(str(folder))
    return model, folder


@pytest.mark.slow
def test_a_user_whose_history_is_mostly_horror_has_a_horror_persona(ml100k_ampcf):
    model, _ = ml100k_ampcf
    data = model.fitted_data
    matrix, names = data.genre_onehot
    horror = matrix[:, names.index("Horror")]
    share = np.array([horror[data.user_history(u)].mean() for u in range(data.n_users)])
    fan = int(np.argmax(share))
    assert share[fan] > 0.5
    labels = model.user_personas(data.user_ids[fan]).labels
    assert any("Horror" in label for label in labels), labels
    assert not all(label.startswith(("Drama", "Comedy")) for label in labels)


@pytest.mark.slow
def test_recommend_explain_json_tags_items_by_persona_with_titles(ml100k_ampcf, capsys):
    _, folder = ml100k_ampcf
    assert main(["recommend", str(folder), "--user", "42", "--k", "5", "--explain", "--json"]) == 0
    entry = json.loads(capsys.readouterr().out)[0]
    assert entry["user"] == "42" and len(entry["items"]) == 5
    for item in entry["items"]:
        assert {"persona", "persona_label", "persona_weights", "supporting_items", "supporting_titles"} <= set(item)
        assert len(item["supporting_titles"]) == len(item["supporting_items"]) == 3


@pytest.mark.slow
def test_recommend_explain_table_groups_items_by_persona(ml100k_ampcf, capsys):
    _, folder = ml100k_ampcf
    assert main(["recommend", str(folder), "--user", "42", "--k", "10", "--explain"]) == 0
    text = capsys.readouterr().out
    assert "because of:" in text and "persona" in text


@pytest.mark.slow
def test_personas_json_lists_every_history_item_with_its_persona(ml100k_ampcf, capsys):
    model, folder = ml100k_ampcf
    assert main(["personas", str(folder), "--user", "42", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    history = model.fitted_data.user_history(model.fitted_data.user_index("42"))
    assert [h["item"] for h in payload["history"]] == [str(model.fitted_data.item_ids[i]) for i in history]
    assert len(payload["personas"]) == 4
    assert all(p["supporting_items"] and p["label"] for p in payload["personas"])
    assert main(["personas", str(folder), "--user", "42"]) == 0
    assert "supported by:" in capsys.readouterr().out


def test_explained_recommendations_match_plain_recommendations(every_model):
    model = every_model["ampcf"]
    user = model.fitted_data.user_ids[2]
    payload = explained_recommendations(model, [user], k=5)[0]
    assert [i["item"] for i in payload["items"]] == model.recommend([user], k=5).item_ids[0]
