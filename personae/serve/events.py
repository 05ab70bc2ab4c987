"""The event batch the online updater and its calibration replay both take (a module of its own so that
calibration, which replays updates, and the updater, which calls calibration, import neither each other)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EventBatch:
    """New events of one user as the updater sees them."""

    items: np.ndarray  # (n,) item indices
    signs: np.ndarray  # (n,) in [-1, 1]: +1 a click or top rating, -1 the lowest rating, 0 the middle
    now: float  # server clock when the batch arrived (seconds)
