"""Figure files written by the benchmarks (stability, diversity, faithfulness) and shown by the report.

A figure file is a JSON object with any of these keys::

    {"title": str, "command": str, "table": [{column: value, ...}, ...], "summary": {key: value, ...}}

The report renders whatever is there, generically: the command in monospace, the summary as key/value pairs,
the table with the union of its rows' columns. A value ``{"diff" (or "mean"), "ci_low", "ci_high"}`` shows as
``diff [low, high]``. A file that is not of this shape is refused with one line naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from personae.errors import DataError


class FigureFileError(DataError):
    """A --figures file is missing, not JSON, or not of the figure-file shape."""


@dataclass
class FigureFile:
    path: Path
    title: str
    command: str = ""
    table: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """Every column of the table, in order of first appearance."""
        seen: dict[str, None] = {}
        for row in self.table:
            seen.update(dict.fromkeys(row))
        return list(seen)


def read_figure_file(path: str | Path) -> FigureFile:
    """Read and check one figure file; the title defaults to the file name."""
    path = Path(path)
    if not path.is_file():
        raise FigureFileError(f"{path}: no such figure file")
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FigureFileError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise FigureFileError(f"{path}: not UTF-8 text") from None
    if not isinstance(payload, dict):
        raise FigureFileError(f"{path}: expected a JSON object with title/command/table/summary")
    for key, kind, name in (("title", str, "a string"), ("command", str, "a string"),
                            ("table", list, "a list of objects"), ("summary", dict, "an object")):
        if key in payload and not isinstance(payload[key], kind):
            raise FigureFileError(f"{path}: field '{key}' must be {name}")
    table = payload.get("table", [])
    for n, row in enumerate(table):
        if not isinstance(row, dict):
            raise FigureFileError(f"{path}: field 'table' row {n}: must be an object")
    return FigureFile(path, payload.get("title") or path.stem, payload.get("command", ""), table,
                      payload.get("summary", {}))
