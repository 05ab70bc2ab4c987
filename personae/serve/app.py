"""The HTTP face of the service: JSON endpoints, an OpenAPI spec, and the persona explorer page at ``/``.

Endpoints are ``async`` and run one at a time on the event loop: the work is CPU-bound and short (a few ms),
so one worker serialises requests without locks. The one slow part, a POST's durable commit (an fsync), runs in
a worker thread while the loop keeps answering reads; POSTs hold a lock from computing the new state until it
is applied, so each sees the one before, and none is answered before its commit.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from personae.errors import DataError
from personae.serve.security import Guard
from personae.serve.service import MAX_BATCH, MAX_K, PersonaService, UnknownItemError

log = logging.getLogger("personae.serve")
MAX_LIMIT = 1000  # most events listed at once
UserId = Annotated[str, Field(min_length=1, max_length=200)]


class EventIn(BaseModel):
    """One event: an item the user clicked or rated. Missing timestamps are set to the time of arrival."""

    model_config = ConfigDict(extra="forbid")
    item: Annotated[str, Field(min_length=1, max_length=200)] | int
    timestamp: Annotated[float, Field(allow_inf_nan=False)] | None = None
    kind: Literal["click", "rate"] = "click"
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None


EventBody = EventIn | Annotated[list[EventIn], Field(min_length=1, max_length=MAX_BATCH)]


def create_app(service: PersonaService, api_key: str | None = None) -> FastAPI:
    """The FastAPI app over ``service``; with ``api_key`` every endpoint but /healthz and / needs it."""
    app = FastAPI(title="personae", version="1", summary="Recommendations from personas that evolve online",
                  docs_url="/docs", redoc_url=None)
    app.add_middleware(Guard, api_key=api_key)
    posting = anyio.Lock()
    page = resources.files("personae.serve").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.exception_handler(UnknownItemError)
    async def unknown_item(request: Request, exc: UnknownItemError) -> JSONResponse:
        status = 404 if request.url.path.startswith("/items/") else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(DataError)
    async def bad_input(request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)  # the trace stays in the log
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def explorer() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness, catalogue size and retrieval method. Needs no key."""
        return service.health()

    @app.get("/users")
    async def users(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50) -> dict:
        """Some user ids to explore (users with posted events first)."""
        return service.users(limit)

    @app.get("/users/{user_id}/recommendations")
    async def recommendations(user_id: UserId, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                              explain: bool = True) -> JSONResponse:
        """Top-k items with titles and scores; with ``explain``, the persona, its label and supporting items."""
        return JSONResponse(service.recommend(user_id, k, explain))  # plain JSON: skips a slow re-encoding pass

    @app.get("/users/{user_id}/personas")
    async def personas(user_id: UserId) -> JSONResponse:
        """The user's personas: weight, label and supporting items of each; their history by persona."""
        return JSONResponse(service.personas(user_id))

    @app.get("/users/{user_id}/events")
    async def list_events(user_id: UserId, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> dict:
        """The user's stored events, newest first."""
        return service.events(user_id, limit)

    @app.post("/users/{user_id}/events")
    async def post_events(user_id: UserId, body: Annotated[EventBody, Body()]) -> JSONResponse:
        """One event or a batch (at most 1000). Answered after the events and new personas are committed."""
        events = body if isinstance(body, list) else [body]
        async with posting:  # one post at a time: the next one must see this one's state
            post = service.prepare_post(user_id, [e.model_dump() for e in events])
            stored = await anyio.to_thread.run_sync(service.commit_post, post)  # the loop serves reads meanwhile
            return JSONResponse(service.finish_post(post, stored))

    @app.get("/items/{item_id}")
    async def item(item_id: Annotated[str, Field(min_length=1, max_length=200)]) -> dict:
        """An item's title, genres and popularity."""
        return service.item(item_id)

    return app


def run(model_dir: Path, db: Path | None, host: str, port: int, api_key_file: Path | None) -> None:
    """Load the model, open (or create) the store, replay pending events, then serve until stopped."""
    import uvicorn

    from personae.models.persistence import load_model
    from personae.serve.security import check_bind, read_api_key
    from personae.serve.store import SQLiteStore

    api_key = read_api_key(api_key_file)
    check_bind(host, api_key)
    db = db or default_db(model_dir)
    store = SQLiteStore(db)
    service = PersonaService(load_model(model_dir), store)
    print(f"personae serve: http://{host}:{port}/ (model {model_dir}, store {db}, "
          f"{service.replayed} events replayed, retrieval {service.retriever.method})", flush=True)
    try:
        uvicorn.run(create_app(service, api_key), host=host, port=port, log_level="warning", server_header=False)
    finally:
        store.close()


def default_db(model_dir: Path) -> Path:
    """``DIR.serve.sqlite`` beside the model directory (never inside it: re-saving a model replaces it)."""
    folder = Path(model_dir).resolve()
    return folder.with_name(folder.name + ".serve.sqlite")
