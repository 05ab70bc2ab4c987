"""The ``personae serve`` command (registered in personae/cli/commands.py); FastAPI is imported only when it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def serve(
    model_dir: Path,
    db: Annotated[str | None, typer.Option("--db", help="SQLite file (default: DIR.serve.sqlite) or a postgresql:// "
                                                       "URL (replicas share one database)")] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on (non-loopback needs a key)")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
    api_key_file: Annotated[Path | None, typer.Option("--api-key-file", help="file holding the API key")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="JSON file of service options")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="KEY=VALUE service option (repeatable)")] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda: where retrieval scores")] = "auto",
) -> None:
    """Serve recommendations, personas that evolve with posted events, and the persona explorer page."""
    from personae.serve.app import run
    from personae.serve.config import serve_options

    run(model_dir, db, host, port, api_key_file, serve_options(config, param), device)
