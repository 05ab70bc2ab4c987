"""The default persona's pull on simulated users, and steering against it.

The model plays a *user* persona (its system prompt) answering scripted assistant turns, through the dialogue
harness (personae.llm.dialogue), N personas x R sampled runs. Each user turn is projected on the default-persona
axis (positive: more like the model's default assistant). Questions answered:
- pull: do simulated users slide toward the default over the turns? (slope per persona, CI over personas, and a
  null from the same turns in shuffled order);
- steering against it: a ceiling on the projection at the steered layers (a floor on the distance from the
  default: capping from the other side) or an added multiple of -axis. Does it raise the cross-persona share
  of variance (ICC(1) of the user turns' MiniLM embeddings) and persona consistency (judge prompt-to-line,
  against a mismatched-persona control), and what does it cost on the multiple-choice set?
"""

from __future__ import annotations

import functools
import time

import numpy as np

from personae.llm.activation_capping import default_cap_layers, steered, token_thresholds
from personae.llm.activations import decoder_layers, response_token_projections
from personae.llm.backends import HiddenStatesUnavailable, LLMBackend
from personae.llm.conversation_drift import slope
from personae.llm.dialogue import Transcript, run_dialogues
from personae.llm.persona_consistency import Judge, judge_prompt_to_line
from personae.llm.space import PersonaSpace
from personae.llm.stats import bootstrap_units, mean_ci, null_summary
from personae.llm.variance import icc_over_items, icc_with_null


def simulate(backend: LLMBackend, prompts: list[str], assistant_turns: list[str], runs: int, *,
             temperature: float, max_new_tokens: int, seed: int) -> list[list[Transcript]]:
    """[run][persona] transcripts; run r samples with seed + 101 r (all personas batched per turn)."""
    return [run_dialogues(backend, prompts, [assistant_turns] * len(prompts), max_new_tokens=max_new_tokens,
                          temperature=temperature, seed=seed + 101 * r, history_turns=4) for r in range(runs)]


def turn_contexts(transcripts: list[Transcript], history: int = 4) -> tuple[list, list[str]]:
    """The (conversation, reply) pairs each user turn was generated from, for token-level re-reading."""
    convs, replies = [], []
    for tr in transcripts:
        for t, turn in enumerate(tr.turns):
            keep = tr.turns[max(0, t - history):t]
            convs.append(Transcript(tr.system_prompt, keep).messages() + [{"role": "user", "content": turn.partner}])
            replies.append(turn.reply)
    return convs, replies


def slide(proj: np.ndarray, n_null: int = 500, seed: int = 0) -> dict:
    """proj (P, R, T): slope per turn per persona (mean over runs), its CI over personas, and a null from the
    same projections with turns shuffled within each conversation."""
    per_persona = np.array([[slope(proj[p, r]) for r in range(proj.shape[1])] for p in range(proj.shape[0])]).mean(1)
    rng = np.random.default_rng(seed)
    null = [np.mean([slope(rng.permutation(row)) for row in proj.reshape(-1, proj.shape[2])]) for _ in range(n_null)]
    return {**mean_ci(per_persona, seed=seed), "per_persona": per_persona.tolist(),
            "shuffled_turns_null": null_summary(float(per_persona.mean()), np.asarray(null)),
            "projection_by_turn": proj.mean((0, 1)).tolist()}


