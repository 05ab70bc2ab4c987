"""Row gathers with sparse gradients: a step touches only the table rows its batch uses.

A per-user table of 1M users x K x dim gets a dense gradient of the whole table from ``table[users]``, and
dense Adam then rewrites every row on every step. :func:`sparse_rows` returns the same rows but a sparse
gradient (only the gathered rows), which ``torch.optim.SparseAdam`` applies row by row: a step costs
O(batch), whatever the number of users or items.
"""

from __future__ import annotations

import torch


class _SparseRows(torch.autograd.Function):
    """``table[index]`` whose gradient w.r.t. ``table`` is a sparse COO tensor (one entry per gathered row)."""

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index)
        ctx.table_shape = table.shape
        return table[index]  # index.shape + table.shape[1:]

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (index,) = ctx.saved_tensors
        flat = index.reshape(-1)  # (n,) rows, repeats allowed (summed when coalesced)
        values = grad.reshape(len(flat), *ctx.table_shape[1:])  # (n, *row_shape)
        return torch.sparse_coo_tensor(flat[None], values, ctx.table_shape, check_invariants=False), None


def sparse_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``table[index]`` (any index shape) with a sparse row gradient for ``table``."""
    return _SparseRows.apply(table, index)


def decay_rows(table: torch.Tensor, weight_decay: float) -> None:
    """Add ``weight_decay * row`` to the sparse gradient of each row the batch touched (L2 as Adam couples it).

    SparseAdam has no weight decay; this applies it to the rows of the batch only, so a row not seen in a step
    does not shrink in that step (dense Adam's decay shrinks every row on every step).
    """
    if not weight_decay or table.grad is None:
        return
    grad = table.grad.coalesce()
    rows = grad.indices()[0]
    table.grad = torch.sparse_coo_tensor(grad.indices(), grad.values() + weight_decay * table.detach()[rows],
                                         grad.shape, is_coalesced=True, check_invariants=False)


def gather(table: torch.nn.Embedding | torch.Tensor, index: torch.Tensor, sparse: bool) -> torch.Tensor:
    """Rows of an embedding module or a parameter table; with ``sparse``, a sparse row gradient.

    Dense gathers call exactly what the networks called before the sparse path existed (``module(index)`` or
    ``table[index]``), so dense training is unchanged to the last bit.
    """
    if sparse:
        return sparse_rows(table.weight if isinstance(table, torch.nn.Embedding) else table, index)
    return table(index) if isinstance(table, torch.nn.Embedding) else table[index]
