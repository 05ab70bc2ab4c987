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


def run_capping(backend: LLMBackend, space: PersonaSpace, bank: RoleBank, *, layers: list[int] | None = None,
                percentiles: tuple[float, ...] = (25.0,), max_new_tokens: int = 24, n_mcq: int | None = None,
                seed: int = 0) -> dict:
    """Generate role-played replies with and without capping, re-read each reply *without* capping and
    measure its projection on the axis at the space's layer (so the number reflects the text the model
    produced, not the clamp itself); cost: multiple-choice accuracy and held-out perplexity, capped vs not.

    Thresholds: percentiles of the token-level projections, at each capped layer, of the uncapped role and
    default replies (the states the hook will act on). CIs are over roles (each role's mean shift) and over
    questions (paired accuracy). `bank` chooses the roles/questions probed (use questions not used for the axis)."""
    from personae.llm.activations import response_token_projections
    from personae.llm.bank import load_mcq
    from personae.llm.mcq import mcq_correct
    from personae.llm.stats import group_means, mean_ci

    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"capping needs a local model to hook; backend '{backend.name}' has none")
    t0 = time.time()
    layer = space.layer
    layers = default_cap_layers(len(decoder_layers(backend.model)), layer) if layers is None else layers
    u = space.unit_axis()  # (n_layers, d)
    axes = {i: u[i] for i in layers}
    convs, owner = role_conversations(bank)
    dconvs = default_conversations(bank.questions)
    owner_arr = np.asarray(owner)
    mcq = load_mcq()[:n_mcq]

    def measure(conversations) -> tuple[list[str], np.ndarray]:
        replies = backend.chat(conversations, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
        return replies, backend.response_activations(conversations, replies)[:, layer] @ u[layer]  # (n,)

    base_replies, base_proj = measure(convs)
    default_replies, default_proj = measure(dconvs)
    tok = backend.tokenizer
    all_convs, all_replies = convs + dconvs, base_replies + default_replies
    token_proj = response_token_projections(
        backend.model, [backend.prompt_ids(c) for c in all_convs],
        [tok(r, add_special_tokens=False)["input_ids"] for r in all_replies], axes, pad_id=tok.pad_token_id)
    ppl_base = perplexity(backend)
    mcq_base = mcq_correct(backend, mcq)
    gap = float(default_proj.mean() - base_proj.mean())
    result = {"layer": layer, "cap_layers": layers, "n_replies": len(convs), "n_roles": len(bank.roles),
              "max_new_tokens": max_new_tokens, "roles": [r.name for r in bank.roles], "questions": list(bank.questions),
              "calibration": f"token-level projections of {sum(len(v) for v in token_proj.values()) // len(layers)} "
                             "reply tokens (uncapped role + default replies) at each capped layer",
              "uncapped_role_projection": float(base_proj.mean()), "default_projection": float(default_proj.mean()),
              "uncapped_projections": base_proj.tolist(), "perplexity_uncapped": ppl_base,
              "mcq_n": len(mcq), "mcq_accuracy_uncapped": float(mcq_base.mean()), "by_percentile": [], "examples": []}
    for pct in percentiles:
        taus = token_thresholds(token_proj, pct)
        with capped(backend.model, axes, taus) as stats:
            cap_replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
            clamped = stats["clamped"] / max(stats["positions"], 1)
            ppl_cap = perplexity(backend)
            mcq_cap = mcq_correct(backend, mcq)
        cap_proj = backend.response_activations(convs, cap_replies)[:, layer] @ u[layer]
        shift = mean_ci(group_means(cap_proj - base_proj, owner_arr), seed=seed)  # CI over roles
        acc = mean_ci(mcq_cap - mcq_base, seed=seed)  # paired, CI over questions
        result["by_percentile"].append({
            "percentile": pct, "tau_at_layer": taus.get(layer), "taus": taus,
            "share_positions_clamped": clamped, "capped_role_projection": float(cap_proj.mean()),
            "projection_shift": shift["mean"], "projection_shift_ci95": shift["ci95"],
            "projection_shift_effect": shift["effect"], "capped_projections": cap_proj.tolist(),
            "shift_fraction_of_gap": shift["mean"] / gap if abs(gap) > 1e-9 else None,  # 1.0 = all the way
            "share_replies_moved_toward_default": float((cap_proj > base_proj).mean()),
            "replies_changed": float(np.mean([a != b for a, b in zip(base_replies, cap_replies)])),
            "mcq_accuracy_capped": float(mcq_cap.mean()), "mcq_accuracy_diff": acc["mean"],
            "mcq_accuracy_diff_ci95": acc["ci95"], "mcq_cost_effect": acc["effect"],
            "perplexity_capped": ppl_cap, "perplexity_ratio": ppl_cap / ppl_base})
        result["examples"] += [{"percentile": pct, "role": bank.roles[owner[i]].name, "question": convs[i][1]["content"],
                                "uncapped": base_replies[i], "capped": cap_replies[i]}
                               for i in range(0, len(convs), max(1, len(convs) // 4))][:4]
    result["seconds"] = round(time.time() - t0, 1)
    return result


def plot_capping(result: dict, path) -> None:
    from personae.llm.storage import pyplot, save_figure

    plt = pyplot()
    rows = result["by_percentile"]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    pct = [r["percentile"] for r in rows]
    a1.axhline(result["uncapped_role_projection"], color="C0", ls="--", label="roles, uncapped")
    a1.axhline(result["default_projection"], color="C3", ls="--", label="default persona")
    a1.plot(pct, [r["capped_role_projection"] for r in rows], "o-", color="C2", label="roles, capped")
    a1.set(xlabel="tau percentile", ylabel=f"projection on axis (layer {result['layer']})", title="Pull-back")
    a1.legend(fontsize=7)
    a2.axhline(result["perplexity_uncapped"], color="C0", ls="--", label="uncapped")
    a2.plot(pct, [r["perplexity_capped"] for r in rows], "o-", color="C2", label="capped")
    a2.set(xlabel="tau percentile", ylabel="held-out perplexity", title="Capability cost")
    a2.legend(fontsize=7)
    save_figure(fig, path)
