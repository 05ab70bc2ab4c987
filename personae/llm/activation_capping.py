"""Activation capping on the default-persona axis, and its capability cost (multiple-choice accuracy, perplexity).

On each chosen layer the hook applies  h <- h - v * min(<h, v> - tau, 0)  at every position, with v the
unit axis of that layer: a floor on how far the hidden state may sit on the non-default side of the axis.
tau is a percentile of the token-level projections at that layer (role and default replies together), so
a low percentile only touches the most role-like states; the share of positions clamped is reported.
The same hook with a ceiling, or an added multiple of v, steers away from the default (simulate-users).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from personae.llm.activations import block_hidden, decoder_layers, with_block_hidden
from personae.llm.backends import HiddenStatesUnavailable, LLMBackend
from personae.llm.bank import RoleBank, read_data_text
from personae.llm.space import PersonaSpace, default_conversations, role_conversations
from personae.space import clip_projection


def cap_hidden(h: torch.Tensor, v: torch.Tensor, tau: float) -> torch.Tensor:
    """h (..., d), v (d,) unit: raise the projection <h, v> to at least tau, leaving the orthogonal part."""
    return clip_projection(h, v, low=tau)


@contextlib.contextmanager
def steered(model: nn.Module, axes: dict[int, np.ndarray], *, low: dict[int, float] | None = None,
            high: dict[int, float] | None = None, add: dict[int, float] | None = None) -> Iterator[dict]:
    """While active, every forward pass of `model` is changed on the given layers (layer -> axis): first
    `add[layer] * v` is added (a steering vector), then the projection on v is clipped to
    [low[layer], high[layer]] (a floor caps role-like states; a ceiling keeps a distance from the default).
    Yields counters {"clamped": positions moved by the clip, "positions": positions seen} over all layers."""
    layers = decoder_layers(model)
    low, high, add = low or {}, high or {}, add or {}
    stats = {"clamped": 0, "positions": 0}
    handles = []
    for i, v in axes.items():
        vt = torch.as_tensor(v, dtype=torch.float32)
        vt = vt / vt.norm()

        lo, hi, shift = low.get(i), high.get(i), add.get(i, 0.0)

        def hook(module, args, output, vt=vt, lo=lo, hi=hi, shift=shift):
            h = block_hidden(output)
            v_ = vt.to(h.dtype)
            if shift:
                h = h + shift * v_
            proj = h @ v_  # (batch, seq)
            stats["positions"] += proj.numel()
            moved = torch.zeros_like(proj, dtype=torch.bool)
            if lo is not None:
                moved |= proj < lo
            if hi is not None:
                moved |= proj > hi
            stats["clamped"] += int(moved.sum())
            return with_block_hidden(output, clip_projection(h, v_, low=lo, high=hi))

        handles.append(layers[i].register_forward_hook(hook))
    try:
        yield stats
    finally:
        for h in handles:
            h.remove()


def capped(model: nn.Module, axes: dict[int, np.ndarray], taus: dict[int, float]):
    """Capping as in arXiv:2601.10387 here: a floor tau on each layer's projection (role-like states raised)."""
    return steered(model, axes, low=taus)


@torch.no_grad()
def perplexity(backend: LLMBackend, text: str | None = None, max_tokens: int = 1024) -> float:
    """Perplexity of the model on `text` (default: the held-out passage shipped in personae/llm/data)."""
    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"backend '{backend.name}' gives no token log-probabilities for perplexity")
    text = read_data_text("heldout.txt") if text is None else text
    tok = backend.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"][:max_tokens]
    if len(ids) < 2:
        raise ValueError("perplexity needs at least 2 tokens of text")
    x = torch.tensor([ids])
    loss = backend.model(input_ids=x, labels=x).loss
    return float(math.exp(loss.item()))


