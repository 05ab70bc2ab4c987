"""Drift in conversation: how a persona's projection on the default-persona axis moves turn by turn,
by conversation type (factual, emotional, meta-reflective scripts in personae/llm/data/conversations.json)."""

from __future__ import annotations

import time

import numpy as np

from personae.llm.backends import HiddenStatesUnavailable, LLMBackend
from personae.llm.dialogue import run_dialogues
from personae.llm.space import PersonaSpace


def persona_prompt(name: str) -> str:
    return f"You are {'an' if name[0] in 'aeiou' else 'a'} {name}. Stay fully in character in every reply."


def slope(y: np.ndarray) -> float:
    """Least-squares slope of y over turn index 0..T-1 (projection units per turn)."""
    t = np.arange(len(y), dtype=float)
    return float(np.polyfit(t, y, 1)[0]) if len(y) >= 2 else 0.0


def run_drift(backend: LLMBackend, space: PersonaSpace, personas: list[str], scripts: dict[str, list[list[str]]], *,
              n_turns: int = 6, n_scripts: int | None = None, max_new_tokens: int = 32, seed: int = 0) -> dict:
    """Every persona x every script of every type, as one batched set of dialogues. Per turn, the reply's
    projection on the unit axis at the space's layer. Drift = last-turn minus first-turn projection
    (positive: toward the default persona), and the slope per turn."""
    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"drift needs hidden states; backend '{backend.name}' has none")
    t0 = time.time()
    u = space.unit_axis(space.layer)
    jobs = [(kind, p, s) for kind, lst in scripts.items() for s in lst[:n_scripts] for p in personas]
    transcripts = run_dialogues(backend, [persona_prompt(p) for _, p, _ in jobs], [s[:n_turns] for _, _, s in jobs],
                                max_new_tokens=max_new_tokens, seed=seed, history_turns=None)
    proj = np.array([[t.activation[space.layer] @ u for t in tr.turns] for tr in transcripts])  # (jobs, T)
    default_level = float(space.default_sample_projections[:, space.layer].mean())
    role_level = float(space.role_sample_projections[:, space.layer].mean())
    by_type = {}
    for kind in scripts:
        rows = proj[[j for j, job in enumerate(jobs) if job[0] == kind]]  # (n, T)
        mean = rows.mean(0)
        by_type[kind] = {"mean_projection_by_turn": mean.tolist(), "drift_last_minus_first": float(mean[-1] - mean[0]),
                         "slope_per_turn": slope(mean), "n_conversations": len(rows),
                         "per_conversation_drift": (rows[:, -1] - rows[:, 0]).tolist()}
    return {"layer": space.layer, "n_turns": proj.shape[1], "personas": personas, "max_new_tokens": max_new_tokens,
            "default_projection_level": default_level, "role_projection_level": role_level, "by_type": by_type,
            "transcripts": [{"type": k, "persona": p, **tr.to_dict()} for (k, p, _), tr in zip(jobs, transcripts)],
            "seconds": round(time.time() - t0, 1)}


def plot_drift(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for kind, r in result["by_type"].items():
        y = r["mean_projection_by_turn"]
        ax.plot(range(1, len(y) + 1), y, "o-", label=f"{kind} (drift {r['drift_last_minus_first']:+.2f})")
    ax.axhline(result["default_projection_level"], color="C3", ls="--", lw=1, label="default persona level")
    ax.axhline(result["role_projection_level"], color="gray", ls=":", lw=1, label="role replies level (axis build)")
    ax.set(xlabel="turn", ylabel=f"projection on default axis (layer {result['layer']})",
           title=f"Persona drift, {len(result['personas'])} personas")
    ax.legend(fontsize=7)
    save_figure(fig, path)
