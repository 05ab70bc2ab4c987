"""The project's error types for bad input, so the CLI can print each as a single line.

Only these become one-line errors in the CLI; any other exception is a bug and shows its traceback.
"""

from __future__ import annotations


class DataError(ValueError):
    """Bad input data. The message names the file, the line or row, and the column where known."""


class UnknownIdError(DataError, KeyError):
    """An external user or item id that the data or model does not know (also a KeyError for lookups)."""

    __str__ = ValueError.__str__  # KeyError would quote the message


class OptionError(DataError):
    """A model or command option with a value outside what it accepts."""


def where(path: object, line: int | None = None, column: str | None = None) -> str:
    """Format a location as ``file, line N, column 'c'`` for error messages."""
    parts = [str(path)]
    if line is not None:
        parts.append(f"line {line}")
    if column is not None:
        parts.append(f"column '{column}'")
    return ", ".join(parts)
