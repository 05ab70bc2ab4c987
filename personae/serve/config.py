"""The service's options from the command line: a JSON config file and ``--param KEY=VALUE`` pairs.

Keys are the fields of :class:`~personae.serve.online.UpdateOptions` (how events move personas, capping) and
of :class:`~personae.serve.retrieval.IndexOptions` (FAISS); ``--param`` pairs override the file. A calibration
written by ``bench/serve_stability.py`` (``max_step``, ``max_drift``, ...) is such a file.
"""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from personae.errors import DataError
from personae.experiment import _coerce  # the one --param value converter
from personae.files import read_json
from personae.serve.online import UpdateOptions
from personae.serve.retrieval import IndexOptions
from personae.serve.service import ServeOptions


def serve_options(config: Path | None = None, params: list[str] | None = None) -> ServeOptions:
    """ServeOptions from a JSON object file (``{"novel_below": 0.4, ...}``) and then ``KEY=VALUE`` pairs."""
    values: dict[str, Any] = {}
    if config is not None:
        loaded = read_json(Path(config), DataError)
        if not isinstance(loaded, dict):
            raise DataError(f"--config {config}: expected a JSON object of option names and values")
        values.update({key: _checked(key, value, f"--config {config}") for key, value in loaded.items()})
    for pair in params or []:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise DataError(f"--param '{pair}': expected KEY=VALUE")
        values[key] = _coerce(key, raw.strip(), _hints().get(key, _unknown(key, "--param")))
    update = {k: v for k, v in values.items() if k in _names(UpdateOptions)}
    index = {k: v for k, v in values.items() if k in _names(IndexOptions)}
    for key in ("percentiles", "rating_scale"):
        if isinstance(update.get(key), list):
            update[key] = tuple(update[key])
    return ServeOptions(update=replace(UpdateOptions(), **update), index=replace(IndexOptions(), **index))


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def _hints() -> dict[str, Any]:
    return {**get_type_hints(UpdateOptions), **get_type_hints(IndexOptions)}


def _unknown(key: str, where: str) -> Any:
    if key in _hints():
        return None
    known = ", ".join(sorted(_names(UpdateOptions) | _names(IndexOptions)))
    raise DataError(f"{where} {key}: the service has no such option (options: {known})")


def _checked(key: str, value: Any, where: str) -> Any:
    """A config file's value, refused by name when the option does not exist or the type is wrong."""
    _unknown(key, where)
    hint = getattr(_hints()[key], "__name__", None) or str(_hints()[key]).replace("typing.", "")
    if value is None and "None" in hint:
        return None
    kinds = {"bool": (bool,), "int": (int,), "float": (int, float), "tuple": (list,)}
    accepted = tuple(t for name, types in kinds.items() if name in hint for t in types)
    if isinstance(value, bool) and "bool" not in hint or not isinstance(value, accepted):
        raise DataError(f"{where}: option '{key}' expects {hint}, got {value!r}")
    return value