def default_cap_layers(n_layers: int, layer: int, width: int = 8) -> list[int]:
    """`width` consecutive layers ending just after the measurement layer (middle-to-late, as in the paper)."""
    start = max(0, min(layer - width // 2, n_layers - width))
    return list(range(start, min(n_layers, start + width)))


def token_thresholds(token_proj: dict[int, np.ndarray], percentile: float) -> dict[int, float]:
    """tau per layer: a percentile of the token-level projections seen at that layer."""
    return {i: float(np.percentile(p, percentile)) for i, p in token_proj.items()}


def check_disjoint(calibration: RoleBank, evaluation: RoleBank) -> None:
    """The calibration roles and questions may not appear in the evaluation: thresholds and the percentile
    would otherwise be tuned on the replies they are judged on."""
    roles = {r.name for r in calibration.roles} & {r.name for r in evaluation.roles}
    questions = set(calibration.questions) & set(evaluation.questions)
    if roles or questions:
        raise ValueError(f"calibration and evaluation overlap: roles {sorted(roles)}, questions {sorted(questions)}")


def choose_percentile(shift_fraction: dict[float, float], target: float = 0.5) -> float:
    """The rule, fixed before any evaluation reply is seen: the smallest percentile whose pull-back on the
    calibration roles reaches `target` of the calibration gap between role and default replies; if none
    does, the percentile that comes closest."""
    reaching = [p for p, f in sorted(shift_fraction.items()) if f >= target]
    return reaching[0] if reaching else max(shift_fraction, key=lambda p: shift_fraction[p])


def _projections(backend: LLMBackend, conversations, layer: int, u: np.ndarray, max_new_tokens: int,
                 seed: int) -> tuple[list[str], np.ndarray]:
    """Greedy replies and each reply's projection on the axis at `layer`, re-read without any hook."""
    replies = backend.chat(conversations, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    return replies, backend.response_activations(conversations, replies)[:, layer] @ u[layer]  # (n,)


def calibrate_capping(backend: LLMBackend, space: PersonaSpace, calibration: RoleBank, layers: list[int],
                      percentiles: tuple[float, ...], *, max_new_tokens: int, target: float = 0.5,
                      seed: int = 0) -> dict:
    """Thresholds and the percentile from the calibration roles and questions only: tau per layer is a
    percentile of the token-level projections of the calibration role and default replies; each candidate
    percentile caps the calibration roles, and `choose_percentile` picks one from their pull-back."""
    from personae.llm.activations import response_token_projections

    u = space.unit_axis()
    axes = {i: u[i] for i in layers}
    convs, _ = role_conversations(calibration)
    dconvs = default_conversations(calibration.questions)
    base_replies, base_proj = _projections(backend, convs, space.layer, u, max_new_tokens, seed)
    default_replies, default_proj = _projections(backend, dconvs, space.layer, u, max_new_tokens, seed)
    tok = backend.tokenizer
    token_proj = response_token_projections(
        backend.model, [backend.prompt_ids(c) for c in convs + dconvs],
        [tok(r, add_special_tokens=False)["input_ids"] for r in base_replies + default_replies], axes,
        pad_id=tok.pad_token_id)
    gap = float(default_proj.mean() - base_proj.mean())
    fraction = {}
    for pct in percentiles:
        with capped(backend.model, axes, token_thresholds(token_proj, pct)):
            cap_replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
        cap_proj = backend.response_activations(convs, cap_replies)[:, space.layer] @ u[space.layer]
        fraction[pct] = float((cap_proj - base_proj).mean() / gap) if abs(gap) > 1e-9 else 0.0
    chosen = choose_percentile(fraction, target)
    return {"roles": [r.name for r in calibration.roles], "questions": list(calibration.questions),
            "gap": gap, "shift_fraction_by_percentile": fraction, "target_fraction": target,
            "chosen_percentile": chosen, "taus": token_thresholds(token_proj, chosen),
            "rule": f"smallest percentile whose calibration pull-back reaches {target:.0%} of the calibration gap"}


def run_capping(backend: LLMBackend, space: PersonaSpace, bank: RoleBank, calibration: RoleBank, *,
                layers: list[int] | None = None, percentiles: tuple[float, ...] = (10.0, 25.0, 50.0, 75.0),
                target_fraction: float = 0.5, max_new_tokens: int = 24, n_mcq: int | None = None,
                seed: int = 0) -> dict:
    """Capping judged on roles and questions the calibration never saw.

    1. `calibrate_capping` picks the thresholds and the percentile on `calibration` (its own roles and
       questions).
    2. On `bank` (the evaluation roles and questions) replies are generated with and without that cap, each
       re-read *without* capping, and its projection on the axis measured (the text the model produced, not
       the clamp itself). Pull-back: a paired interval over evaluation roles.
    3. Cost: multiple-choice accuracy (paired over questions, with the smallest difference the question count
       can show) and the probability given to the right letter (a finer paired measure), and held-out
       perplexity."""
    from personae.llm.bank import load_mcq
    from personae.llm.mcq import mcq_correct_probability, smallest_detectable_difference
    from personae.stats import compare_paired

    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"capping needs a local model to hook; backend '{backend.name}' has none")
    check_disjoint(calibration, bank)
    t0 = time.time()
    layer = space.layer
    layers = default_cap_layers(len(decoder_layers(backend.model)), layer) if layers is None else layers
    u = space.unit_axis()  # (n_layers, d)
    axes = {i: u[i] for i in layers}
    cal = calibrate_capping(backend, space, calibration, layers, percentiles, max_new_tokens=max_new_tokens,
                            target=target_fraction, seed=seed)
    convs, owner = role_conversations(bank)
    owner_arr = np.asarray(owner)
    mcq = load_mcq()[:n_mcq]
    base_replies, base_proj = _projections(backend, convs, layer, u, max_new_tokens, seed)
    _, default_proj = _projections(backend, default_conversations(bank.questions), layer, u, max_new_tokens, seed)
    ppl_base = perplexity(backend)
    right_base, prob_base = mcq_correct_probability(backend, mcq)
    with capped(backend.model, axes, cal["taus"]) as stats:
        cap_replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
        clamped = stats["clamped"] / max(stats["positions"], 1)
        ppl_cap = perplexity(backend)
        right_cap, prob_cap = mcq_correct_probability(backend, mcq)
    cap_proj = backend.response_activations(convs, cap_replies)[:, layer] @ u[layer]
    roles = np.unique(owner_arr)
    shift = compare_paired(np.array([cap_proj[owner_arr == r].mean() for r in roles]),
                           np.array([base_proj[owner_arr == r].mean() for r in roles]), unit="evaluation roles",
                           seeded=False)
    gap = float(default_proj.mean() - base_proj.mean())
    result = {"layer": layer, "cap_layers": layers, "n_replies": len(convs), "n_roles": len(bank.roles),
              "max_new_tokens": max_new_tokens, "roles": [r.name for r in bank.roles], "questions": list(bank.questions),
              "calibration": cal, "percentile": cal["chosen_percentile"],
              "uncapped_role_projection": float(base_proj.mean()), "default_projection": float(default_proj.mean()),
              "capped_role_projection": float(cap_proj.mean()), "share_positions_clamped": clamped,
              "projection_shift": shift.to_dict(),
              "shift_fraction_of_gap": shift.estimate / gap if abs(gap) > 1e-9 else None,  # 1.0 = all the way
              "replies_changed": float(np.mean([a != b for a, b in zip(base_replies, cap_replies)])),
              "perplexity_uncapped": ppl_base, "perplexity_capped": ppl_cap, "perplexity_ratio": ppl_cap / ppl_base,
              "mcq_n": len(mcq), "mcq_accuracy_uncapped": float(right_base.mean()),
              "mcq_accuracy_capped": float(right_cap.mean()),
              "mcq_accuracy_diff": compare_paired(right_cap, right_base, unit="questions", seeded=False).to_dict(),
              "mcq_smallest_detectable_difference": smallest_detectable_difference(len(mcq)),
              "mcq_right_letter_probability_diff": compare_paired(prob_cap, prob_base, unit="questions", seeded=False).to_dict(),
              "examples": [{"role": bank.roles[owner[i]].name, "question": convs[i][1]["content"],
                            "uncapped": base_replies[i], "capped": cap_replies[i]}
                           for i in range(0, len(convs), max(1, len(convs) // 4))][:4],
              "seconds": round(time.time() - t0, 1)}
    return result


def plot_capping(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    cal = result["calibration"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    pct = sorted(cal["shift_fraction_by_percentile"], key=float)
    a1.plot([float(p) for p in pct], [cal["shift_fraction_by_percentile"][p] for p in pct], "o-", color="C0",
            label="calibration roles")
    a1.axhline(cal["target_fraction"], color="gray", ls=":", label="target")
    a1.plot([result["percentile"]], [result["shift_fraction_of_gap"] or 0.0], "s", color="C2",
            label="evaluation roles (chosen)")
    a1.set(xlabel="tau percentile", ylabel="pull-back, share of role-to-default gap", title="Pull-back")
    a1.legend(fontsize=7)
    a2.bar(["uncapped", "capped"], [result["perplexity_uncapped"], result["perplexity_capped"]], color=["C0", "C2"])
    a2.set(ylabel="held-out perplexity", title="Capability cost")
    save_figure(fig, path)
