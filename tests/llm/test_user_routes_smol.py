"""The simulated-user routes and their measures end to end on the real SmolLM2-135M-Instruct, tiny sizes."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from personae.cli.llm import app
from personae.llm.adapters import META, WEIGHTS
from personae.llm.backends import BackendError, load_backend
from personae.llm.bank import read_data_json
from personae.llm.in_persona import compare_routes
from personae.llm.learned_simulator import train_simulator
from personae.llm.user_routes import (
    LatentSteeredTranscriptRoute,
    ResampledLatentSteeredTranscriptRoute,
    RouteTranscripts,
    TranscriptRoute,
    TurnContext,
    echoes_stage_direction,
    load_simulated_users,
    run_route,
)
from personae.llm.users import line_log_perplexity

pytestmark = pytest.mark.slow

DATA = read_data_json("simulated_users.json")


def test_transcript_route_continues_as_the_persona_on_one_line(smol):
    users = load_simulated_users(DATA)[:2]
    tr = run_route(TranscriptRoute(), smol, users, [DATA["scripts"][0][:2]], 1, max_new_tokens=8)
    assert tr.shape == (2, 1, 1, 2)
    assert all("\n" not in x for x in tr.texts())
    prompt = TranscriptRoute().request(TurnContext(users[0], users[0].description, "Hi!", [], (0, 0, 0, 0)))
    assert prompt.endswith(f"AI assistant: Hi!\n{users[0].name}:")


def test_route_m_draws_again_exactly_the_lines_where_k_repeats_its_stage_direction(smol):
    users = load_simulated_users(DATA)[:2]
    # Strength 0 on a unit direction: the steering hooks run but add nothing, so only the redraws differ.
    directions = {p: {1: np.ones(smol.model.config.hidden_size)} for p in range(2)}
    # Three of the user's own lines, then one echo of the direction: the model tends to copy it.
    history = [[("How are you?", u.examples[0])] * 3 + [("Hi!", f"(Next, {u.name} will say how they feel.)")]
               for u in users]
    contexts = [TurnContext(u, u.description, DATA["scripts"][s][1], history[p], (p, s, 0, 4))
                for p, u in enumerate(users) for s in range(3)]
    settings = {"directions": directions, "strength": 0.0, "intents": tuple(DATA["intents"]), "seed": 0,
                "user_prompt": DATA["user_prompt"]}
    k, m = LatentSteeredTranscriptRoute(**settings), ResampledLatentSteeredTranscriptRoute(**settings)
    kw = {"max_new_tokens": 12, "temperature": 0.7, "seed": 3}
    k_lines, m_lines = k.generate(smol, contexts, **kw), m.generate(smol, contexts, **kw)
    echoed = [echoes_stage_direction(x) for x in k_lines]
    assert sum(echoed) >= 1, k_lines  # the primed transcript makes k repeat the direction: the case is real
    assert m.redrawn >= sum(echoed)  # m's first draw is k's; every echo was drawn again at least once
    assert all(x == y for x, y, e in zip(k_lines, m_lines, echoed) if not e)  # the other lines are untouched
    assert m.kept_echoes == sum(echoes_stage_direction(y) for y in m_lines) < sum(echoed)


def _transcripts(lines: list[list[str]]) -> RouteTranscripts:
    """lines[p]: one persona's lines as one script, one run."""
    users = load_simulated_users(DATA)[:len(lines)]
    return RouteTranscripts("x", "x", users, [["?"] * len(lines[0])], [[[ls]] for ls in lines], [[]])


def test_fluency_finds_word_salad_and_no_difference_between_two_halves_of_the_shipped_user_lines(smol):
    from personae.stats import compare_paired

    shipped = np.random.default_rng(0).permutation(read_data_json("user_lines.json")["lines"])[:24].tolist()
    halves = [_transcripts([shipped[i:i + 3] for i in range(k, 24, 6)]) for k in (0, 3)]  # lines dealt at random
    one, two = (line_log_perplexity(smol, tr).reshape(4, -1).mean(axis=1) for tr in halves)
    diff = compare_paired(one, two, unit="personas", seeded=False).to_dict()
    assert diff["low"] <= 0 <= diff["high"]  # no effect by construction
    salad = _transcripts([["be r b n j 33 fi c", "Agh, si, go, da, la! Ma la?", "hryrd 3 5 rld w"]] * 4)
    assert line_log_perplexity(smol, salad).mean() > one.mean() + 1.0
    assert np.isnan(line_log_perplexity(smol, _transcripts([[""], ["ok"]]))[0]).all()


