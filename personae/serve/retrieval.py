"""Top-k retrieval for multi-persona users: exact for small catalogues, FAISS plus exact re-scoring above.

A user with K personas queries the index once per persona (ComiRec-style multi-interest retrieval): the
inner-product index holds ``[e_i, b_i]`` and persona k queries with ``[p_k, 1]``, so each search ranks items by
that persona's own score. The candidates of all personas are merged, deduplicated and re-scored exactly with
the candidate-conditional attention, so the final order is the model's, only the candidate set is approximate.

A user may also hold a *candidate* persona c with a bounded weight lam (personae.serve.candidate); it enters
every score as one more persona mixed at that fixed weight:

    s(i) = (1 - lam) sum_k w_k(i) <p_k, e_i> + lam <c, e_i> + b_i

Below ``EXACT_MAX_ITEMS`` items, scoring the whole catalogue is cheap (a few ms) and exact, so no index is
built; bench/serve_faiss.py measures both paths (recall@10 and latency) at 1,000,000 items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from personae.models.scoring import persona_scores, persona_top_k
from personae.train.devices import resolve_device

EXACT_MAX_ITEMS = 20_000  # catalogues up to this size are scored exactly (see README and bench/RESULTS.md)


@dataclass
class IndexOptions:
    """FAISS IVF settings; defaults chosen on a synthetic 1M-item catalogue (bench/serve_faiss.py)."""

    exact_max_items: int = EXACT_MAX_ITEMS
    nlist: int = 0  # inverted lists; 0 = 2 * sqrt(n_items) rounded
    nprobe: int = 24  # lists visited per persona query
    candidates: int = 100  # candidates fetched per persona before exact re-scoring
    train_size: int = 100_000  # items used to train the coarse quantiser
    threads: int = 1  # FAISS threads (the machine is shared)
    device: str = "cpu"  # where the exact kernel scores: auto, cpu or cuda (personae.train.devices)


class Retriever:
    """Top-k items for a persona array over one catalogue of item vectors (n, dim) and biases (n,)."""

    def __init__(self, items: np.ndarray, bias: np.ndarray, temperature: float,
                 options: IndexOptions | None = None) -> None:
        self.items = np.ascontiguousarray(items, dtype=np.float32)
        self.bias = np.ascontiguousarray(bias, dtype=np.float32)
        self.temperature = temperature
        self.options = options or IndexOptions()
        self.device = resolve_device(self.options.device)
        self._items_t = torch.from_numpy(self.items).to(self.device)  # the kernel's copies, on its device
        self._bias_t = torch.from_numpy(self.bias).to(self.device)
        self.index = self._build_index() if len(self.items) > self.options.exact_max_items else None

    @property
    def method(self) -> str:
        return "exact" if self.index is None else "faiss"

    def _build_index(self):
        import faiss  # only large catalogues need it

        o = self.options
        faiss.omp_set_num_threads(o.threads)
        n, dim = self.items.shape
        augmented = np.hstack([self.items, self.bias[:, None]])  # (n, dim + 1): <[p, 1], [e, b]> = <p, e> + b
        nlist = o.nlist or round(2 * float(np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(dim + 1)
        index = faiss.IndexIVFFlat(quantizer, dim + 1, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(n, size=min(n, max(o.train_size, 40 * nlist)), replace=False)
        index.train(augmented[np.sort(sample)])
        index.add(augmented)
        index.nprobe = o.nprobe
        self._quantizer = quantizer  # the IVF index does not own its quantiser in Python
        return index

    @torch.no_grad()
    def exact(self, personas: np.ndarray, mask: np.ndarray | None = None,
              candidate: tuple[np.ndarray, float] | None = None) -> np.ndarray:
        """(n_items,) exact scores of every item, by the one ranking kernel (plus the candidate term)."""
        return self._scores(personas, mask, np.arange(len(self.items)), candidate)

    def _scores(self, personas: np.ndarray, mask: np.ndarray | None, pool: np.ndarray,
                candidate: tuple[np.ndarray, float] | None) -> np.ndarray:
        """(K, dim) personas over the items ``pool`` (C,) -> (C,) scores (numpy)."""
        p, m = _user(personas, mask, self.device)
        items, bias = self.items[pool], self.bias[pool]
        index = torch.as_tensor(pool).to(self.device)
        scores = persona_scores(p, self._items_t[index], self._bias_t[index], self.temperature,
                                mask=m)[0].cpu().numpy()
        if candidate is None:
            return scores
        vector, weight = candidate
        return (1.0 - weight) * (scores - bias) + weight * (items @ vector) + bias

    def candidates(self, personas: np.ndarray, mask: np.ndarray | None, n: int) -> np.ndarray:
        """Item indices found by one index query per (kept) persona, merged and deduplicated."""
        kept = personas if mask is None else personas[np.asarray(mask, dtype=bool)]
        queries = np.hstack([kept, np.ones((len(kept), 1))]).astype(np.float32)  # (K', dim + 1)
        _, found = self.index.search(queries, n)  # (K', n), -1 where a list ran short
        return np.unique(found[found >= 0])

    def top_k(self, personas: np.ndarray, k: int, mask: np.ndarray | None = None,
              exclude: np.ndarray | None = None,
              candidate: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(k,) item indices best first and their exact scores; ``exclude`` items are never returned.
        ``candidate``: (vector (dim,), weight) of a candidate persona, or None."""
        exclude = np.zeros(0, dtype=np.int64) if exclude is None else np.asarray(exclude, dtype=np.int64)
        if candidate is not None:
            return self._top_k_with_candidate(personas, k, mask, exclude, candidate)
        p, m = _user(personas, mask, self.device)
        if self.index is None:
            seen = sp.csr_matrix((np.ones(len(exclude)), (np.zeros(len(exclude), dtype=np.int64), exclude)),
                                 shape=(1, len(self.items)))
            found = persona_top_k(p, self._items_t, self._bias_t, k, self.temperature, mask=m, exclude=seen)
            best, scores = found.items[0], found.scores[0]
            return best[np.isfinite(scores)], scores[np.isfinite(scores)]
        wanted = max(self.options.candidates, k) + len(exclude)  # seen items may fill a persona's list
        pool = self.candidates(personas, mask, wanted)
        pool = pool[~np.isin(pool, exclude)]
        found = persona_top_k(p, self._items_t[torch.as_tensor(pool).to(self.device)],
                              self._bias_t[torch.as_tensor(pool).to(self.device)], k, self.temperature, mask=m)  # ties: lower pool position = lower item index
        return pool[found.items[0]], found.scores[0]

    def _top_k_with_candidate(self, personas: np.ndarray, k: int, mask: np.ndarray | None, exclude: np.ndarray,
                              candidate: tuple[np.ndarray, float]) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of the scores with the candidate term: over the whole catalogue, or over the index's
        candidates of every persona and of the candidate persona itself."""
        if self.index is None:
            pool = np.arange(len(self.items))
        else:
            queries = np.vstack([personas, candidate[0][None]])
            keep = None if mask is None else np.append(np.asarray(mask, dtype=bool), True)
            pool = self.candidates(queries, keep, max(self.options.candidates, k) + len(exclude))
        pool = pool[~np.isin(pool, exclude)]
        scores = self._scores(personas, mask, pool, candidate)
        order = np.lexsort((pool, -scores))[:k]  # best first; ties go to the lower item index
        return pool[order], scores[order].astype(np.float32)


def _user(personas: np.ndarray, mask: np.ndarray | None,
          device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One user's (K, dim) personas and (K,) mask as the kernel's (1, K, dim) and (1, K) tensors."""
    p = torch.as_tensor(np.asarray(personas, dtype=np.float32))[None].to(device)
    return p, None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))[None].to(device)
