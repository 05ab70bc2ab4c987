"""Save and load models as a directory: ``weights.safetensors`` + ``config.json`` + ``id_maps.json``.

Saving writes into a temporary sibling directory and renames it into place, so a crash never leaves a
half-written model. Loading checks every file's SHA-256 against config.json, and config.json against its own
``config_sha256``, and never unpickles. config.json also keeps a digest of the training events, so
``evaluate`` can refuse data that changed since training (:func:`check_same_events`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import types
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

import numpy as np
import pandas as pd
from safetensors import SafetensorError
from safetensors.numpy import load_file, save_file

from personae.data.interactions import Interactions
from personae.errors import DataError
from personae.files import read_json, write_json
from personae.models.catalogue import model_class

if TYPE_CHECKING:
    from personae.models.base import Recommender

FORMAT = "personae-model/1"
WEIGHTS, CONFIG, ID_MAPS = "weights.safetensors", "config.json", "id_maps.json"
CONFIG_SHA = "config_sha256"  # config.json's checksum of itself (without this field)
TRAIN_PREFIX = "train."  # arrays of the training events, kept so a loaded model can exclude seen items


class ModelFileError(DataError):
    """A saved model directory is missing, truncated or does not match its config."""


def events_fingerprint(data: Interactions) -> dict[str, Any]:
    """``{"events": n, "sha256": ...}`` of the events in row order, by external ids and timestamps, so
    the same events give the same digest whatever the index maps."""
    digest = hashlib.sha256()
    for column in (data.user_ids[data.users], data.item_ids[data.items]):
        digest.update("\n".join(column.tolist()).encode("utf-8") + b"\0")
    if data.timestamps is not None:
        digest.update(np.ascontiguousarray(data.timestamps, dtype=np.float64).tobytes())
    return {"events": len(data), "sha256": digest.hexdigest()}


def save_model(model: Recommender, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to directory ``path`` atomically; ``extra`` goes into config.json (e.g. data source)."""
    target = Path(path)
    train = model.fitted_data
    try:
        _save(model, train, target, extra or {})
    except OSError as exc:
        raise ModelFileError(f"{target}: cannot write the model ({exc.strerror or exc})") from exc
    return target


def _save(model: Recommender, train: Interactions, target: Path, extra: dict[str, Any]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
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
            **extra,
            # digests of the split's events: train here, valid and test from the caller's provenance
            "events": {**extra.get("events", {}), "train": events_fingerprint(train)},
            "files": {name: _sha256(scratch / name) for name in (WEIGHTS, ID_MAPS)},
        }
        config[CONFIG_SHA] = config_checksum(config)
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


def config_checksum(config: dict[str, Any]) -> str:
    """SHA-256 of config.json's content without its own checksum field, in canonical JSON."""
    content = {k: v for k, v in config.items() if k != CONFIG_SHA}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=_json_default).encode("utf-8")).hexdigest()


def read_config(path: str | Path) -> dict[str, Any]:
    """config.json of a saved model, validated for format and required keys."""
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: not a model directory")
    config_path = folder / CONFIG
    if not config_path.is_file():
        raise ModelFileError(f"{config_path}: missing")
    config = read_json(config_path, ModelFileError)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{config_path}: not a {FORMAT} config (field 'format')")
    for key in ("model", "options", "files", "n_users", "n_items"):
        if key not in config:
            raise ModelFileError(f"{config_path}: missing field '{key}'")
    # Every file must be covered by a checksum, or a swapped file would load unchecked.
    if not isinstance(config["files"], dict) or not {WEIGHTS, ID_MAPS} <= set(config["files"]):
        raise ModelFileError(f"{config_path}: field 'files' must give the SHA-256 of {WEIGHTS} and {ID_MAPS}")
    if config.get(CONFIG_SHA) != config_checksum(config):
        problem = "missing field 'config_sha256'" if CONFIG_SHA not in config else "checksum mismatch"
        raise ModelFileError(f"{config_path}: {problem} (changed after saving, or saved by an older personae)")
    return config


