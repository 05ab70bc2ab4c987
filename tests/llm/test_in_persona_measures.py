"""Measures of staying in persona on cases whose answer is known (no language model: MiniLM only)."""

import numpy as np
import pytest

from personae.llm.assistant_likeness import offers_help_or_ai, train_assistant_likeness
from personae.llm.bank import read_data_json
from personae.llm.in_persona import (
    copies_an_example,
    drift,
    echoes_description,
    embedding_judge,
    embedding_judge_vs,
    silhouette,
    silhouette_of_accepted,
    silhouette_with_null,
    slope_over_turns,
    without_names,
)
from personae.llm.user_routes import (
    ExampleLinesRoute,
    ExampleTranscriptRoute,
    LatentRoute,
    LatentSteeredTranscriptRoute,
    TranscriptRoute,
    TurnContext,
    echoes_stage_direction,
    echoes_the_request,
    load_simulated_users,
)
from personae.llm.users import parse_routes

LINES = read_data_json("user_lines.json")["lines"]


def test_help_and_ai_phrases_are_flagged_and_user_lines_are_not():
    assert offers_help_or_ai("Hello! I'm here to help. What can I do for you?")
    assert offers_help_or_ai("As an AI language model, I don't have feelings.")
    assert not offers_help_or_ai("bro my fps is trash rn")
    assert sum(offers_help_or_ai(x) for x in LINES) == 0  # the shipped user lines never read as the assistant


def test_classifier_trained_on_two_halves_of_the_same_user_lines_cannot_beat_chance():
    # No effect by construction: both "classes" are user lines, dealt at random.
    order = np.random.default_rng(0).permutation(len(LINES))
    half = len(LINES) // 2
    res = train_assistant_likeness([LINES[i] for i in order[:half]], [LINES[i] for i in order[half:2 * half]],
                                   n_null=3)
    assert res.validation["beats_chance"] is False
    assert res.validation["heldout_accuracy"]["low"] < 0.5
    flagged = res.validation["user_lines_flagged"]
    assert flagged["n_units"] == res.validation["n_heldout_lines"] and flagged["low"] <= flagged["estimate"]
    # Per-line accuracy is the mean of the user line and its reply being right, so the two error rates add up.
    errors = flagged["estimate"] + res.validation["replies_missed"]["estimate"]
    assert errors == pytest.approx(2 * (1 - res.validation["heldout_accuracy"]["estimate"]))


def test_shipped_user_lines_state_their_provenance():
    data = read_data_json("user_lines.json")
    assert "Written by hand for personae" in data["provenance"] and len(data["lines"]) >= 80


def test_slope_over_turns_skips_unreadable_turns():
    y = np.array([[0.0, 1.0, np.nan, 3.0]])
    assert slope_over_turns(y)[0] == pytest.approx(1.0)


def test_flat_consistency_shows_no_drift_and_a_planted_fall_does():
    rng = np.random.default_rng(1)
    flat = rng.normal(0.5, 0.1, size=(6, 2, 2, 8))  # no order at all
    res = drift(flat, n_null=100)
    assert res["slope_per_turn"]["low"] <= 0 <= res["slope_per_turn"]["high"]
    falling = flat - 0.05 * np.arange(8)
    res = drift(falling, n_null=100)
    assert res["slope_per_turn"]["high"] < 0 and res["slope_per_turn"]["unit"] == "personas"


def test_silhouette_of_texts_unrelated_to_their_persona_does_not_beat_the_shuffled_null():
    rng = np.random.default_rng(2)
    texts = [[LINES[i] for i in rng.choice(len(LINES), 4, replace=False)] for _ in range(3)]  # [run][persona]
    assert silhouette_with_null(texts, n_null=100)["p_value"] > 0.05


def test_silhouette_is_one_for_identical_points_per_label():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert silhouette(x, np.array([0, 0, 1, 1])) == pytest.approx(1.0)


def test_unknown_route_letters_are_refused_by_name():
    assert parse_routes("a, b,F") == ["a", "b", "f"]
    with pytest.raises(ValueError, match="choose from"):
        parse_routes("a,z")


def test_latent_route_draws_the_same_intent_for_the_same_turn_and_puts_profile_and_intent_in_the_prompt():
    users = load_simulated_users(read_data_json("simulated_users.json"))
    route = LatentRoute(intents=("ask a question", "complain"), seed=3)
    ctx = TurnContext(users[0], users[0].description, "Hi!", [], (0, 1, 2, 3))
    assert route.intent((0, 1, 2, 3)) == route.intent((0, 1, 2, 3))
    prompt = route.system_prompt(ctx)
    assert "Your profile:" in prompt and route.intent((0, 1, 2, 3)) in prompt


