"""Every model class by its command-line name, filled as each class is defined (``Recommender.__init_subclass__``).

Loading a saved model (personae.models.persistence) looks its class up here, so it never imports the model
modules, which themselves import the Recommender interface that saves and loads: no circle through
``personae.models``.
"""

from __future__ import annotations

from typing import Any

from personae.errors import DataError

CLASSES: dict[str, Any] = {}  # name -> Recommender subclass, in the order they were defined


def register(cls: Any) -> None:
    """Record a model class under its ``name`` (called for every Recommender subclass that sets one)."""
    CLASSES[cls.name] = cls


def model_class(name: str) -> Any:
    """The model class called ``name``; a clear error naming the known ones otherwise."""
    try:
        return CLASSES[name]
    except KeyError:
        raise DataError(f"unknown model '{name}' (known: {', '.join(sorted(CLASSES))})") from None
