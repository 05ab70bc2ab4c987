"""Drift in conversation: how a persona's projection on the default-persona axis moves turn by turn,
by conversation type (factual, emotional, meta-reflective and pressure scripts in
personae/llm/data/conversations.json), against persona-free control runs of the same scripts (dotted lines)."""

from __future__ import annotations

import time

import numpy as np

from personae.llm.backends import HiddenStatesUnavailable, LLMBackend
from personae.llm.dialogue import run_dialogues
from personae.llm.space import PersonaSpace
from personae.llm.stats import mean_ci


def persona_prompt(name: str) -> str:
    return f"You are {'an' if name[0] in 'aeiou' else 'a'} {name}. Stay fully in character in every reply."


def slope(y: np.ndarray) -> float:
    """Least-squares slope of y over turn index 0..T-1 (projection units per turn)."""
    t = np.arange(len(y), dtype=float)
    return float(np.polyfit(t, y, 1)[0]) if len(y) >= 2 else 0.0


def drift_against_control(persona_drift: np.ndarray, control_drift: np.ndarray, seed: int = 0) -> dict:
    """persona_drift (P, S): drift of each persona on each script; control_drift (S,): the persona-free run of
    the same scripts. Drift attributable to the persona = persona minus control on the same script, averaged
    over scripts per persona, with a 95% CI over personas (`effect` False when it includes zero)."""
    per_persona = (np.asarray(persona_drift, dtype=np.float64) - np.asarray(control_drift)[None]).mean(1)  # (P,)
    return mean_ci(per_persona, seed=seed)


def run_drift(backend: LLMBackend, space: PersonaSpace, personas: list[str], scripts: dict[str, list[list[str]]], *,
              n_turns: int = 6, n_scripts: int | None = None, max_new_tokens: int = 32, seed: int = 0) -> dict:
    """Every persona x every script of every type, plus one persona-free control run (no system prompt: the
    model's default) per script, as one batched set of dialogues. Per turn, the reply's projection on the unit
    axis at the space's layer. Drift = last-turn minus first-turn projection (positive: toward the default);
    the figure is persona drift minus control drift on the same scripts, with a CI over personas.
    For the `pressure` type (the partner pushes the model to drop its persona) a prompted persona that
    collapses drifts toward the default while the control, already the default, stays put."""
    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"drift needs hidden states; backend '{backend.name}' has none")
    t0 = time.time()
    u = space.unit_axis(space.layer)
    who: list[str | None] = [*personas, None]  # None: the persona-free control
    jobs = [(kind, p, k, s) for kind, lst in scripts.items() for k, s in enumerate(lst[:n_scripts]) for p in who]
    transcripts = run_dialogues(backend, [None if p is None else persona_prompt(p) for _, p, _, _ in jobs],
                                [s[:n_turns] for *_, s in jobs], max_new_tokens=max_new_tokens, seed=seed,
                                history_turns=None)
    proj = np.array([[t.activation[space.layer] @ u for t in tr.turns] for tr in transcripts])  # (jobs, T)
    default_level = float(space.default_sample_projections[:, space.layer].mean())
    role_level = float(space.role_sample_projections[:, space.layer].mean())
    by_type = {}
    for kind in scripts:
        rows = {(p, k): proj[j] for j, (kd, p, k, _) in enumerate(jobs) if kd == kind}
        n_s = len({k for _, k in rows})
        persona_rows = np.array([[rows[(p, k)] for k in range(n_s)] for p in personas])  # (P, S, T)
        control_rows = np.array([rows[(None, k)] for k in range(n_s)])  # (S, T)
        p_drift = persona_rows[..., -1] - persona_rows[..., 0]  # (P, S)
        c_drift = control_rows[:, -1] - control_rows[:, 0]  # (S,)
        mean = persona_rows.mean((0, 1))
        by_type[kind] = {"mean_projection_by_turn": mean.tolist(), "drift_last_minus_first": float(mean[-1] - mean[0]),
                         "slope_per_turn": slope(mean), "n_conversations": int(p_drift.size),
                         "per_conversation_drift": p_drift.ravel().tolist(),
                         "control_projection_by_turn": control_rows.mean(0).tolist(),
                         "control_drift": float(c_drift.mean()),
                         "persona_minus_control": drift_against_control(p_drift, c_drift, seed=seed),
                         "gap_to_control_by_turn": (persona_rows.mean(0) - control_rows).mean(0).tolist()}
    return {"layer": space.layer, "n_turns": proj.shape[1], "personas": personas, "max_new_tokens": max_new_tokens,
            "default_projection_level": default_level, "role_projection_level": role_level, "by_type": by_type,
            "n_generations": int(proj.size),
            "transcripts": [{"type": k, "persona": p or "(control: no persona)", **tr.to_dict()}
                            for (k, p, _, _), tr in zip(jobs, transcripts)],
            "seconds": round(time.time() - t0, 1)}


def plot_drift(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for kind, r in result["by_type"].items():
        y = r["mean_projection_by_turn"]
        pc = r.get("persona_minus_control", {})
        line = ax.plot(range(1, len(y) + 1), y, "o-",
                       label=f"{kind} (minus control {pc.get('mean', float('nan')):+.2f})")[0]
        if "control_projection_by_turn" in r:
            ax.plot(range(1, len(y) + 1), r["control_projection_by_turn"], ":", color=line.get_color(), lw=1)
    ax.axhline(result["default_projection_level"], color="C3", ls="--", lw=1, label="default persona level")
    ax.axhline(result["role_projection_level"], color="gray", ls=":", lw=1, label="role replies level (axis build)")
    ax.set(xlabel="turn", ylabel=f"projection on default axis (layer {result['layer']})",
           title=f"Persona drift, {len(result['personas'])} personas")
    ax.legend(fontsize=7)
    save_figure(fig, path)
