"""The `personae report` command (registered in personae/cli/commands.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    model_dir: Path,
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write")],
    figures: Annotated[list[Path] | None, typer.Option(
        "--figures", help="a benchmark figure file (JSON: title, command, table, summary); repeatable")] = None,
    users: Annotated[list[str] | None, typer.Option(
        "--users", help="example user id (repeatable); default: 3 users from evenly mixed to single-persona")] = None,
) -> None:
    """Write one self-contained HTML page: persona map, example users explained, figures, model facts."""
    from personae.report.build import build_report  # matplotlib loads only when a report is written

    path = build_report(model_dir, out, figures, users)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
