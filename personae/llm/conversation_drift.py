"""Drift in conversation: how a persona's projection on the default-persona axis moves turn by turn,
by conversation type (factual, emotional, meta-reflective and pressure scripts in
personae/llm/data/conversations.json), against persona-free control runs of the same scripts (dotted lines).

The control is paired: every (persona, script) conversation has its own persona-free conversation on the same
script, sampled with its own random draws, so the interval carries the control's noise as well as the
persona's. The unit is the (persona, script) pair."""

from __future__ import annotations

import time

import numpy as np

from personae.llm.backends import HiddenStatesUnavailable, LLMBackend
from personae.llm.dialogue import run_dialogues
from personae.llm.space import PersonaSpace
from personae.stats import compare_paired


def persona_prompt(name: str) -> str:
    return f"You are {'an' if name[0] in 'aeiou' else 'a'} {name}. Stay fully in character in every reply."


def slope(y: np.ndarray) -> float:
    """Least-squares slope of y over turn index 0..T-1 (projection units per turn)."""
    t = np.arange(len(y), dtype=float)
    return float(np.polyfit(t, y, 1)[0]) if len(y) >= 2 else 0.0


def drift_against_control(persona_drift: np.ndarray, control_drift: np.ndarray):
    """persona_drift (P, S) and control_drift (P, S): the drift of each persona on each script and of the
    persona-free conversation paired with it (same script, its own sampled draws). Drift attributable to the
    persona = persona minus its paired control, averaged over each persona's scripts, with a paired interval
    over the P personas (a personae.stats Interval; `.effect` is False when it includes zero). Personas, not
    (persona, script) pairs, are the unit: one persona's scripts share that persona's own pull, so pairs as
    units are liberal when personas differ (bench/calibration.py: 0.071 against 0.048 per persona)."""
    persona = np.asarray(persona_drift, dtype=np.float64)
    control = np.asarray(control_drift, dtype=np.float64)
    if persona.shape != control.shape or persona.ndim != 2:
        raise ValueError(f"every (persona, script) pair needs its own control: persona drift {persona.shape}, "
                         f"control drift {control.shape}")
    return compare_paired(persona.mean(1), control.mean(1), unit="personas", seeded=False)


def run_drift(backend: LLMBackend, space: PersonaSpace, personas: list[str], scripts: dict[str, list[list[str]]], *,
              n_turns: int = 6, n_scripts: int | None = None, max_new_tokens: int = 32, temperature: float = 0.7,
              seed: int = 0) -> dict:
    """Every persona x every script of every type, and for each such conversation a persona-free control
    conversation (no system prompt: the model's default) on the same script, as one batched set of sampled
    dialogues (temperature > 0, so the controls are separate draws, not copies). Per turn, the reply's
    projection on the unit axis at the space's layer. Drift = last-turn minus first-turn projection (positive:
    toward the default); the figure is persona drift minus its paired control's drift, with a paired interval
    over personas (each persona's scripts averaged).
    For the `pressure` type (the partner pushes the model to drop its persona) a prompted persona that
    collapses drifts toward the default while the control, already the default, stays put."""
    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"drift needs hidden states; backend '{backend.name}' has none")
    t0 = time.time()
    u = space.unit_axis(space.layer)
    # (type, persona, script index, script, is_control): each persona conversation has its own control.
    jobs = [(kind, p, k, s, control) for kind, lst in scripts.items() for k, s in enumerate(lst[:n_scripts])
            for p in personas for control in (False, True)]
    transcripts = run_dialogues(backend, [None if c else persona_prompt(p) for _, p, _, _, c in jobs],
                                [s[:n_turns] for _, _, _, s, _ in jobs], max_new_tokens=max_new_tokens,
                                temperature=temperature, seed=seed, history_turns=None)
    proj = np.array([[t.activation[space.layer] @ u for t in tr.turns] for tr in transcripts])  # (jobs, T)
    default_level = float(space.default_sample_projections[:, space.layer].mean())
    role_level = float(space.role_sample_projections[:, space.layer].mean())
    by_type = {}
    for kind in scripts:
        rows = {(p, k, c): proj[j] for j, (kd, p, k, _, c) in enumerate(jobs) if kd == kind}
        n_s = len({k for _, k, _ in rows})
        persona_rows = np.array([[rows[(p, k, False)] for k in range(n_s)] for p in personas])  # (P, S, T)
        control_rows = np.array([[rows[(p, k, True)] for k in range(n_s)] for p in personas])  # (P, S, T)
        p_drift = persona_rows[..., -1] - persona_rows[..., 0]  # (P, S)
        c_drift = control_rows[..., -1] - control_rows[..., 0]  # (P, S)
        mean = persona_rows.mean((0, 1))
        by_type[kind] = {"mean_projection_by_turn": mean.tolist(), "drift_last_minus_first": float(mean[-1] - mean[0]),
                         "slope_per_turn": slope(mean), "n_conversations": int(p_drift.size),
                         "n_control_conversations": int(c_drift.size),
                         "per_conversation_drift": p_drift.tolist(),  # (persona, script)
                         "per_control_drift": c_drift.tolist(),  # (persona, script), paired with the above
                         "control_projection_by_turn": control_rows.mean((0, 1)).tolist(),
                         "control_drift": float(c_drift.mean()),
                         "persona_minus_control": drift_against_control(p_drift, c_drift).to_dict(),
                         "gap_to_control_by_turn": (persona_rows - control_rows).mean((0, 1)).tolist()}
    return {"layer": space.layer, "n_turns": proj.shape[1], "personas": personas, "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "default_projection_level": default_level, "role_projection_level": role_level, "by_type": by_type,
            "n_generations": int(proj.size),
            "transcripts": [{"type": k, "persona": f"(control for {p})" if c else p, **tr.to_dict()}
                            for (k, p, _, _, c), tr in zip(jobs, transcripts)],
            "seconds": round(time.time() - t0, 1)}


def plot_drift(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for kind, r in result["by_type"].items():
        y = r["mean_projection_by_turn"]
        pc = r.get("persona_minus_control", {})
        line = ax.plot(range(1, len(y) + 1), y, "o-",
                       label=f"{kind} (minus control {pc.get('estimate', float('nan')):+.2f})")[0]
        if "control_projection_by_turn" in r:
            ax.plot(range(1, len(y) + 1), r["control_projection_by_turn"], ":", color=line.get_color(), lw=1)
    ax.axhline(result["default_projection_level"], color="C3", ls="--", lw=1, label="default persona level")
    ax.axhline(result["role_projection_level"], color="gray", ls=":", lw=1, label="role replies level (axis build)")
    ax.set(xlabel="turn", ylabel=f"projection on default axis (layer {result['layer']})",
           title=f"Persona drift, {len(result['personas'])} personas")
    ax.legend(fontsize=7)
    save_figure(fig, path)
