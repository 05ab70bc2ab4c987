"""Atomic file writes (a crash never leaves a half-written result, report or JSON file behind), the one JSON
writer, and checked JSON reads."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from personae.errors import DataError


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it into place.

    A path that cannot be written (no permission, a file where a folder should be) is a DataError naming it.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}-")
    except OSError as exc:
        raise DataError(f"{target}: cannot write ({exc.strerror or exc})") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(scratch, 0o644)  # mkstemp makes the file private; results are meant to be read by others
        os.replace(scratch, target)
    except OSError as exc:
        Path(scratch).unlink(missing_ok=True)
        raise DataError(f"{target}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    return target


def write_json(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` as strict JSON (indent 2, a final newline), atomically; the one JSON writer.

    NumPy scalars and arrays are written as numbers and lists, paths as strings, and NaN or infinity as
    ``null`` (an undefined statistic stays readable by any JSON parser)."""
    return write_text_atomic(path, json.dumps(_finite(payload), indent=2, default=_jsonable, allow_nan=False) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return _finite(value.tolist())
    if isinstance(value, np.generic):
        return _finite(value.item())
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite(value: Any) -> Any:
    """NaN and infinity -> None, through dicts, lists and tuples (the rest is left to ``_jsonable``)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def read_json(path: str | Path, error: type[DataError] = DataError) -> Any:
    """The parsed JSON in ``path``; a file that is not valid UTF-8 JSON raises ``error`` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid JSON ({exc})") from None
