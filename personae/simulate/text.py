"""Optional text layer: a simulated user speaks, through the LLM lab's backends and dialogue harness.

Each simulated user gets a persona prompt built from its profile (age, gender, occupation where known) and its
persona mix (lift labels and prior weights). Shown a slate of titles each turn, it replies with its choice and a
one-line reason. Text consistency is the lab's judge (``personae.llm.persona_consistency.run_consistency``) with the
three metrics of arXiv:2511.00222, and the lab's control: every line also judged against another user's prompt.
Works with the local model offline or any OpenAI-compatible endpoint (``personae.llm.backends.load_backend``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from personae.llm.backends import LLMBackend
from personae.llm.persona_consistency import Judge, run_consistency
from personae.models.base import Recommender

_NUMBER = re.compile(r"\b(\d{1,2})\b")


def persona_prompt(labels: list[str], weights: np.ndarray, profile: dict | None = None) -> str:
    """'You are a 24-year-old man, a technician. Your film tastes: Action / Sci-Fi (60%), Drama (40%). ...'"""
    who = "a film viewer"
    if profile:
        parts = []
        if pd.notna(profile.get("age")):
            parts.append(f"{int(profile['age'])}-year-old")
        gender = {"M": "man", "F": "woman"}.get(str(profile.get("gender")), "person")
        parts.append(gender)
        who = "a " + " ".join(parts)
        if profile.get("occupation") and str(profile["occupation"]) not in ("none", "other"):
            occupation = str(profile["occupation"])
            who += f", {'an' if occupation[0] in 'aeiou' else 'a'} {occupation}"
    order = np.argsort(-np.asarray(weights))
    tastes = ", ".join(f"{labels[k]} ({100 * weights[k]:.0f}%)" for k in order)
    return (f"You are {who}. Your film tastes: {tastes}. You are browsing a film site. "
            "Stay in character and answer briefly.")


def slate_turns(titles: list[list[str]]) -> list[str]:
    """One partner line per slate: the numbered titles and the request for a choice with a reason."""
    return ["Here are some films: " + "; ".join(f"{i + 1}. {t}" for i, t in enumerate(slate)) +
            ". Which one do you pick? Answer with its number and one short reason." for slate in titles]


def parse_choice(reply: str, slate_size: int) -> int | None:
    """The first number in the reply that names a slate position (0-based), or None."""
    for match in _NUMBER.finditer(reply):
        value = int(match.group(1))
        if 1 <= value <= slate_size:
            return value - 1
    return None


def genre_probes(genres: list[str]) -> list[str]:
    return [f"How much do you like {g} films, from 1 (not at all) to 5 (very much)? Answer briefly." for g in genres]


def text_study(backend: LLMBackend, model: Recommender, user_ids: list[str], turns: int = 4, slate: int = 5,
               profiles: pd.DataFrame | None = None, probe_genres: list[str] | None = None,
               max_new_tokens: int = 32, seed: int = 0, judge: Judge | None = None) -> dict:
    """Simulated users (from ``model``'s persona mixes) talk over the same slates (the catalogue's most popular
    titles, paged); returns the lab's consistency report plus each user's parsed choices."""
    data = model.fitted_data
    personas = []
    for row, user in enumerate(user_ids):
        mix = model.user_personas(user)
        profile = None if profiles is None else profiles.iloc[row].to_dict()
        personas.append({"name": str(user), "prompt": persona_prompt(mix.labels, mix.weights, profile)})
    ranked = np.argsort(-data.item_popularity, kind="stable")[: turns * slate]
    titles = [data.item_titles(ranked[t * slate:(t + 1) * slate]) for t in range(turns)]
    probes = genre_probes(probe_genres or ["Drama", "Horror"])
    report = run_consistency(backend, personas, slate_turns(titles), probes, judge=judge, n_turns=turns,
                             n_probes=len(probes), max_new_tokens=max_new_tokens, seed=seed)
    k = len(probes)
    for entry in report["personas"]:
        replies = [t["reply"] for t in entry["transcript"]["turns"][k:k + turns]]
        choices = [parse_choice(r, slate) for r in replies]
        entry["choices"] = [None if c is None else str(data.item_ids[ranked[t * slate + c]])
                            for t, c in enumerate(choices)]
    parsed = [c is not None for e in report["personas"] for c in e["choices"]]
    report["choice_parsed_share"] = float(np.mean(parsed)) if parsed else 0.0
    return report
