"""`datasets synth`: planted-persona data at scale, written in chunks, with the truth beside it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from personae.cli import main
from personae.data.readers import Columns, read_interactions, read_item_info
from personae.data.synth import SynthOptions, write_synthetic

SMALL = SynthOptions(users=700, items=400, topics=8, seed=3, chunk_users=256)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synth")
    write_synthetic(SMALL, folder)
    return folder


def _read(folder, name):
    return pd.read_parquet(folder / name)


def test_every_event_persona_is_a_topic_of_its_user_and_the_topic_of_its_item(synth_dir):
    events = _read(synth_dir, "event_personas.parquet")
    users = _read(synth_dir, "users.parquet").set_index("user_id")
    items = _read(synth_dir, "items.parquet").set_index("item_id")
    persona_topic = [users.topics[u][p] for u, p in zip(events.user_id, events.persona)]
    assert np.array_equal(persona_topic, items.topic[events.item_id].to_numpy())


def test_truth_rows_line_up_with_the_interactions(synth_dir):
    events = _read(synth_dir, "interactions.parquet")
    truth = _read(synth_dir, "event_personas.parquet")
    assert events[["user_id", "item_id"]].equals(truth[["user_id", "item_id"]])


def test_users_have_one_to_three_distinct_personas_whose_weights_sum_to_one(synth_dir):
    users = _read(synth_dir, "users.parquet")
    assert len(users) == SMALL.users
    sizes = users.topics.map(len)
    assert sizes.between(1, 3).all() and set(sizes) == {1, 2, 3}
    assert (users.topics.map(lambda t: len(set(t))) == sizes).all()
    assert np.allclose(users.weights.map(sum), 1.0, atol=1e-5)


def test_time_increases_within_each_user_and_no_pair_repeats(synth_dir):
    events = _read(synth_dir, "interactions.parquet")
    assert (events.groupby("user_id").timestamp.diff().dropna() > 0).all()
    assert not events.duplicated(["user_id", "item_id"]).any()


def test_popularity_falls_with_rank_within_a_topic_and_is_flat_without_zipf(tmp_path, synth_dir):
    def head_share(folder):  # share of events on the first tenth of each topic's items
        events, items = _read(folder, "interactions.parquet"), _read(folder, "items.parquet").set_index("item_id")
        rank, size = items.popularity_rank[events.item_id], items.groupby("topic").size()[items.topic[events.item_id]]
        return float((rank.to_numpy() < size.to_numpy() / 10).mean())

    flat = SynthOptions(users=700, items=400, topics=8, seed=3, zipf=0.0)
    write_synthetic(flat, tmp_path)
    assert head_share(synth_dir) > 0.3
    assert head_share(tmp_path) == pytest.approx(0.1, abs=0.03)


def test_chunk_size_does_not_change_the_data(tmp_path, synth_dir):
    write_synthetic(SynthOptions(users=700, items=400, topics=8, seed=3, chunk_users=100_000), tmp_path)
    for name in ("interactions.parquet", "event_personas.parquet", "users.parquet", "items.parquet"):
        assert _read(tmp_path, name).equals(_read(synth_dir, name)), name


def test_the_readers_load_the_data_with_item_topics_as_genres(synth_dir):
    data = read_interactions(synth_dir / "interactions.parquet", Columns("user_id", "item_id", "timestamp"))
    info = read_item_info(synth_dir / "items.parquet", "item_id", data)
    assert len(data) == len(_read(synth_dir, "interactions.parquet"))
    assert info.genres[0] == [f"topic{int(data.item_ids[0]) * SMALL.topics // SMALL.items}"]


def test_dataset_json_describes_every_file_written(synth_dir):
    description = json.loads((synth_dir / "dataset.json").read_text())
    assert sorted(description["files"]) == sorted(p.name for p in synth_dir.glob("*.parquet"))
    assert description["counts"]["events"] == len(_read(synth_dir, "interactions.parquet"))


@pytest.mark.parametrize("args, fragment", [
    (["--users", "0", "--items", "10", "--topics", "2"], "--users 0"),
    (["--users", "5", "--items", "3", "--topics", "4"], "--topics 4"),
])
def test_bad_arguments_give_one_error_line(tmp_path, capsys, args, fragment):
    status = main(["datasets", "synth", *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
