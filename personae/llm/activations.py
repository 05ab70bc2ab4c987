"""Residual-stream capture: forward hooks on the decoder layers, averaged over the response tokens.

"Residual stream at layer l" here is the output of decoder block l (the hidden state that block l+1 reads),
the same place the capping hook acts on, so measured and capped quantities live in one space.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import torch
from torch import nn


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a Hugging Face causal LM (Llama/Qwen/Mistral, GPT-2, GPT-NeoX)."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj: Any = model
        try:
            for attr in path.split("."):
                obj = getattr(obj, attr)
        except AttributeError:
            continue
        if isinstance(obj, nn.ModuleList):
            return obj
    raise ValueError(f"cannot find decoder layers in {type(model).__name__}")


def block_hidden(output: Any) -> torch.Tensor:
    """Hidden state from a block's output (a tensor in transformers>=5, a tuple before)."""
    return output[0] if isinstance(output, tuple) else output


def with_block_hidden(output: Any, hidden: torch.Tensor) -> Any:
    return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden


class ResponseMeanCapture:
    """Context manager: while active, each forward pass stores, per layer, the mean hidden state over the
    positions where `self.mask` is 1. Set `mask` (batch, seq) before each forward pass."""

    def __init__(self, model: nn.Module):
        self.layers = decoder_layers(model)
        self.mask: torch.Tensor | None = None
        self.means: dict[int, torch.Tensor] = {}  # layer -> (batch, d)
        self._handles: list[Any] = []

    def _hook(self, index: int):
        def hook(module, args, output):
            h = block_hidden(output)  # (batch, seq, d)
            m = self.mask.to(h.dtype).unsqueeze(-1)  # (batch, seq, 1)
            self.means[index] = (h * m).sum(1) / m.sum(1).clamp(min=1.0)  # (batch, d)
        return hook

    def __enter__(self) -> Self:
        self._handles = [layer.register_forward_hook(self._hook(i)) for i, layer in enumerate(self.layers)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def stacked(self) -> torch.Tensor:
        return torch.stack([self.means[i] for i in range(len(self.layers))], dim=1)  # (batch, n_layers, d)


def response_mask(prompt_lens: list[int], response_lens: list[int], width: int) -> torch.Tensor:
    """(batch, width) 1 on response tokens; an empty response falls back to the last prompt token
    (the position that decides what the reply would be)."""
    mask = torch.zeros(len(prompt_lens), width)
    for b, (p, r) in enumerate(zip(prompt_lens, response_lens)):
        if r > 0:
            mask[b, p:p + r] = 1.0
        else:
            mask[b, p - 1] = 1.0
    return mask


def padded_batch(prompts: list[list[int]], responses: list[list[int]],
                 pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prompt+response token rows, right-padded: (ids, attention mask, response mask), each (batch, width)."""
    rows = [a + b for a, b in zip(prompts, responses)]
    width = max(map(len, rows))
    ids = torch.tensor([row + [pad_id] * (width - len(row)) for row in rows])
    attn = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in rows])
    return ids, attn, response_mask([len(a) for a in prompts], [len(b) for b in responses], width)


@torch.no_grad()
def mean_response_activations(model: nn.Module, prompts: list[list[int]], responses: list[list[int]],
                              batch_size: int = 8, pad_id: int = 0) -> np.ndarray:
    """(n, n_layers, d) float32: per example, per layer, the mean residual stream over the response tokens
    of prompt+response (teacher-forced, right-padded). The LM head is skipped: only the decoder runs."""
    assert len(prompts) == len(responses)
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model
    out = []
    with ResponseMeanCapture(model) as cap:
        for s in range(0, len(prompts), batch_size):
            p, r = prompts[s:s + batch_size], responses[s:s + batch_size]
            ids, attn, cap.mask = padded_batch(p, r, pad_id)
            base(input_ids=ids, attention_mask=attn)
            out.append(cap.stacked().float().numpy())
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def response_token_projections(model: nn.Module, prompts: list[list[int]], responses: list[list[int]],
                               axes: dict[int, np.ndarray], batch_size: int = 8,
                               pad_id: int = 0) -> dict[int, np.ndarray]:
    """Per layer in `axes` (layer -> unit (d,) axis): the projection of every response token's residual stream
    on that axis, concatenated over examples, (n_tokens,). Token-level, not averaged: what a capping hook sees."""
    layers = decoder_layers(model)
    base = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model
    found: dict[int, list[np.ndarray]] = {i: [] for i in axes}
    mask: torch.Tensor | None = None

    def hook_for(i: int):
        v = torch.as_tensor(axes[i], dtype=torch.float32)

        def hook(module, args, output):
            h = block_hidden(output).float()  # (batch, seq, d)
            found[i].append((h @ v)[mask.bool()].numpy())  # (n_masked,)
        return hook

    handles = [layers[i].register_forward_hook(hook_for(i)) for i in axes]
    try:
        for s in range(0, len(prompts), batch_size):
            p, r = prompts[s:s + batch_size], responses[s:s + batch_size]
            ids, attn, mask = padded_batch(p, r, pad_id)
            base(input_ids=ids, attention_mask=attn)
    finally:
        for h in handles:
            h.remove()
    return {i: np.concatenate(v) for i, v in found.items()}
