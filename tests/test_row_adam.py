"""RowAdam (personae.train.row_adam): SparseAdam's update to the bit, rows visited once in order."""

import pytest
import torch

from personae.train.row_adam import RowAdam


def sparse_grad(shape: tuple[int, ...], rows: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A sparse row gradient with repeated rows, as a batch's gathers produce it (uncoalesced)."""
    values = torch.randn(len(rows), *shape[1:], generator=gen)
    return torch.sparse_coo_tensor(rows[None], values, shape)


@pytest.mark.parametrize("shape", [(50, 8), (50, 3, 4), (50,)])
def test_row_adam_matches_sparse_adam_bit_for_bit(shape):
    gen = torch.Generator().manual_seed(0)
    start = torch.randn(shape, generator=gen)
    ours, reference = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
    optimizers = RowAdam([ours], lr=0.01), torch.optim.SparseAdam([reference], lr=0.01)
    for _ in range(5):
        rows = torch.randint(0, shape[0], (40,), generator=gen)  # repeats: summed before the update
        grad = sparse_grad(shape, rows, gen)
        ours.grad, reference.grad = grad.clone(), grad.clone()
        for optimizer in optimizers:
            optimizer.step()
    assert torch.equal(ours, reference)
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(optimizers[0].state[ours][key], optimizers[1].state[reference][key])


def test_row_adam_leaves_rows_without_gradient_untouched():
    gen = torch.Generator().manual_seed(1)
    table = torch.nn.Parameter(torch.randn(20, 4, generator=gen))
    before = table.detach().clone()
    table.grad = sparse_grad((20, 4), torch.tensor([3, 7, 3]), gen)
    RowAdam([table], lr=0.1).step()
    changed = (table.detach() != before).any(dim=1)
    assert changed.nonzero().flatten().tolist() == [3, 7]


def test_sparse_rows_gives_the_dense_gather_and_its_gradient_on_distinct_sorted_rows():
    from personae.train.rows import sparse_rows

    gen = torch.Generator().manual_seed(2)
    table = torch.randn(30, 5, generator=gen, requires_grad=True)
    index = torch.tensor([[7, 2, 7], [29, 2, 0]])  # repeats, unsorted
    weights = torch.randn(2, 3, 5, generator=gen)
    out = sparse_rows(table, index)
    (out * weights).sum().backward()
    grad = table.grad
    assert torch.equal(out, table.detach()[index])
    assert grad._indices()[0].tolist() == [0, 2, 7, 29]  # distinct rows, sorted: no coalesce needed
    reference = torch.zeros(30, 5).index_add_(0, index.reshape(-1), weights.reshape(-1, 5))
    assert torch.equal(grad.to_dense(), reference)


def test_coalesced_marks_increasing_rows_and_sums_repeated_ones():
    from personae.train.rows import coalesced

    values = torch.tensor([[1.0], [2.0], [4.0]])
    increasing = coalesced(torch.sparse_coo_tensor(torch.tensor([[1, 3, 8]]), values, (10, 1)))
    repeated = coalesced(torch.sparse_coo_tensor(torch.tensor([[3, 1, 3]]), values, (10, 1)))  # control
    assert increasing.indices()[0].tolist() == [1, 3, 8] and torch.equal(increasing.values(), values)
    assert repeated.indices()[0].tolist() == [1, 3] and repeated.values().flatten().tolist() == [2.0, 5.0]