def test_route_k_writes_route_cs_profile_and_intent_into_route_bs_transcript_and_b_is_unchanged():
    users = load_simulated_users(read_data_json("simulated_users.json"))
    ctx = TurnContext(users[0], users[0].description, "Hi!", [("Hello.", "Ahoy.")], (0, 1, 2, 3))
    b = TranscriptRoute().request(ctx)
    assert b == (f"The following is a text-message conversation between Dolores and an AI assistant. "
                 f"{users[0].description}.\n\nAI assistant: Hello.\nDolores: Ahoy.\nAI assistant: Hi!\nDolores:")
    intents = ("ask a question", "complain", "agree")
    k = LatentSteeredTranscriptRoute(intents=intents, seed=3).request(ctx)
    intent = LatentRoute(intents=intents, seed=3).intent((0, 1, 2, 3))  # the intent c draws for the same key
    assert k.endswith(f"AI assistant: Hi!\n(Next, Dolores will {intent}.)\nDolores:")
    assert users[0].profile["goal"] in k and k.count("Dolores's profile:") == 1
    route = LatentSteeredTranscriptRoute(intents=intents, seed=3)
    directions = {route.request(TurnContext(users[0], users[0].description, "Hi!", [], (0, 1, 2, t))).split(
        "\n")[-2] for t in range(8)}  # the stage direction of each turn: drawn per turn, not fixed per session
    assert len(directions) >= 2 and directions <= {f"(Next, Dolores will {i}.)" for i in intents}


def test_route_l_is_route_bs_transcript_with_the_personas_example_lines_quoted_in_its_header():
    users = load_simulated_users(read_data_json("simulated_users.json"))
    ctx = TurnContext(users[0], users[0].description, "Hi!", [("Hello.", "Ahoy.")], (0, 1, 2, 3))
    b, l_ = TranscriptRoute().request(ctx), ExampleTranscriptRoute().request(ctx)
    quoted = " ".join(f'"{e}"' for e in users[0].examples)
    assert l_ == b.replace(f"{users[0].description}.\n\n",
                           f"{users[0].description}. Messages Dolores has sent before: {quoted}\n\n")
    assert l_.endswith("AI assistant: Hi!\nDolores:") and parse_routes("b,l,m") == ["b", "l", "m"]


def test_a_line_copies_an_example_only_when_it_repeats_four_of_its_words_in_a_row():
    examples = ("My ship is late again and the port fees are eating me alive.", "Just tell me the cheap way.")
    assert copies_an_example("well, just tell me the cheap way please", examples)
    assert not copies_an_example("the port is fine, my fees are paid", examples)  # words shared, never 4 in a row
    assert not copies_an_example("Hello! How can I help you today?", ())


def test_a_line_echoes_the_stage_direction_only_when_it_repeats_the_parenthesis():
    assert echoes_stage_direction("(Next, Obi will say why I feel this way.)")
    assert echoes_stage_direction("fine thanks (next, she will say goodbye to the AI assistant.")
    assert echoes_stage_direction("(Next, Dolores explains how she has to") and echoes_stage_direction("(The next, Kai")
    assert echoes_stage_direction("(Further, the AI will respond with another")
    assert not echoes_stage_direction("Next, I will call my sister and ask her.")  # a user's own plan
    assert not echoes_stage_direction("(sighs) the next bus will be late again")
    # Lines no route k wrote: none of the shipped user-style lines echoes it (the control).
    assert not any(echoes_stage_direction(x) for x in read_data_json("user_lines.json")["lines"])


def test_the_persona_bank_has_60_distinct_personas_with_a_profile_and_three_examples_each():
    data = read_data_json("simulated_users.json")
    users = load_simulated_users(data)
    assert len(users) == 60 and len({u.name for u in users}) == 60 and "60 user personas" in data["description"]
    assert all(set(u.profile) == {"age", "situation", "goal", "style"} and len(u.examples) == 3 for u in users)


def test_example_lines_route_shows_the_personas_own_lines():
    users = load_simulated_users(read_data_json("simulated_users.json"))
    ctx = TurnContext(users[1], users[1].description, "Hi!", [], (1, 0, 0, 0))
    assert all(line in ExampleLinesRoute().system_prompt(ctx) for line in users[1].examples)


def test_a_revision_that_pastes_its_request_back_is_an_echo_and_a_rewrite_is_not():
    old = "Kai, a 15-year-old gamer who types in lowercase and uses lots of slang."
    flagged = ["Hello! I'm here to help you with anything you need."]
    assert echoes_the_request(old + " Wrote these lines, which a reviewer found odd.", old, flagged)
    assert echoes_the_request("kai says: hello! i'm here to help you with anything you need.", "Kai.", flagged)
    assert echoes_the_request("Rewrite: Kai is a gamer.", "Kai.", flagged)
    assert echoes_the_request("   ", old, flagged)
    assert not echoes_the_request("Kai is a teenage gamer who never offers help and answers in short slang.", old,
                                  flagged)


