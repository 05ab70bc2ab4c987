"""The optimiser of the training loop: dense Adam, or SparseAdam on the per-user and per-item tables.

``optimizer="auto"`` (the default) is sparse when the network has row tables and at least
:data:`SPARSE_FROM_USERS` users, dense otherwise, so the published MovieLens figures (dense Adam with weight
decay) stay what they were. Sparse: the tables a network lists in ``row_tables`` gather rows with sparse
gradients and step with SparseAdam (as :class:`personae.train.row_adam.RowAdam`, the same bits read in row order); every other parameter steps with Adam. Weight decay on a table applies to
the rows of the batch only (see :func:`personae.train.rows.decay_rows`).
"""

from __future__ import annotations

import torch

from personae.errors import OptionError
from personae.train.row_adam import RowAdam
from personae.train.rows import decay_rows

SPARSE_FROM_USERS = 100_000  # auto: below this a dense Adam step over the tables is cheap (ml-1m has 6,040 users)
CHOICES = ("auto", "dense", "sparse")


def row_table_names(network: torch.nn.Module) -> list[str]:
    """Names of the parameters the network can gather with sparse gradients (its ``row_tables``)."""
    declared = set(getattr(network, "row_tables", ()))
    return [name for name, _ in network.named_parameters() if name in declared]


def wants_sparse(choice: str, network: torch.nn.Module, n_users: int) -> bool:
    """Whether to train with sparse tables, from the ``optimizer`` option (see the module docstring)."""
    if choice not in CHOICES:
        raise OptionError(f"optimizer must be one of {', '.join(CHOICES)}, got {choice!r}")
    tables = row_table_names(network)
    if choice == "sparse" and not tables:
        raise OptionError(f"optimizer=sparse: {type(network).__name__} has no row tables to train sparsely")
    return bool(tables) and (choice == "sparse" or (choice == "auto" and n_users >= SPARSE_FROM_USERS))


class Optimizers:
    """Adam for the dense parameters, SparseAdam for the row tables (sparse mode); one ``step`` for both."""

    def __init__(self, network: torch.nn.Module, lr: float, weight_decay: float, sparse: bool) -> None:
        names = set(row_table_names(network)) if sparse else set()
        self.tables = {name: p for name, p in network.named_parameters() if name in names}
        dense = [p for name, p in network.named_parameters() if name not in names]
        self.weight_decay = weight_decay
        self.parts: list[torch.optim.Optimizer] = []
        if dense:  # dense mode: exactly Adam(network.parameters()), as before the sparse path existed
            self.parts.append(torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay))
        if self.tables:
            self.parts.append(RowAdam(list(self.tables.values()), lr=lr))  # SparseAdam's bits, rows in order

    @property
    def sparse(self) -> bool:
        return bool(self.tables)

    def zero_grad(self) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=True)

    def step(self) -> None:
        for table in self.tables.values():
            decay_rows(table, self.weight_decay)
        for part in self.parts:
            part.step()
