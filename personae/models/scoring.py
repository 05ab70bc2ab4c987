"""The one full-ranking path for multi-persona models: batched products, in-cache blocks, partial top-k.

A user with K personas p_k (and attention keys a_k, tied to p_k by default) scores item i as

    w_k(i) = softmax_k(<a_k, q_i> / tau)        s(i) = sum_k w_k(i) <p_k, e_i> + b_i

For a block of B users and C items that is one (B*K, dim) @ (dim, C) product (two with separate keys) and an
elementwise softmax over K: no Python loop per user or per item. Blocks are sized so the (B, K, C)
intermediate stays in the CPU cache (``USER_BLOCK`` x ``ITEM_BLOCK``, chosen by bench/scale_inference.py).
Top-k is a partial selection over each user block (``torch.topk``, then the order of
:func:`personae.evaluate.metrics.top_k`: ties go to the lower item index), so memory stays at one block's scores
whatever the number of users. The 64 x 512 blocks won or tied the block sweep in bench/RESULTS.md.

The evaluator (through ``Recommender.rank``), ``recommend-all`` and the service's retrieval all call
:func:`persona_top_k` / :func:`persona_scores`; ``MultiPersonaNetwork`` scores its catalogue with them too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from personae.evaluate.metrics import top_k
from personae.models.attention import candidate_attention
from personae.threads import torch_threads

USER_BLOCK = 64  # users per block: (USER_BLOCK, K, ITEM_BLOCK) floats stay in L2 (bench/scale_inference.py)
ITEM_BLOCK = 512  # items per block


@dataclass
class TopK:
    """Each user's best items, best first; ``persona``/``weight`` only when attribution was asked for."""

    items: np.ndarray  # (B, k) item indices
    scores: np.ndarray  # (B, k) float32
    persona: np.ndarray | None = None  # (B, k) the persona whose attention weight wins each item
    weight: np.ndarray | None = None  # (B, k) that weight


def _block(personas: torch.Tensor, items_t: torch.Tensor, temperature: float, keys: torch.Tensor | None,
           queries_t: torch.Tensor | None, mask: torch.Tensor | None,
           out: torch.Tensor | None = None) -> torch.Tensor:
    """(b, K, dim) personas, (dim, c) item vectors (transposed) -> (b, c) scores without the bias, written
    into ``out`` when given (no grad: the intermediates are reused in place)."""
    b, k, dim = personas.shape
    affinity = torch.mm(personas.reshape(b * k, dim), items_t).view(b, k, -1)  # (b, K, c): the raw product
    if keys is None:
        logits = affinity if temperature == 1.0 else affinity / temperature
    else:
        logits = torch.mm(keys.reshape(b * k, dim), queries_t).view(b, k, -1) / temperature
    if mask is not None:
        logits = logits.masked_fill(~mask[:, :, None], float("-inf"))
    weights = torch.softmax(logits, dim=1)  # (b, K, c), one fused pass
    if mask is not None:
        weights = torch.nan_to_num(weights)
    if out is None:
        return (weights * affinity).sum(dim=1)
    return torch.sum(weights.mul_(affinity), dim=1, out=out)  # straight into the caller's score matrix


def persona_scores(personas: torch.Tensor, items: torch.Tensor, bias: torch.Tensor, temperature: float = 1.0,
                   keys: torch.Tensor | None = None, queries: torch.Tensor | None = None,
                   mask: torch.Tensor | None = None, threads: int = 1,
                   out: torch.Tensor | None = None) -> torch.Tensor:
    """(B, K, dim) personas, (N, dim) item vectors, (N,) bias -> (B, N) scores of every item.

    ``keys`` (B, K, dim) and ``queries`` (N, dim) are the separate attention keys (default: tied to personas
    and items); ``mask`` (B, K) is False for pruned personas. Differentiable when grad is enabled (the
    service checks its hand-written gradient against it); without grad each block is written in place, into
    ``out`` (B, N) when given (a buffer reused across calls saves the page faults of a fresh matrix).
    """
    if mask is not None and bool(mask.all()):
        mask = None  # nothing pruned: skip the masking passes
    items_t = items.T  # (dim, N); column slices of it are what the product reads
    queries_t = None if keys is None else (items_t if queries is None else queries.T)  # queries default: items
    n_users, n_items = personas.shape[0], items.shape[0]
    grad = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (personas, items, bias, keys))
    if grad:
        out = None
    elif out is None:
        out = torch.empty(n_users, n_items, dtype=personas.dtype, device=personas.device)
    with torch_threads(threads):
        rows = []
        for start in range(0, n_users, USER_BLOCK):
            users = slice(start, start + USER_BLOCK)
            p, a = personas[users], None if keys is None else keys[users]
            m = None if mask is None else mask[users]
            cols = [_block(p, items_t[:, s:s + ITEM_BLOCK], temperature, a,
                           None if queries_t is None else queries_t[:, s:s + ITEM_BLOCK], m,
                           None if out is None else out[users, s:s + ITEM_BLOCK])
                    for s in range(0, n_items, ITEM_BLOCK)]
            if out is None:
                rows.append(torch.cat(cols, dim=1) if cols else p.new_zeros(len(p), 0))
        if out is not None:
            return out.add_(bias)
        return torch.cat(rows, dim=0) + bias if rows else personas.new_zeros(0, n_items)  # (B, N)


