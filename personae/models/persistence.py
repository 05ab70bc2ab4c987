"""Save and load models as a directory: ``weights.safetensors`` + ``config.json`` + ``id_maps.json``.

Saving writes into a temporary sibling directory and renames it into place, so a crash never leaves a
half-written model. Loading checks every file's SHA-256 against config.json and never unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from personae.data.errors import DataError
from personae.data.interactions import Interactions
from personae.models.base import Recommender

FORMAT = "personae-model/1"
WEIGHTS, CONFIG, ID_MAPS = "weights.safetensors", "config.json", "id_maps.json"
TRAIN_PREFIX = "train."  # arrays of the training events, kept so a loaded model can exclude seen items


class ModelFileError(DataError):
    """A saved model directory is missing, truncated or does not match its config."""


def save_model(model: Recommender, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to directory ``path`` atomically; ``extra`` goes into config.json (e.g. data source)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    train = model.fitted_data
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        arrays = {name: np.ascontiguousarray(value) for name, value in model.state_arrays().items()}
        arrays[TRAIN_PREFIX + "users"] = train.users
        arrays[TRAIN_PREFIX + "items"] = train.items
        if train.timestamps is not None:
            arrays[TRAIN_PREFIX + "timestamps"] = train.timestamps
        save_file(arrays, str(scratch / WEIGHTS))
        id_maps = {"user_ids": train.user_ids.tolist(), "item_ids": train.item_ids.tolist()}
        if train.item_info is not None:
            info = train.item_info
            id_maps["item_titles"] = info["title"].astype(str).tolist() if "title" in info else None
            id_maps["item_genres"] = [list(g) for g in info["genres"]] if "genres" in info else None
        _write_json(scratch / ID_MAPS, id_maps)
        config = {
            "format": FORMAT,
            "model": model.name,
            "options": asdict(model.options),
            "n_users": train.n_users,
            "n_items": train.n_items,
            **(extra or {}),
            "files": {name: _sha256(scratch / name) for name in (WEIGHTS, ID_MAPS)},
        }
        _write_json(scratch / CONFIG, config)
        if target.exists():
            backup = target.with_name(f".{target.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(target, backup)
            os.replace(scratch, target)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return target


def read_config(path: str | Path) -> dict[str, Any]:
    """config.json of a saved model, validated for format and required keys."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: not a model directory")
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise ModelFileError(f"{config_path}: missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{config_path}: not a {FORMAT} config (field 'format')")
    for key in ("model", "options", "files", "n_users", "n_items"):
        if key not in config:
            raise ModelFileError(f"{config_path}: missing field '{key}'")
    # Every file must be covered by a checksum, or a swapped file would load unchecked.
    if not isinstance(config["files"], dict) or not {WEIGHTS, ID_MAPS} <= set(config["files"]):
        raise ModelFileError(f"{config_path}: field 'files' must give the SHA-256 of {WEIGHTS} and {ID_MAPS}")
    return config


def load_model(path: str | Path) -> Recommender:
    """Rebuild a saved model; refuses missing, truncated or mismatched files with a clear error."""
    from personae.models import model_class

    folder = Path(path)
    config = read_config(folder)
    for name, expected in config["files"].items():
        file = folder / name
        if not file.is_file():
            raise ModelFileError(f"{file}: missing")
        if _sha256(file) != expected:
            raise ModelFileError(f"{file}: checksum mismatch (truncated or changed after saving)")
    try:
        cls = model_class(config["model"])
    except ValueError as exc:
        raise ModelFileError(f"{folder / CONFIG}: field 'model': {exc}") from None
    try:
        options = cls.Options(**config["options"])
    except TypeError as exc:
        raise ModelFileError(f"{folder / CONFIG}: field 'options' does not fit model '{cls.name}': {exc}") from None
    try:
        arrays = load_file(str(folder / WEIGHTS))
    except SafetensorError as exc:
        raise ModelFileError(f"{folder / WEIGHTS}: not a readable safetensors file ({exc})") from None
    id_maps = json.loads((folder / ID_MAPS).read_text(encoding="utf-8"))
    train = _training_data(arrays, id_maps, config)
    state = {k: v for k, v in arrays.items() if not k.startswith(TRAIN_PREFIX)}
    model = cls(options=options)
    try:
        model.load_state_arrays(state, train)
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{folder / WEIGHTS}: weights do not match model '{cls.name}': {exc}") from None
    model.saved_config_ = config
    return model


def _training_data(arrays: dict[str, np.ndarray], id_maps: dict, config: dict) -> Interactions:
    user_ids = np.asarray(id_maps["user_ids"], dtype=str)
    item_ids = np.asarray(id_maps["item_ids"], dtype=str)
    if len(user_ids) != config["n_users"] or len(item_ids) != config["n_items"]:
        raise ModelFileError(f"{ID_MAPS}: id maps do not match n_users/n_items in {CONFIG}")
    info = None
    if id_maps.get("item_titles") is not None or id_maps.get("item_genres") is not None:
        info = pd.DataFrame(index=np.arange(len(item_ids)))
        if id_maps.get("item_titles") is not None:
            info["title"] = id_maps["item_titles"]
        if id_maps.get("item_genres") is not None:
            info["genres"] = id_maps["item_genres"]
    return Interactions(
        user_ids=user_ids,
        item_ids=item_ids,
        users=arrays[TRAIN_PREFIX + "users"],
        items=arrays[TRAIN_PREFIX + "items"],
        timestamps=arrays.get(TRAIN_PREFIX + "timestamps"),
        item_info=info,
        name="train",
    )


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, default=_json_default), encoding="utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
