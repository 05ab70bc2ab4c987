"""The one result type every interval in personae is reported as.

An interval without its unit and count cannot be read ("+0.004 [0.001, 0.007]" over 3 roles is not the same
claim as over 943 users), so every Interval carries both, plus the method that produced it and a note where
something was not measured (one training seed: seed variance unknown).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Interval:
    """A point estimate with its 95% (by default) interval, two-sided p-value against zero (or against the
    null named in ``method``), and what it was computed over."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_units: int
    n_seeds: int
    unit: str
    method: str
    note: str = ""
    null: dict[str, Any] | None = field(default=None)
    reference: float = 0.0  # what "no effect" is for this statistic (0 for a difference, 0.5 for an AUC)

    @property
    def effect(self) -> bool:
        """True when the interval excludes the reference (zero for a difference); an interval that includes it
        is "no difference"."""
        return bool(self.low > self.reference or self.high < self.reference)

    def over(self) -> str:
        """``"over 943 users, 3 seeds"``."""
        text = f"over {self.n_units} {self.unit}"
        if self.n_seeds > 1:
            text += f", {self.n_seeds} seeds"
        return text

    def describe(self, digits: int = 4) -> str:
        """One line: ``+0.0058 [-0.0004, +0.0119], p=0.07, over 943 users, 3 seeds (method)``."""
        def num(x: float) -> str:
            return "nan" if not math.isfinite(x) else f"{x:+.{digits}f}"

        text = f"{num(self.estimate)} [{num(self.low)}, {num(self.high)}], p={_p_text(self.p_value)}, {self.over()}"
        text += f" ({self.method}"
        text += f"; {self.note})" if self.note else ")"
        return text

    def verdict(self) -> str:
        """The plain reading: "higher", "lower" or "no difference"."""
        if not self.effect:
            return "no difference"
        return "higher" if self.estimate > self.reference else "lower"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; non-finite numbers become None (JSON has no NaN)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        out["effect"] = self.effect
        if self.null is None:
            out.pop("null")
        return out


def _p_text(p: float) -> str:
    if not math.isfinite(p):
        return "nan"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
