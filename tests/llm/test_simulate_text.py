"""The simulator's optional text layer: persona prompts, choice parsing, and the lab's judge over simulated
users, through a fake OpenAI-compatible server (named fake: no real endpoint here) (the local model path is the lab's backend, tested in test_local_model.py)."""

from __future__ import annotations

import numpy as np
import pytest

from personae.llm.backends import OpenAIBackend
from personae.models.ampcf import AMPCF
from personae.simulate.text import parse_choice, persona_prompt, slate_turns, text_study


@pytest.fixture(scope="module")
def tiny_ampcf(planted_split):
    return AMPCF(personas=2, dim=4, epochs=3, patience=3, progress=False).fit(planted_split.train)


def test_persona_prompt_names_the_profile_and_the_tastes_heaviest_first():
    prompt = persona_prompt(["Horror", "Drama / Romance"], np.array([0.3, 0.7]),
                            {"age": 24, "gender": "F", "occupation": "engineer"})
    assert "24-year-old woman, an engineer" in prompt
    assert prompt.index("Drama / Romance (70%)") < prompt.index("Horror (30%)")


def test_choice_is_the_first_number_that_names_a_slate_position():
    assert parse_choice("I pick 3, because I love thrillers.", 5) == 2
    assert parse_choice("In 1999 I saw it; number 2 then.", 5) == 1
    assert parse_choice("None of these, sorry.", 5) is None
    assert "1. A; 2. B" in slate_turns([["A", "B"]])[0]


def test_simulated_users_talk_through_a_fake_remote_endpoint_and_are_judged(fake_openai_server, tiny_ampcf):
    url, seen = fake_openai_server
    backend = OpenAIBackend(url, "fake-model", api_key_env="FAKE_LLM_KEY")
    users = list(tiny_ampcf.fitted_data.user_ids[:2])
    report = text_study(backend, tiny_ampcf, users, turns=2, slate=3, probe_genres=["cluster0"])
    assert report["prompt_to_line"] == 1.0  # the fake judge always answers YES
    assert all(len(p["choices"]) == 2 for p in report["personas"])
    assert any("Which one do you pick?" in m["content"] for r in seen for m in r["body"]["messages"])

