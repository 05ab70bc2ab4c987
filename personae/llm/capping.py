"""Activation capping on the default-persona axis, and its cost on a capability proxy (perplexity).

On each chosen layer the hook applies  h <- h - v * min(<h, v> - tau, 0)  at every position, with v the
unit axis of that layer: a floor on how far the hidden state may sit on the non-default side of the axis.
tau is a percentile of the per-reply projections (role and default replies together) seen when the axis
was built, so a low percentile only touches the most role-like states.
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
def capped(model: nn.Module, axes: dict[int, np.ndarray], taus: dict[int, float]) -> Iterator[None]:
    """While active, every forward pass of `model` is capped on the given layers (layer -> unit axis, tau)."""
    layers = decoder_layers(model)
    handles = []
    for i, v in axes.items():
        vt = torch.as_tensor(v, dtype=torch.float32)
        vt = vt / vt.norm()
        tau = float(taus[i])

        def hook(module, args, output, vt=vt, tau=tau):
            return with_block_hidden(output, cap_hidden(block_hidden(output), vt.to(block_hidden(output).dtype), tau))

        handles.append(layers[i].register_forward_hook(hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


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


def thresholds(space: PersonaSpace, layers: list[int], percentile: float) -> dict[int, float]:
    pooled = np.concatenate([space.role_sample_projections, space.default_sample_projections])  # (n, n_layers)
    return {i: float(np.percentile(pooled[:, i], percentile)) for i in layers}


def run_capping(backend: LLMBackend, space: PersonaSpace, bank: RoleBank, *, layers: list[int] | None = None,
                percentiles: tuple[float, ...] = (25.0,), max_new_tokens: int = 24, seed: int = 0) -> dict:
    """Generate role-played replies with and without capping, re-read each reply *without* capping and
    measure its projection on the axis at the space's layer (so the number reflects the text the model
    produced, not the clamp itself), and compare held-out perplexity with and without the cap.

    `bank` chooses the roles/questions probed (use questions not used to build the axis)."""
    if not backend.supports_hidden_states:
        raise HiddenStatesUnavailable(f"capping needs a local model to hook; backend '{backend.name}' has none")
    t0 = time.time()
    layer = space.layer
    layers = default_cap_layers(len(decoder_layers(backend.model)), layer) if layers is None else layers
    u = space.unit_axis()  # (n_layers, d)
    convs, owner = role_conversations(bank)
    dconvs = default_conversations(bank.questions)

    def measure(conversations) -> tuple[list[str], np.ndarray]:
        replies = backend.chat(conversations, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
        return replies, backend.response_activations(conversations, replies)[:, layer] @ u[layer]  # (n,)

    base_replies, base_proj = measure(convs)
    _, default_proj = measure(dconvs)
    ppl_base = perplexity(backend)
    gap = float(default_proj.mean() - base_proj.mean())
    result = {"layer": layer, "cap_layers": layers, "n_replies": len(convs), "max_new_tokens": max_new_tokens,
              "roles": [r.name for r in bank.roles], "questions": list(bank.questions),
              "uncapped_role_projection": float(base_proj.mean()), "default_projection": float(default_proj.mean()),
              "uncapped_projections": base_proj.tolist(),
              "perplexity_uncapped": ppl_base, "by_percentile": [], "examples": []}
    for pct in percentiles:
        taus = thresholds(space, layers, pct)
        with capped(backend.model, {i: u[i] for i in layers}, taus):
            cap_replies = backend.chat(convs, max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
            ppl_cap = perplexity(backend)
        cap_proj = backend.response_activations(convs, cap_replies)[:, layer] @ u[layer]
        shift = float(cap_proj.mean() - base_proj.mean())
        diffs = cap_proj - base_proj  # (n,) paired per reply
        boot = np.random.default_rng(seed).choice(diffs, size=(2000, len(diffs))).mean(1)
        result["by_percentile"].append({
            "percentile": pct, "tau_at_layer": taus.get(layer), "capped_role_projection": float(cap_proj.mean()),
            "projection_shift": shift, "projection_shift_ci95": np.percentile(boot, [2.5, 97.5]).tolist(),
            "capped_projections": cap_proj.tolist(),
            "shift_fraction_of_gap": shift / gap if abs(gap) > 1e-9 else None,  # 1.0 = all the way to default
            "share_replies_moved_toward_default": float((cap_proj > base_proj).mean()),
            "replies_changed": float(np.mean([a != b for a, b in zip(base_replies, cap_replies)])),
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
