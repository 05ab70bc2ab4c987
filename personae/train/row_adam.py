"""SparseAdam that visits each touched row once, in memory order (issue 21: locality of the sparse step).

``torch.optim.SparseAdam`` reads the two moment tables with ``sparse_mask`` and writes them and the parameter
with three dense ``add_(sparse)`` passes: five random-row passes over tables of up to 1M rows, which miss the
caches and the TLB. :class:`RowAdam` coalesces the gradient once (its row index comes back sorted and unique),
gathers the rows of the parameter and both moments with ``index_select`` in that order, updates them as
contiguous blocks, and writes them back with ``index_copy_``: three ordered reads and three ordered writes.

The arithmetic is SparseAdam's, operation for operation (``m += (g - m)(1 - b1)`` written as ``m + u``, the
same for ``v``, then ``p += -step_size * m / (sqrt(v) + eps)``), so a step gives the same bits; the state
(``step``, ``exp_avg``, ``exp_avg_sq``) has SparseAdam's layout, so checkpoints are unchanged.
"""

from __future__ import annotations

import math

import torch

from personae.train.rows import coalesced


class RowAdam(torch.optim.SparseAdam):
    """``torch.optim.SparseAdam`` with the row-ordered step described in the module docstring."""

    @torch.no_grad()
    def step(self, closure=None):  # SparseAdam.step's contract
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise RuntimeError("RowAdam needs sparse gradients (use Adam for dense ones)")
                state = self.state[param]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
                state["step"] += 1
                grad = -param.grad if group.get("maximize", False) else param.grad
                row_adam_step(param, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                              lr=float(group["lr"]), beta1=beta1, beta2=beta2, eps=group["eps"])
        return loss


def row_adam_step(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor, exp_avg_sq: torch.Tensor,
                  step: int, *, lr: float, beta1: float, beta2: float, eps: float) -> None:
    """One SparseAdam update of the rows in the sparse ``grad``, each row read and written once, in order."""
    grad = coalesced(grad)  # sorted distinct rows (personae.train.rows gathers them so: then no sort here)
    rows, values = grad.indices()[0], grad.values()
    if values.numel() == 0:
        return
    old_exp_avg = exp_avg.index_select(0, rows)
    old_exp_avg_sq = exp_avg_sq.index_select(0, rows)
    exp_avg_update = values.sub(old_exp_avg).mul_(1 - beta1)
    exp_avg_sq_update = values.pow(2).sub_(old_exp_avg_sq).mul_(1 - beta2)
    numer = exp_avg_update.add_(old_exp_avg)  # the new first moment of these rows
    new_exp_avg_sq = exp_avg_sq_update.add_(old_exp_avg_sq)
    exp_avg.index_copy_(0, rows, numer)
    exp_avg_sq.index_copy_(0, rows, new_exp_avg_sq)
    denom = new_exp_avg_sq.sqrt_().add_(eps)
    step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    param.index_copy_(0, rows, param.index_select(0, rows).add_(-step_size * numer.div_(denom)))
