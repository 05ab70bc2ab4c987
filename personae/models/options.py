"""Model options from the command line: ``--param KEY=VALUE`` pairs typed by each model's option fields, and
a model built from them.

Every model's options are a typed dataclass (personae.models.base.ModelOptions); these functions are the one
place text becomes an option value, for ``train``, ``benchmark``, ``serve --param`` and the bench scripts.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, get_type_hints

from personae.errors import DataError
from personae.models.base import Recommender
from personae.models.catalogue import model_class


def parse_params(model_name: str, pairs: list[str]) -> dict[str, Any]:
    """``["l2=250", "dim=32"]`` -> typed option values for ``model_name``; unknown keys are refused."""
    cls = model_class(model_name)
    hints = get_type_hints(cls.Options)
    known = {f.name for f in fields(cls.Options)}
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise DataError(f"--param '{pair}': expected KEY=VALUE")
        if key not in known:
            raise DataError(f"--param {key}: model '{model_name}' has no such option (options: {', '.join(sorted(known))})")
        values[key] = coerce(key, raw.strip(), hints[key])
    return values


def coerce(key: str, raw: str, hint: Any) -> Any:
    """Convert ``raw`` to the first type of the option's type hint that accepts it (bool, int, float, str)."""
    text = str(hint)
    if raw.lower() in ("none", "null", "") and "None" in text:
        return None
    if "bool" in text and raw.lower() in ("true", "false", "1", "0", "yes", "no"):
        return raw.lower() in ("true", "1", "yes")
    for name, convert in (("int", int), ("float", float)):
        if name in text:
            try:
                return convert(raw)
            except ValueError:
                continue
    if "str" in text:
        return raw
    raise DataError(f"--param {key}={raw}: expected {text.replace('typing.', '')}")


def params_for(model_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``params`` that ``model_name`` has as options (benchmark applies keys where they fit)."""
    known = {f.name for f in fields(model_class(model_name).Options)}
    return {k: v for k, v in params.items() if k in known}


def build_model(model_name: str, params: dict[str, Any] | None = None, seed: int = 0,
                progress: bool = True) -> Recommender:
    cls = model_class(model_name)
    values = dict(params or {})
    values.setdefault("seed", seed)
    if "progress" in {f.name for f in fields(cls.Options)}:
        values.setdefault("progress", progress)
    try:
        return cls(**values)
    except TypeError as exc:
        raise DataError(f"model '{model_name}': {exc}") from None