def test_simulate_users_runs_every_route_it_can_and_reports_intervals_against_route_a(tmp_path):
    r = CliRunner().invoke(app, ["simulate-users", "--routes", "a,c,e,f,i,j,l,m,o", "--personas", "2", "--runs", "3",
                                 "--turns", "2", "--scripts", "1", "--max-new-tokens", "4", "--best-of", "2",
                                 "--mcq", "2", "--mcq-arithmetic", "2", "--user-lines", "12", "--real-lines", "30",
                                 "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "users.json").read_text())
    real = res["classifier"]["real_user_lines_flagged"]  # the reference: real users' lines, read by the classifier
    assert real["n_units"] == 30 and real["unit"] == "ShareGPT user lines" and "real users' lines flagged" in r.output
    minus = res["routes"]["a"]["assistant_like_minus_real_users"]
    assert minus["estimate"] == pytest.approx(np.mean(res["routes"]["a"]["per_persona"]["assistant_like"])
                                              - real["estimate"])
    assert "30 independent ShareGPT user lines" in minus["method"]
    # The independent n-gram judge reads every route too, against its own 1,500 held-out real users.
    ngram = res["routes"]["a"]["ngram_judge"]
    assert res["ngram_judge"]["n_heldout_lines"] == 1500 and "ngrams features" in res["ngram_judge"]["trained_on"]
    assert ngram["share"]["n_units"] == 2 and "1500 independent held-out ShareGPT user lines" in ngram[
        "minus_reference"]["method"]
    assert res["ngram_judge"]["answering_lines_flagged"]["n_units"] == 30  # --real-lines 30 of the 250
    assert "30 independent ShareGPT user lines answering a question" in ngram["minus_answering"]["method"]
    assert "n-gram judge: assistant-like" in r.output and "answering a question" in r.output
    assert list(res["routes"]) == list("acefijlmo")
    a = res["routes"]["a"]
    assert a["assistant_like_share"]["unit"] == "personas" and a["assistant_like_share"]["n_units"] == 2
    assert "6 lines each" in a["assistant_like_share"]["method"]  # 3 runs x 2 turns per persona
    # Per-persona values are stored, so two non-baseline routes compare after the fact; j against itself: none.
    assert len(res["routes"]["j"]["per_persona"]["assistant_like"]) == 2
    same = compare_routes(res["routes"]["j"], res["routes"]["j"])["p2l"]
    assert same["estimate"] == 0 and not same["effect"]
    itself = compare_routes(res["routes"]["j"], res["routes"]["j"])["assistant_like"]  # shares: a floored interval
    assert itself["estimate"] == 0 and itself["low"] < 0 < itself["high"]
    assert "binomial variance" in itself["method"]
    j_vs_c = compare_routes(res["routes"]["j"], res["routes"]["c"])
    assert j_vs_c["assistant_like"]["unit"] == "personas" and j_vs_c["assistant_like"]["n_units"] == 2
    assert j_vs_c["assistant_like"]["estimate"] == pytest.approx(np.mean(res["routes"]["j"]["per_persona"][
        "assistant_like"]) - np.mean(res["routes"]["c"]["per_persona"]["assistant_like"]))
    assert {"prompt_to_line", "prompt_to_line_mismatched", "line_to_line", "qa"} <= set(a["consistency"])
    assert "interval" in a["icc_embeddings"] and "drift_projection" in a
    assert set(res["vs_baseline"]) == set("cefijlmo")
    redraws = res["routes"]["m"]["stage_direction_redraws"]  # m counts its redraws and the echoes it kept
    assert redraws["retries_per_line"] == 3 and redraws["lines_still_echoing"] == sum(
        echoes_stage_direction(x) for lines in res["routes"]["m"]["transcripts"].values() for x in np.ravel(lines))
    assert res["routes"]["a"]["echoes_stage_direction_share"]["estimate"] == 0  # no stage direction, no echo
    copies = res["routes"]["l"]["copies_example_share"]  # l quotes the examples: lines that copy them counted
    assert copies["unit"] == "personas" and copies["n_units"] == 2 and "mcq_cost" not in res["routes"]["l"]
    assert a["consistency_embedding"]["chance"] == 0.5 and "embedding_nearest_own" in res["vs_baseline"]["c"]
    assert a["log_perplexity"]["unit"] == "personas" and "log_perplexity" in res["vs_baseline"]["e"]
    assert res["routes"]["e"]["mcq_cost"]["n_questions"] == res["routes"]["j"]["mcq_cost"]["n_questions"] == 2
    assert res["routes"]["j"]["mcq_cost"]["cloze"]["n_questions"] == 4  # 2 shipped + 2 generated
    # e, j, m and o steer with the same vector at the same strength: the cost is measured once, with e. (k, whose
    # first draws m shares, generates in test_route_m_draws_again_exactly_the_lines_where_k_repeats_its_stage_direction.)
    assert res["routes"]["m"]["mcq_cost"] == res["routes"]["j"]["mcq_cost"] == res["routes"]["e"]["mcq_cost"]
    assert res["routes"]["o"]["mcq_cost"] == res["routes"]["e"]["mcq_cost"] and res["contrast_weight"] == 1.0
    assert res["routes"]["m"]["mcq_cost"]["measured_with_route"] == "e"
    for letter in "jlmo":  # j, l, m and o continue the transcript, one line per turn
        assert all("\n" not in line for lines in res["routes"][letter]["transcripts"].values()
                   for line in np.ravel(lines))
    sil = res["routes"]["i"]["revised_persona_silhouette"]
    assert sil["revisions"] == 4 and 0 <= sil["accepted"] <= 4  # 2 personas x 2 revisions; echoes rejected
    assert sil["observed"] is not None or "echoed the request" in sil["reason"]
    assert 0 <= res["classifier"]["heldout_accuracy"]["estimate"] <= 1
    assert (tmp_path / "users.png").is_file()


def test_route_h_without_a_base_model_says_what_it_needs(tmp_path):
    r = CliRunner().invoke(app, ["simulate-users", "--routes", "h", "--personas", "2", "--runs", "2", "--turns",
                                 "2", "--scripts", "1", "--real-lines", "0", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "route h needs --base-model" in r.output
    r = CliRunner().invoke(app, ["simulate-users", "--turns", "1", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--turns" in r.output  # one turn has no drift slope: refused before models load


def test_mcq_0_skips_the_cost_only_together_with_mcq_arithmetic_0(tmp_path):
    r = CliRunner().invoke(app, ["simulate-users", "--routes", "j", "--personas", "2", "--runs", "2", "--turns", "2",
                                 "--scripts", "1", "--mcq", "0", "--mcq-arithmetic", "4", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "--mcq 0 measures no MCQ cost" in r.output
    r = CliRunner().invoke(app, ["simulate-users", "--routes", "j", "--personas", "2", "--runs", "2", "--turns", "2",
                                 "--scripts", "1", "--mcq", "0", "--mcq-arithmetic", "0", "--max-new-tokens", "4",
                                 "--user-lines", "12", "--real-lines", "0", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "users.json").read_text())
    assert "mcq_cost" not in res["routes"]["j"]
    assert "real_user_lines_flagged" not in res["classifier"] and "assistant_like_minus_real_users" not in \
        res["routes"]["j"]


def test_route_g_trains_a_lora_adapter_that_reloads_and_changes_the_weights(smol, tmp_path):
    users = load_simulated_users(DATA)[:2]
    meta = train_simulator(smol, users, [DATA["scripts"][0][:2]], DATA["user_prompt"], tmp_path / "adapter",
                           n_candidates=2, steps=3, max_new_tokens=6)
    assert meta["n_examples"] == 4 and "not DPO" in meta["method"]
    assert (tmp_path / "adapter" / WEIGHTS).is_file() and not list((tmp_path / "adapter").glob("*.bin"))
    tuned = load_backend("local", adapter=tmp_path / "adapter")
    name = "model.layers.0.self_attn.q_proj.weight"
    base_w = dict(smol.model.named_parameters())[name]
    tuned_w = dict(tuned.model.named_parameters())[name]
    assert not np.allclose(base_w.detach().numpy(), tuned_w.detach().numpy())
    assert not any("lora" in n for n, _ in smol.model.named_parameters())  # the shared base model is clean again


def test_an_adapter_whose_weights_changed_after_saving_is_refused(smol, tmp_path):
    users = load_simulated_users(DATA)[:2]
    train_simulator(smol, users, [DATA["scripts"][0][:1]], DATA["user_prompt"], tmp_path / "ad", n_candidates=2,
                    steps=1, max_new_tokens=4)
    meta = json.loads((tmp_path / "ad" / META).read_text())
    meta["sha256"][WEIGHTS] = "0" * 64
    (tmp_path / "ad" / META).write_text(json.dumps(meta))
    with pytest.raises(BackendError, match="does not match its SHA-256"):
        load_backend("local", adapter=tmp_path / "ad", batch_size=8)