def test_when_every_revision_is_an_echo_no_silhouette_is_given():
    """The case built to show nothing: rejected revisions keep the old text, which would cluster perfectly by
    persona; the figure is withheld and the count says why."""
    texts = [[LINES[0], LINES[1]], [LINES[0], LINES[1]]]  # [run][persona]
    res = silhouette_of_accepted(texts, [[False, False], [False, True]], n_null=20)
    assert res["observed"] is None and res["accepted"] == 1 and res["revisions"] == 4
    assert "1 of 4 revisions were accepted" in res["reason"]


def test_accepted_revisions_get_a_silhouette_with_its_null():
    texts = [[LINES[0], LINES[5]], [LINES[1], LINES[6]], [LINES[2], LINES[7]]]
    res = silhouette_of_accepted(texts, [[True, True]] * 3, n_null=20)
    assert res["accepted"] == 6 and res["n_texts"] == 6 and "p_value" in res


USERS = load_simulated_users(read_data_json("simulated_users.json"))


def test_embedding_judge_gives_no_effect_for_lines_dealt_to_personas_at_random():
    # No effect by construction: every persona's "lines" are the same kind of shipped user line, dealt at random.
    rng = np.random.default_rng(3)
    lines = np.array(LINES, dtype=object)[rng.choice(len(LINES), size=(8, 1, 2, 4))]
    res = embedding_judge(lines, [u.description for u in USERS[:8]], [u.name for u in USERS], n_null=100)
    diff = res["cosine_own_vs_mismatched"]
    assert diff["low"] <= 0 <= diff["high"] and diff["unit"] == "personas" and diff["n_units"] == 8
    assert res["shuffled_labels_null"]["p_value"] > 0.05 and res["chance"] == pytest.approx(1 / 8)


def test_embedding_judge_finds_each_personas_own_example_lines():
    users = USERS[:8]
    lines = np.array([[[u.examples[:3]]] for u in users], dtype=object)  # (8, 1, 1, 3)
    res = embedding_judge(lines, [u.description for u in users], [u.name for u in users], n_null=100)
    assert res["cosine_own_vs_mismatched"]["low"] > 0
    assert res["nearest_description_is_own"]["estimate"] > 0.5 and res["shuffled_labels_null"]["p_value"] < 0.05


def test_a_line_that_only_says_its_name_is_not_in_persona_to_the_embedding_judge():
    assert without_names("Hi, I'm Dolores! Dolores here.", ["Dolores", "Kai"]) == "Hi, I'm X! X here."
    assert without_names("Kaiser roll", ["Kai"]) == "Kaiser roll"


def test_lines_that_copy_their_description_are_counted_as_echoes_and_left_out_of_the_control():
    users = USERS[:4]
    assert echoes_description("Sure! I'm X, " + users[0].description, users[0].description)
    assert not echoes_description("ok whatever, my ship is late again", users[0].description)
    lines = np.array([[[[u.description, u.description]]] for u in users], dtype=object)  # (4, 1, 1, 2)
    res = embedding_judge(lines, [u.description for u in users], [u.name for u in users], n_null=20)
    assert res["echoes_description_share"]["estimate"] == 1.0
    assert res["nearest_is_own_without_echoes"] is None and res["without_echoes_null"] is None


def test_a_route_compared_with_itself_by_the_embedding_judge_shows_no_difference():
    users = USERS[:6]
    lines = np.array([[[u.examples[:2]]] for u in users], dtype=object)
    res = embedding_judge(lines, [u.description for u in users], [u.name for u in users], n_null=20)
    vs = embedding_judge_vs(res, res)
    assert vs["nearest_is_own_vs_a"]["estimate"] == 0 and vs["nearest_is_own_vs_a"]["n_units"] == 6


def test_routes_that_cannot_run_on_the_given_models_are_refused_before_anything_is_built(monkeypatch):
    """A missing base model, adapter or hidden states used to surface after the replies, classifier and judges
    were built (minutes on a real model); now it is the first thing checked. The endpoint is never called."""
    from personae.llm.backends import BackendError, OpenAIBackend
    from personae.llm.users import run_simulated_users

    monkeypatch.setenv("OPENAI_API_KEY", "unused")
    remote = OpenAIBackend("http://127.0.0.1:9/v1", "never-called")  # port 9: nothing listens, nothing is sent
    data, lines = read_data_json("simulated_users.json"), read_data_json("user_lines.json")["lines"]
    for routes, message in ((["a", "j"], "route j steers hidden states"), (["h"], "route h needs --base-model"),
                            (["g"], "route g needs --adapter DIR")):
        with pytest.raises(BackendError, match=message):
            run_simulated_users(remote, data, lines, routes=routes, n_personas=2, runs=1, n_turns=2, n_scripts=1)
