"""Shared plumbing for torch models: a model owns a plain ``nn.Module`` network and trains it with the one loop.

A network knows nothing of training (Spotlight style); what it answers is written down in
:mod:`personae.models.network` (``TorchNetwork``, and ``PersonaNetwork`` for persona vectors). Code outside
``personae/models/`` reaches it only through :attr:`TorchRecommender.network`.

Device: ``fit`` builds the network on the CPU (one seed, one start, whatever the device) and moves it to the
``device`` option's device; ``score`` and ranking run there and hand back NumPy arrays. A loaded model sits on
the CPU until :meth:`TorchRecommender.to` moves it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field

import numpy as np
import torch

from personae.data.interactions import Interactions
from personae.models.base import ModelOptions, Recommender
from personae.models.network import TorchNetwork
from personae.train.devices import module_device, resolve_device
from personae.train.loop import TrainOptions, TrainReport, seed_everything, train_network


@dataclass
class TorchOptions(TrainOptions, ModelOptions):
    dim: int = field(default=64, metadata={"help": "embedding dimension"})


class TorchRecommender(Recommender):
    """A Recommender backed by a torch network trained with :func:`personae.train.train_network`."""

    Options = TorchOptions
    options: TorchOptions

    @abstractmethod
    def build_network(self, train: Interactions) -> torch.nn.Module:
        """A freshly initialised network for this training data (also used to restore saved weights)."""

    @property
    def network(self) -> TorchNetwork:
        """The network (built by ``fit`` or ``load``) under its written contract, :mod:`personae.models.network`
        (``TorchNetwork``; ``PersonaNetwork`` for persona vectors). Code outside ``personae/models/`` reaches the
        network only through this property."""
        network = getattr(self, "network_", None)
        if network is None:
            raise RuntimeError(f"{self.name}: call fit() before using the model")
        return network

    def fit(self, train: Interactions, valid: Interactions | None = None) -> TorchRecommender:
        seed_everything(self.options.seed)
        self.train_ = train
        self.network_ = self.build_network(train).to(resolve_device(self.options.device))
        self.report_: TrainReport = train_network(self, train, valid, self.options, seed=self.options.seed)
        return self

    @torch.no_grad()
    def score(self, user_idx: np.ndarray, item_idx: np.ndarray | None = None) -> np.ndarray:
        self.network_.eval()
        device = self.device
        users = torch.as_tensor(np.asarray(user_idx, dtype=np.int64)).to(device)
        if item_idx is None:
            scores = self.network_.score_all(users)
        else:
            items = torch.as_tensor(np.asarray(item_idx, dtype=np.int64)).to(device)
            scores = self.network_(users, items.expand(len(users), -1))
        return scores.cpu().numpy()

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (the CPU before ``fit``)."""
        network = getattr(self, "network_", None)
        return module_device(network) if network is not None else torch.device("cpu")

    def to(self, device: str) -> TorchRecommender:
        """Move the fitted network to ``device`` ('auto', 'cpu', 'cuda'; see personae.train.devices)."""
        self.network_.to(resolve_device(device))
        return self

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {name: tensor.detach().cpu().numpy() for name, tensor in self.network_.state_dict().items()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], train: Interactions) -> None:
        self.train_ = train
        self.network_ = self.build_network(train)
        state = {name: torch.from_numpy(np.array(value)) for name, value in arrays.items()}
        self.network_.load_state_dict(state, strict=True)
        self.network_.eval()

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.network_.parameters())

    def bytes_per_user(self) -> float:
        """Bytes of the parameters held per user: by convention, the network's parameters named ``user*``."""
        per_user = sum(p.numel() * p.element_size() for name, p in self.network_.named_parameters()
                       if name.startswith("user"))
        return per_user / max(self.fitted_data.n_users, 1)


def device_params(model_class: type[Recommender], device: str) -> list[str]:
    """``--device`` as a ``--param`` pair for a torch model; other models score on the CPU with NumPy, so for
    them the choice is only checked (``cuda`` without a GPU is refused by name either way)."""
    resolve_device(device)
    return [f"device={device}"] if issubclass(model_class, TorchRecommender) else []


def place_model(model: Recommender, device: str) -> Recommender:
    """``model`` with its network on ``device`` (torch models); other models score with NumPy on the CPU, so
    only the choice itself is checked (``cuda`` without a GPU is refused by name either way)."""
    resolve_device(device)
    return model.to(device) if isinstance(model, TorchRecommender) else model