@torch.no_grad()
def persona_top_k(personas: torch.Tensor, items: torch.Tensor, bias: torch.Tensor, k: int,
                  temperature: float = 1.0, keys: torch.Tensor | None = None, queries: torch.Tensor | None = None,
                  mask: torch.Tensor | None = None, exclude: sp.spmatrix | None = None,
                  attribution: bool = False, threads: int = 1) -> TopK:
    """Each user's ``k`` best items by :func:`persona_scores`, best first, scored one user block at a time.

    ``exclude`` (B, N) sparse: items never to list for that user (scored -inf, so they appear only when
    fewer than k others remain, as ``Recommender.recommend`` does). ``attribution`` adds the winning persona
    of each listed item and its weight.
    """
    exclude = None if exclude is None else sp.csr_matrix(exclude)
    found, scored = [], []
    buffer = torch.empty(min(USER_BLOCK, personas.shape[0]), items.shape[0], dtype=personas.dtype,
                         device=personas.device)  # reused
    for start in range(0, personas.shape[0], USER_BLOCK):
        users = slice(start, start + USER_BLOCK)
        p = personas[users]
        scores = persona_scores(p, items, bias, temperature, None if keys is None else keys[users], queries,
                                None if mask is None else mask[users], threads, out=buffer[:len(p)])  # (b, N)
        if exclude is not None:  # flat positions of the block's excluded items, from the CSR arrays directly
            indptr = exclude.indptr[start:start + len(p) + 1]
            rows = np.repeat(np.arange(len(p)), np.diff(indptr))
            flat = rows * items.shape[0] + exclude.indices[indptr[0]:indptr[-1]]
            scores.view(-1).index_fill_(0, torch.as_tensor(flat, dtype=torch.int64).to(scores.device), float("-inf"))
        with torch_threads(threads):
            ranked, best = select_top_k(scores, k)  # (b, k)
        found.append(ranked)
        scored.append(best)
    ranked = np.concatenate(found) if found else np.zeros((0, min(k, items.shape[0])), dtype=np.int64)
    result = TopK(ranked, np.concatenate(scored) if scored else np.zeros(ranked.shape, dtype=np.float32))
    if attribution:
        candidates = torch.as_tensor(ranked).to(items.device)
        weights = candidate_attention(personas if keys is None else keys,
                                      (items if queries is None else queries)[candidates], temperature,
                                      mask)  # (B, k, K)
        best = weights.max(dim=2)
        result.persona, result.weight = best.indices.cpu().numpy(), best.values.cpu().numpy()
    return result


def select_top_k(scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, N) scores -> ((b, k) items best first, (b, k) scores), exactly :func:`metrics.top_k`'s order.

    ``torch.topk`` finds each row's k best in one partial selection but breaks ties at random. When exactly
    k items score at least the k-th score, the set is unambiguous and only its order needs the rule (equal
    scores by lower index: a stable sort of the k, by index then by score); rows with a tie across the cut-off
    (or NaN) go to :func:`metrics.top_k`.
    """
    k = min(k, scores.shape[1])
    if k <= 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64), np.zeros((scores.shape[0], 0), dtype=np.float32)
    values, found = torch.topk(scores, k, dim=1, sorted=False)  # (b, k)
    kth = values.amin(dim=1, keepdim=True)  # (b, 1)
    clean = ((scores >= kth).sum(dim=1) == k).cpu().numpy()  # (b,) no tie across the cut-off, no NaN
    found, values = found.cpu().numpy(), values.cpu().numpy()
    by_index = np.argsort(found, axis=1)  # the k in index order ...
    found, values = np.take_along_axis(found, by_index, 1), np.take_along_axis(values, by_index, 1)
    ranked = np.take_along_axis(found, np.argsort(-values, axis=1, kind="stable"), 1)  # ... then best first
    messy = np.flatnonzero(~clean)
    if len(messy):
        ranked[messy] = top_k(scores[torch.as_tensor(messy).to(scores.device)].cpu().numpy(), k)
    picked = torch.gather(scores, 1, torch.as_tensor(ranked).to(scores.device))  # (b, k): no (b, N) copy back
    return ranked, picked.cpu().numpy()
