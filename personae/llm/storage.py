"""Atomic writes for results: a crash never leaves a half-written JSON, PNG or tensor file behind."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from personae import files


def _atomic(path: str | Path, write: Callable[[str], None]) -> Path:
    """Write through `write(tmp_path)` into a temp file in the same directory, then os.replace it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def write_json(path: str | Path, data: Any) -> Path:
    """Strict JSON (NaN written as null), atomically: the project's one writer."""
    return files.write_json(path, data)


def write_text(path: str | Path, text: str) -> Path:
    return _atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def save_figure(fig: Any, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it (figures pile up memory otherwise)."""
    import matplotlib.pyplot as plt

    try:
        return _atomic(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    finally:
        plt.close(fig)


def write_arrays(path: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """Save named float arrays as safetensors (no pickle anywhere on the load path)."""
    from safetensors.numpy import save_file

    clean = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    return _atomic(path, lambda tmp: save_file(clean, tmp))


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"array file not found: {path}")
    return load_file(str(path))


def pyplot():
    """matplotlib.pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
