"""Where a model's data came from, recorded in its config so `evaluate` can rebuild the same split."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from personae.data.interactions import Interactions
from personae.data.readers import Columns, read_interactions, read_item_info, read_user_info
from personae.data.registry import load_dataset
from personae.errors import DataError


@dataclass(frozen=True)
class DataSource:
    """Either a built-in dataset name or a user's file with named columns."""

    dataset: str | None = None
    data: str | None = None
    user_col: str = "user_id"
    item_col: str = "item_id"
    time_col: str | None = None
    item_info: str | None = None
    user_info: str | None = None

    def __post_init__(self) -> None:
        if (self.dataset is None) == (self.data is None):
            raise DataError("give exactly one of --dataset NAME or --data FILE")

    def label(self) -> str:
        return self.dataset or Path(self.data).name  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: object) -> DataSource:
        """From a saved config's ``source``: refuses unknown fields and values that are not text."""
        if not isinstance(values, dict):
            raise DataError(f"expected an object of fields, got {values!r}")
        known = [f.name for f in fields(cls)]
        for key, value in values.items():
            if key not in known:
                raise DataError(f"no field '{key}' (fields: {', '.join(known)})")
            if value is not None and not isinstance(value, str):
                raise DataError(f"field '{key}' must be text or null, got {value!r}")
        return cls(**values)


def load_source(source: DataSource) -> Interactions:
    """Load the interactions (with side information where given) that ``source`` names."""
    if source.dataset is not None:
        return load_dataset(source.dataset)
    path = Path(source.data).expanduser()  # type: ignore[arg-type]
    data = read_interactions(path, Columns(source.user_col, source.item_col, source.time_col))
    item_info = read_item_info(source.item_info, source.item_col, data) if source.item_info else None
    user_info = read_user_info(source.user_info, source.user_col, data) if source.user_info else None
    return data.with_side_info(item_info=item_info, user_info=user_info)
