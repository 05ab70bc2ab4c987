"""LoRA adapters on disk: safetensors weights, peft's JSON config, and a JSON of SHA-256 checksums.

Never a pickle: an adapter directory holding only a `.bin` is refused, and the weights' checksum is checked
before peft reads them. Loading merges the adapter into the base weights, so hooks and hidden states work
on the adapted model exactly as on the base one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from personae.llm.errors import BackendError

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
META = "adapter_meta.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_adapter(peft_model: Any, out: str | Path, meta: dict) -> Path:
    """Write the adapter of a peft model to `out` (safetensors + config) and `adapter_meta.json` with the
    training summary in `meta` and the files' SHA-256."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    sums = {name: _sha256(out / name) for name in (WEIGHTS, CONFIG)}
    (out / META).write_text(json.dumps({**meta, "sha256": sums}, indent=2) + "\n")
    return out


def read_adapter_meta(path: str | Path) -> dict:
    """The checked metadata of an adapter directory; a missing or altered file is one BackendError line."""
    path = Path(path)
    if not (path / WEIGHTS).is_file():
        pickled = " (it holds a pickled .bin, which personae never loads)" if (path / "adapter_model.bin").exists() else ""
        raise BackendError(f"adapter directory {path}: no {WEIGHTS}{pickled}")
    try:
        meta = json.loads((path / META).read_text())
    except FileNotFoundError:
        raise BackendError(f"adapter directory {path}: no {META} with checksums") from None
    except json.JSONDecodeError as exc:
        raise BackendError(f"{path / META}: invalid JSON ({exc})") from None
    for name, expected in meta.get("sha256", {}).items():
        if not (path / name).is_file() or _sha256(path / name) != expected:
            raise BackendError(f"adapter directory {path}: {name} does not match its SHA-256 in {META}")
    return meta


def load_adapter(model: Any, path: str | Path) -> Any:
    """The base `model` with the checked adapter at `path` merged into its weights."""
    from peft import PeftModel

    read_adapter_meta(path)
    try:
        return PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    except (ValueError, KeyError, RuntimeError) as exc:  # an adapter for another base model
        raise BackendError(f"adapter {path} does not fit this model: {str(exc).splitlines()[0]}") from None
