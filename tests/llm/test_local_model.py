"""End to end on the real built-in SmolLM2-135M-Instruct (loaded once per session), tiny sizes."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from personae.cli.llm import app
from personae.llm.activation_capping import capped, perplexity
from personae.llm.bank import load_role_bank
from personae.llm.dialogue import PersonaDialogue
from personae.llm.space import build_persona_space

pytestmark = pytest.mark.slow


def test_local_backend_chats_scores_options_and_exposes_hidden_states(smol):
    convs = [[{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Hi"}],
             [{"role": "user", "content": "Hi"}]]
    replies = smol.chat(convs, max_new_tokens=4)
    assert len(replies) == 2 and all(isinstance(r, str) and r for r in replies)
    assert smol.chat(convs, max_new_tokens=4) == replies  # greedy is deterministic
    probs = smol.choose(convs, ["1", "2", "3", "4", "5"])
    assert probs.shape == (2, 5) and np.allclose(probs.sum(1), 1.0)
    acts = smol.response_activations(convs, replies)
    assert acts.shape == (2, smol.n_layers, smol.model.config.hidden_size)
    assert np.isfinite(acts).all() and not np.allclose(acts[0], acts[1])


def test_sampling_with_different_seeds_gives_different_replies(smol):
    conv = [[{"role": "user", "content": "Tell me a story."}]]
    outs = {smol.chat(conv, max_new_tokens=6, temperature=1.0, seed=s)[0] for s in range(3)}
    assert len(outs) >= 2


def test_capping_at_a_high_threshold_changes_the_model_and_perplexity(smol):
    d = smol.model.config.hidden_size
    v = np.zeros(d, dtype=np.float32)
    v[0] = 1.0
    base = perplexity(smol, "The river runs through the old market town.")
    with capped(smol.model, {10: v}, {10: 1e3}):  # every state forced far along v: must hurt
        hurt = perplexity(smol, "The river runs through the old market town.")
    assert hurt > base * 1.5
    assert perplexity(smol, "The river runs through the old market town.") == pytest.approx(base, rel=1e-5)


def test_persona_dialogue_records_one_activation_per_turn(smol):
    tr = PersonaDialogue(smol, "You are a cowboy.", max_new_tokens=4).run(["Howdy", "Where are you from?"])
    assert len(tr.turns) == 2
    assert all(t.activation.shape == (smol.n_layers, smol.model.config.hidden_size) for t in tr.turns)


def test_axis_on_three_roles_gives_a_summary_in_range(smol):
    space, transcripts = build_persona_space(smol, load_role_bank().subset(3, 1, 2), max_new_tokens=4)
    s = space.summary()
    assert space.role_vectors.shape == (3, smol.n_layers, smol.model.config.hidden_size)
    assert s["layer"] == smol.n_layers // 2
    assert 0 < s["pc1_explained"] <= 1 and -1 <= s["axis_pc1_cosine"] <= 1
    assert np.isfinite(s["default_pc1_position"])
    assert len(transcripts) == 3 * 1 * 2 + 2


def _run(args):
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    return r


@pytest.fixture(scope="module")
def axis_dir(tmp_path_factory, smol):
    out = tmp_path_factory.mktemp("axis")
    _run(["axis", "--out", str(out), "--roles", "3", "--prompts", "1", "--questions", "2", "--max-new-tokens", "4"])
    return out


def test_cli_axis_writes_summary_vectors_and_figures(axis_dir):
    summary = json.loads((axis_dir / "summary.json").read_text())
    for key in ("pc1_explained", "axis_pc1_cosine", "default_pc1_position", "layer"):
        assert key in summary
    for name in ("vectors.safetensors", "explained_variance.png", "pc_scatter.png", "axis_by_layer.png"):
        assert (axis_dir / name).stat().st_size > 0


def test_cli_cap_reports_pull_back_and_perplexity(axis_dir, tmp_path):
    _run(["cap", "--out", str(tmp_path), "--axis", str(axis_dir), "--roles", "2", "--questions", "1",
          "--calibration-roles", "2", "--calibration-questions", "1", "--percentiles", "50", "--max-new-tokens", "4"])
    res = json.loads((tmp_path / "capping.json").read_text())
    assert res["n_replies"] == 2 and len(res["cap_layers"]) == 8 and res["percentile"] == 50.0
    assert res["perplexity_uncapped"] > 1 and res["perplexity_capped"] > 1
    assert np.isfinite(res["capped_role_projection"]) and (tmp_path / "capping.png").is_file()


def test_cli_drift_gives_one_projection_per_turn_per_type(axis_dir, tmp_path):
    _run(["drift", "--out", str(tmp_path), "--axis", str(axis_dir), "--personas", "2", "--turns", "2",
          "--scripts", "1", "--max-new-tokens", "4"])
    res = json.loads((tmp_path / "drift.json").read_text())
    assert set(res["by_type"]) == {"factual", "emotional", "meta_reflective", "pressure"}
    assert all(len(r["mean_projection_by_turn"]) == 2 for r in res["by_type"].values())
    assert (tmp_path / "drift.png").is_file()


def test_cli_icc_measures_ratings_and_free_text(smol, tmp_path):
    _run(["icc", "--out", str(tmp_path), "--personas", "2", "--runs", "2", "--items", "3", "--open-questions", "1",
          "--max-new-tokens", "4"])
    res = json.loads((tmp_path / "icc.json").read_text())
    for kind in ("movies", "statements", "free_text"):
        assert "icc1_pooled" in res[kind] and "var_within_pooled" in res[kind]
    answers = np.array(res["movies"]["answers"], dtype=float)
    assert answers.shape == (2, 2, 3) and set(np.unique(answers[~np.isnan(answers)])) <= {1, 2, 3, 4, 5}


def test_cli_consistency_scores_in_unit_range(smol, tmp_path):
    _run(["consistency", "--out", str(tmp_path), "--personas", "2", "--turns", "1", "--probes", "1",
          "--max-new-tokens", "4"])
    res = json.loads((tmp_path / "consistency.json").read_text())
    for key in ("prompt_to_line", "line_to_line", "qa", "prompt_to_line_mismatched"):
        assert 0 <= res[key] <= 1
    assert res["n_turns"] == 3 and len(res["prompt_to_line_by_turn"]) == 3


def test_minilm_embeddings_are_unit_norm_and_put_paraphrases_closer():
    from personae.llm.embeddings import embed

    e = embed(["I love sailing on the sea.", "Sailing the ocean is my passion.", "Tax forms are due in April."])
    assert e.shape == (3, 384)
    assert np.allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
