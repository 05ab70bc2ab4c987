"""One exception type for bad input, so the CLI can print it as a single line."""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. The message names the file, the line or row, and the column where known."""


def where(path: object, line: int | None = None, column: str | None = None) -> str:
    """Format a location as ``file, line N, column 'c'`` for error messages."""
    parts = [str(path)]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