def load_model(path: str | Path) -> Recommender:
    """Rebuild a saved model; refuses missing, truncated or mismatched files with a clear error."""
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
    options = _options(cls, config["options"], folder / CONFIG)
    try:
        arrays = load_file(str(folder / WEIGHTS))
    except SafetensorError as exc:
        raise ModelFileError(f"{folder / WEIGHTS}: not a readable safetensors file ({exc})") from None
    id_maps = read_json(folder / ID_MAPS, ModelFileError)
    train = _training_data(arrays, id_maps, config, folder)
    state = {k: v for k, v in arrays.items() if not k.startswith(TRAIN_PREFIX)}
    model = cls(options=options)
    try:
        model.load_state_arrays(state, train)
    except KeyError as exc:
        raise ModelFileError(f"{folder / WEIGHTS}: weights do not match model '{cls.name}': missing array {exc}") from None
    except (RuntimeError, ValueError) as exc:
        raise ModelFileError(f"{folder / WEIGHTS}: weights do not match model '{cls.name}': {exc}") from None
    model.saved_config_ = config
    return model


def _options(cls: type[Recommender], values: Any, config_path: Path) -> Any:
    """The model's options from config.json, refusing unknown names and values of the wrong type."""
    where = f"{config_path}: field 'options'"
    if not isinstance(values, dict):
        raise ModelFileError(f"{where}: expected an object of option values")
    hints = get_type_hints(cls.Options)
    known = {f.name for f in fields(cls.Options)}
    for name, value in values.items():
        if name not in known:
            raise ModelFileError(f"{where} does not fit model '{cls.name}': it has no option '{name}'")
        if not _fits(value, hints[name]):
            raise ModelFileError(f"{where}: option '{name}' is {value!r}, expected {_type_name(hints[name])}")
    return cls.Options(**values)


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits an option's type hint (int, float, str, bool, unions with None)."""
    allowed = hint.__args__ if isinstance(hint, types.UnionType) else (hint,)
    for kind in allowed:
        if kind is type(None) and value is None:
            return True
        if kind is bool and isinstance(value, bool):
            return True
        if kind in (int, float, str) and isinstance(value, kind) and not isinstance(value, bool):
            return True
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return True
    return False


def _type_name(hint: Any) -> str:
    allowed = hint.__args__ if isinstance(hint, types.UnionType) else (hint,)
    return " or ".join("null" if kind is type(None) else kind.__name__ for kind in allowed)


def _training_data(arrays: dict[str, np.ndarray], id_maps: Any, config: dict, folder: Path) -> Interactions:
    for key in ("user_ids", "item_ids"):
        if not isinstance(id_maps, dict) or key not in id_maps:
            raise ModelFileError(f"{folder / ID_MAPS}: missing field '{key}'")
    for key in ("users", "items"):
        if TRAIN_PREFIX + key not in arrays:
            raise ModelFileError(f"{folder / WEIGHTS}: missing array '{TRAIN_PREFIX + key}'")
    user_ids = np.asarray(id_maps["user_ids"], dtype=str)
    item_ids = np.asarray(id_maps["item_ids"], dtype=str)
    if len(user_ids) != config["n_users"] or len(item_ids) != config["n_items"]:
        raise ModelFileError(f"{folder / ID_MAPS}: id maps do not match n_users/n_items in {CONFIG}")
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
    write_json(path, payload)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_same_events(config: dict[str, Any], parts: dict[str, Interactions], saved_train: Interactions,
                      where: str) -> None:
    """Refuse, naming the difference, when rebuilt split parts differ from the events the model was saved with.

    ``parts`` maps part names (train, valid, test) to the rebuilt events; ``where`` names the data source.
    """
    for part, recorded in config.get("events", {}).items():
        if part not in parts:
            continue
        now = events_fingerprint(parts[part])
        if now == recorded:
            continue
        if now["events"] != recorded["events"]:
            detail = f"{now['events']} {part} events now, {recorded['events']} when the model was saved"
        elif part == "train":
            detail = _first_difference(saved_train, parts[part])
        else:
            detail = f"the {recorded['events']} {part} events differ in users, items or times"
        raise DataError(f"{where} has changed since the model was trained: {detail}")


def _first_difference(saved: Interactions, now: Interactions) -> str:
    """The first training event (in row order) that differs, in external ids."""
    def event(data: Interactions, row: int) -> str:
        time = "" if data.timestamps is None else f" at {data.timestamps[row]:g}"
        return f"user {data.user_ids[data.users[row]]} item {data.item_ids[data.items[row]]}{time}"

    for row in range(len(now)):
        if event(saved, row) != event(now, row):
            return f"training event {row + 1} is {event(now, row)}, the model saw {event(saved, row)}"
    return "the training events differ"