def icc_difference(x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> float:
    """Pooled ICC(1) of x minus that of y on the same (resampled) personas `idx`."""
    return icc_over_items(x[idx])["icc1_pooled"] - icc_over_items(y[idx])["icc1_pooled"]


def run_simulated_users(backend: LLMBackend, space: PersonaSpace, personas: list[str], assistant_turns: list[str],
                        user_prompt: str, *, runs: int = 3, n_turns: int = 5, temperature: float = 0.7,
                        max_new_tokens: int = 24, ceiling_percentile: float = 50.0, add_sd: float = 1.0,
                        conditions: tuple[str, ...] = ("none", "ceiling", "add"), layers: list[int] | None = None,
                        n_mcq: int | None = None, seed: int = 0) -> dict:
    """Each condition runs the same personas, runs and seeds. Steering parameters are calibrated on the
    unsteered run's token-level projections at each steered layer: the ceiling is their `ceiling_percentile`,
    the added vector is -`add_sd` standard deviations of them along the axis."""
    from personae.llm.bank import load_mcq
    from personae.llm.embeddings import embed
    from personae.llm.mcq import mcq_correct

    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"simulate-users needs hidden states; backend '{backend.name}' has none")
    if conditions[0] != "none":
        raise ValueError("the first condition must be 'none' (the unsteered baseline the others are compared with)")
    t0 = time.time()
    layer = space.layer
    u = space.unit_axis()  # (n_layers, d)
    layers = default_cap_layers(len(decoder_layers(backend.model)), layer) if layers is None else layers
    axes = {i: u[i] for i in layers}
    prompts = [user_prompt.format(persona=p) for p in personas]
    turns = assistant_turns[:n_turns]
    mcq = load_mcq()[:n_mcq]
    judge = Judge(backend, seed=seed)
    result: dict = {"layer": layer, "steered_layers": layers, "personas": personas, "runs": runs,
                    "n_turns": len(turns), "temperature": temperature, "max_new_tokens": max_new_tokens,
                    "default_projection_level": float(space.default_sample_projections[:, layer].mean()),
                    "role_projection_level": float(space.role_sample_projections[:, layer].mean()),
                    "mcq_n": len(mcq), "conditions": {}, "examples": {}}
    hooks: dict[str, dict] = {"none": {}}
    base: dict = {}
    for cond in conditions:
        if cond not in ("none", "ceiling", "add"):
            raise ValueError(f"unknown steering condition '{cond}' (expected none, ceiling or add)")
        with steered(backend.model, axes, **hooks.get(cond, {})) as stats:
            runs_tr = simulate(backend, prompts, turns, runs, temperature=temperature, max_new_tokens=max_new_tokens,
                               seed=seed)
            clamped = stats["clamped"] / max(stats["positions"], 1)
            mcq_ok = mcq_correct(backend, mcq)
        if cond == "none":  # calibrate the steering on the unsteered user turns, token by token
            convs, replies = turn_contexts([tr for run in runs_tr for tr in run])
            tok = backend.tokenizer
            token_proj = response_token_projections(
                backend.model, [backend.prompt_ids(c) for c in convs],
                [tok(r, add_special_tokens=False)["input_ids"] for r in replies], axes, pad_id=tok.pad_token_id)
            hooks["ceiling"] = {"high": token_thresholds(token_proj, ceiling_percentile)}
            hooks["add"] = {"add": {i: -add_sd * float(p.std()) for i, p in token_proj.items()}}
        proj = np.array([[[t.activation[layer] @ u[layer] for t in run[p].turns] for run in runs_tr]
                         for p in range(len(personas))])  # (P, R, T)
        texts = [[[t.reply for t in run[p].turns] for run in runs_tr] for p in range(len(personas))]
        emb = embed([x for per in texts for run in per for x in run]).reshape(len(personas), runs, len(turns), -1)
        lines = [(p, x) for p in range(len(personas)) for run in texts[p] for x in run]
        p2l = np.array(judge.score([judge_prompt_to_line(prompts[p], x) for p, x in lines]))
        other = np.array(judge.score([judge_prompt_to_line(prompts[(p + 1) % len(prompts)], x) for p, x in lines]))
        owner = np.array([p for p, _ in lines])
        p2l_pp = np.array([p2l[owner == p].mean() for p in range(len(personas))])
        ctrl_pp = np.array([other[owner == p].mean() for p in range(len(personas))])
        row = {"hook": {k: v for k, v in hooks.get(cond, {}).items()}, "share_positions_clamped": clamped,
               "slide_toward_default": slide(proj, seed=seed),
               "icc_embeddings": {k: v for k, v in icc_with_null(emb, n_null=100, seed=seed).items()
                                  if k != "icc1_per_item"},
               "prompt_to_line": mean_ci(p2l_pp, seed=seed), "prompt_to_line_mismatched": float(ctrl_pp.mean()),
               "judge_discrimination": mean_ci(p2l_pp - ctrl_pp, seed=seed),
               "mcq_accuracy": float(mcq_ok.mean()), "mean_projection": float(proj.mean())}
        if cond == "none":
            base = {"emb": emb, "p2l": p2l_pp, "mcq": mcq_ok, "proj": proj}
        else:
            row["vs_none"] = {
                "icc_diff": icc_difference(emb, base["emb"], np.arange(len(personas))),
                "icc_diff_ci95": bootstrap_units(functools.partial(icc_difference, emb, base["emb"]),
                                                 len(personas), seed=seed, resamples=300),
                "prompt_to_line_diff": mean_ci(p2l_pp - base["p2l"], seed=seed),
                "projection_diff": mean_ci((proj - base["proj"]).mean((1, 2)), seed=seed),
                "mcq_accuracy_diff": mean_ci(mcq_ok - base["mcq"], seed=seed)}
            ci = row["vs_none"]["icc_diff_ci95"]
            row["vs_none"]["icc_effect"] = bool(ci[0] > 0 or ci[1] < 0)
        result["conditions"][cond] = row
        result["examples"][cond] = {personas[p]: texts[p][0] for p in range(min(3, len(personas)))}
    result["n_generations"] = len(conditions) * len(personas) * runs * len(turns)
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_users(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for cond, row in result["conditions"].items():
        y = row["slide_toward_default"]["projection_by_turn"]
        a1.plot(range(1, len(y) + 1), y, "o-", label=f"{cond} (slope {row['slide_toward_default']['mean']:+.2f})")
    a1.axhline(result["default_projection_level"], color="C3", ls="--", lw=1, label="default level")
    a1.axhline(result["role_projection_level"], color="gray", ls=":", lw=1, label="role level")
    a1.set(xlabel="user turn", ylabel=f"projection on default axis (layer {result['layer']})",
           title=f"Simulated users, {len(result['personas'])} personas x {result['runs']} runs")
    a1.legend(fontsize=7)
    conds = list(result["conditions"])
    icc = [result["conditions"][c]["icc_embeddings"]["icc1_pooled"] for c in conds]
    p2l = [result["conditions"][c]["prompt_to_line"]["mean"] for c in conds]
    w = np.arange(len(conds))
    a2.bar(w - 0.2, icc, 0.4, label="ICC(1) of user turns")
    a2.bar(w + 0.2, p2l, 0.4, label="prompt-to-line consistency")
    a2.set_xticks(w, conds)
    a2.set(ylim=(min(0, *icc) - 0.05, 1), title="Steering against the default")
    a2.legend(fontsize=7)
    save_figure(fig, path)
