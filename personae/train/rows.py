"""Row gathers with sparse gradients: a step touches only the table rows its batch uses.

A per-user table of 1M users x K x dim gets a dense gradient of the whole table from ``table[users]``, and
dense Adam then rewrites every row on every step. :func:`sparse_rows` returns the same rows but a sparse
gradient (only the gathered rows), which ``torch.optim.SparseAdam`` applies row by row: a step costs
O(batch), whatever the number of users or items.
"""

from __future__ import annotations

import torch


class _SparseRows(torch.autograd.Function):
    """``table[index]`` whose gradient w.r.t. ``table`` is a sparse COO tensor, one entry per distinct row.

    Locality (issue 21): the batch's distinct rows are found once (sorted), read from the large table in memory
    order, and the batch is gathered from that small block; the backward pass sums the repeats into the same
    sorted rows, so the gradient arrives coalesced and the optimiser reads and writes each row once, in order.
    """

    @staticmethod
    def forward(ctx, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        rows, position = torch.unique(index.reshape(-1), sorted=True, return_inverse=True)
        ctx.save_for_backward(rows, position)
        ctx.table_shape = table.shape
        return table.index_select(0, rows)[position].reshape(*index.shape, *table.shape[1:])

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        rows, position = ctx.saved_tensors
        summed = grad.new_zeros(len(rows), *ctx.table_shape[1:])  # (distinct rows, *row_shape)
        summed.index_add_(0, position, grad.reshape(len(position), *ctx.table_shape[1:]))  # repeats, in batch order
        return torch.sparse_coo_tensor(rows[None], summed, ctx.table_shape, is_coalesced=True,
                                       check_invariants=False), None


def sparse_rows(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``table[index]`` (any index shape) with a sparse row gradient for ``table``."""
    return _SparseRows.apply(table, index)


def coalesced(grad: torch.Tensor) -> torch.Tensor:
    """The sparse row gradient coalesced: marked so without a sort when its rows are already strictly increasing.

    :func:`sparse_rows` hands autograd a coalesced gradient, but accumulating it into ``.grad`` drops the flag, and
    ``coalesce()`` would sort and copy the rows again. Strictly increasing rows are distinct and sorted, so
    marking them is exactly what ``coalesce()`` would return; anything else (a table gathered twice in a step,
    an all-reduced gradient) is coalesced the ordinary way.
    """
    if grad.is_coalesced():
        return grad
    rows = grad._indices()[0]
    if len(rows) < 2 or bool((rows[1:] > rows[:-1]).all()):
        return grad._coalesced_(True)
    return grad.coalesce()


def decay_rows(table: torch.Tensor, weight_decay: float) -> None:
    """Add ``weight_decay * row`` to the sparse gradient of each row the batch touched (L2 as Adam couples it).

    SparseAdam has no weight decay; this applies it to the rows of the batch only, so a row not seen in a step
    does not shrink in that step (dense Adam's decay shrinks every row on every step).
    """
    if not weight_decay or table.grad is None:
        return
    grad = coalesced(table.grad)
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
