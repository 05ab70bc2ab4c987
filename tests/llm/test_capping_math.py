import numpy as np
import torch
from torch import nn

from personae.llm.activation_capping import cap_hidden, capped, default_cap_layers


def test_cap_raises_projections_below_tau_to_tau_and_keeps_the_rest():
    v = torch.tensor([1.0, 0.0])
    h = torch.tensor([[[-3.0, 7.0], [2.0, -1.0]]])  # (1, 2, 2): projections -3 and 2
    out = cap_hidden(h, v, tau=0.5)
    assert torch.allclose(out, torch.tensor([[[0.5, 7.0], [2.0, -1.0]]]))


def test_cap_only_moves_along_the_axis():
    v = torch.tensor([0.6, 0.8])
    h = torch.randn(4, 3, 2)
    out = cap_hidden(h, v, tau=1.0)
    ortho = torch.tensor([0.8, -0.6])
    assert torch.allclose(out @ ortho, h @ ortho, atol=1e-6)
    assert torch.all(out @ v >= 1.0 - 1e-6)


class _Block(nn.Module):
    def forward(self, x):
        return x + 0.0


class _Tiny(nn.Module):
    """Looks like a Hugging Face causal LM to `decoder_layers`: self.model.layers."""

    def __init__(self):
        super().__init__()
        self.model = nn.Module()
        self.model.layers = nn.ModuleList([_Block(), _Block()])

    def forward(self, x):
        for layer in self.model.layers:
            x = layer(x)
        return x


def test_capped_context_hooks_only_the_chosen_layers_and_unhooks_on_exit():
    m = _Tiny()
    x = torch.tensor([[[-5.0, 1.0]]])
    with capped(m, {1: np.array([2.0, 0.0])}, {1: -1.0}):  # axis normalised inside
        assert torch.allclose(m(x), torch.tensor([[[-1.0, 1.0]]]))
    assert torch.allclose(m(x), x)


def test_default_cap_layers_stay_inside_the_model():
    assert default_cap_layers(30, 15) == list(range(11, 19))
    assert default_cap_layers(6, 5) == list(range(6))
