"""The HTTP face of the service: JSON endpoints, an OpenAPI spec, and the persona explorer page at ``/``.

Endpoints are ``async`` and reads run one at a time on the event loop: they are CPU-bound and short (a few
ms), so one worker serialises them without locks. A POST's slow parts, validating a batch and computing the
new state (up to 1,000 events) and its durable commit (an fsync), run in worker threads while the loop keeps
answering reads; POSTs hold a lock from computing the new state until it is applied, so each sees the one
before, and none is answered before its commit.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model

from personae.errors import DataError
from personae.serve.security import MAX_BODY_BYTES, Guard
from personae.serve.service import MAX_BATCH, MAX_K, PersonaService, ServeOptions, UnknownItemError
from personae.serve.store import StaleStateError

log = logging.getLogger("personae.serve")
MAX_LIMIT = 1000  # most events listed at once
STALE_RETRIES = 3  # a POST racing another replica for the same user is recomputed this many times
MAX_TIMESTAMP = 4_102_444_800.0  # 2100-01-01 UTC: an event timestamp is seconds since 1970, before that
UserId = Annotated[str, Field(min_length=1, max_length=200)]
ItemId = Annotated[StrictStr, Field(min_length=1, max_length=200)] | Annotated[StrictInt, Field(ge=0, le=2**63 - 1)]


class Problem(BaseModel):
    """Every refusal: one line saying what was wrong and where (or, for 422 from validation, a list of them)."""

    detail: str | list[dict[str, Any]]


def event_model(scale: tuple[float, float] | None) -> type[BaseModel]:
    """The event schema for a model whose rating scale is ``scale`` (None: no ratings, so no ``rate``)."""
    value = (Annotated[float, Field(strict=True, allow_inf_nan=False, ge=scale[0], le=scale[1],
                                    description=f"rate only: a rating from {scale[0]:g} to {scale[1]:g}")]
             if scale else Annotated[float, Field(strict=True, allow_inf_nan=False)])
    kinds = Literal["click", "rate"] if scale else Literal["click"]
    return create_model(
        "EventIn", __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="One event: an item the user clicked or rated. A missing timestamp is the time of arrival.",
        item=(ItemId, ...),
        timestamp=(Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=MAX_TIMESTAMP,
                                          description="seconds since 1970 (before 2100)")] | None, None),
        kind=(kinds, "click"),
        value=(value | None, None))


def finite_only(value: Any) -> Any:
    """``value`` with every non-finite float replaced by a word (a refusal never echoes NaN or Infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "non-finite number"
    if isinstance(value, dict):
        return {k: finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_only(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    reasons = {401: "missing or wrong API key", 404: "unknown item", 409: "another replica kept writing this user", 413: f"request body over {MAX_BODY_BYTES} bytes",
               422: "invalid input: which field and why"}
    return {status: {"model": Problem, "description": reasons[status]} for status in statuses}


def create_app(service: PersonaService, api_key: str | None = None) -> FastAPI:
    """The FastAPI app over ``service``; with ``api_key`` every endpoint but /healthz and / needs it."""
    app = FastAPI(title="personae", version="1", summary="Recommendations from personas that evolve online",
                  docs_url="/docs", redoc_url=None)
    app.add_middleware(Guard, api_key=api_key)
    posting = anyio.Lock()
    page = resources.files("personae.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    event_in = event_model(service.scale)
    event_body = event_in | Annotated[list[event_in], Field(min_length=1, max_length=MAX_BATCH)]
    keyed = (401,) if api_key else ()

    @app.exception_handler(UnknownItemError)
    async def unknown_item(request: Request, exc: UnknownItemError) -> JSONResponse:
        status = 404 if request.url.path.startswith("/items/") else 422
        return JSONResponse({"detail": str(exc)}, status_code=status)

    @app.exception_handler(StaleStateError)
    async def stale(request: Request, exc: StaleStateError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(DataError)
    async def bad_input(request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{key: finite_only(value) for key, value in error.items() if key in ("type", "loc", "msg", "input")}
                  for error in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)  # the trace stays in the log
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/", include_in_schema=False)
    async def explorer() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness, catalogue size, retrieval method and capping settings. Needs no key."""
        return service.health()

    @app.get("/users", responses=_responses(*keyed, 422))
    async def users(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50) -> dict:
        """Some user ids to explore (users with posted events first)."""
        return service.users(limit)

    @app.get("/users/{user_id}/recommendations", responses=_responses(*keyed, 422))
    async def recommendations(user_id: UserId, k: Annotated[int, Query(ge=1, le=MAX_K)] = 10,
                              explain: bool = True) -> JSONResponse:
        """Top-k items with titles and scores; with ``explain``, the persona, its label and supporting items."""
        return JSONResponse(service.recommend(user_id, k, explain))  # plain JSON: skips a slow re-encoding pass

    @app.get("/users/{user_id}/personas", responses=_responses(*keyed, 422))
    async def personas(user_id: UserId) -> JSONResponse:
        """The user's personas (each established, with its evidence), their candidate persona if any, and their
        history by persona."""
        return JSONResponse(service.personas(user_id))

    @app.get("/users/{user_id}/events", responses=_responses(*keyed, 422))
    async def list_events(user_id: UserId, limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100) -> dict:
        """The user's stored events, newest first, with item titles."""
        return service.events(user_id, limit)

    async def post_events(user_id: UserId, body: Any) -> JSONResponse:
        """One event or a batch (at most 1000). Answered after the events and new personas are committed."""
        events = [e.model_dump() for e in (body if isinstance(body, list) else [body])]
        async with posting:  # one post at a time: the next one must see this one's state
            for attempt in range(STALE_RETRIES):
                # validation and the update run in a worker thread, so a big batch never stalls other clients
                post = await anyio.to_thread.run_sync(service.prepare_post, user_id, events)
                try:
                    stored = await anyio.to_thread.run_sync(service.commit_post, post)
                except StaleStateError:  # another replica wrote this user meanwhile: prepare_post catches up
                    if attempt == STALE_RETRIES - 1:
                        raise
                    continue
                return JSONResponse(service.finish_post(post, stored))

    # the body's schema depends on this model's rating scale, so it is attached here, not written as a string
    post_events.__annotations__ = {"user_id": UserId, "body": Annotated[event_body, Body()], "return": JSONResponse}
    app.post("/users/{user_id}/events", responses=_responses(*keyed, 409, 413, 422))(post_events)

    @app.get("/items/{item_id}", responses=_responses(*keyed, 404, 422))
    async def item(item_id: Annotated[str, Field(min_length=1, max_length=200)]) -> dict:
        """An item's title, genres and popularity."""
        return service.item(item_id)

    def openapi() -> dict[str, Any]:
        """The generated spec plus the bearer scheme (so /docs has an Authorize button) when a key is set."""
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            spec.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the key in --api-key-file"}}
            if api_key:
                for path, operations in spec["paths"].items():
                    for operation in operations.values():
                        if path != "/healthz":
                            operation["security"] = [{"bearer": []}]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    return app


def run(model_dir: Path, db: str | None, host: str, port: int, api_key_file: Path | None,
        options: ServeOptions | None = None, device: str = "cpu") -> None:
    """Load the model, open (or create) the store, replay pending events, then serve until stopped."""
    import uvicorn

    from personae.models.persistence import load_model
    from personae.serve.security import check_bind, read_api_key

    api_key = read_api_key(api_key_file)
    check_bind(host, api_key)
    store = open_store(db or default_db(model_dir))
    options = options or ServeOptions()
    options = dataclasses.replace(options, index=dataclasses.replace(options.index, device=device))  # retrieval device
    service = PersonaService(load_model(model_dir), store, options)
    print(f"personae serve: http://{host}:{port}/ (model {model_dir}, store {store.path}, "
          f"{service.replayed} events replayed, retrieval {service.retriever.method})", flush=True)
    try:
        uvicorn.run(create_app(service, api_key), host=host, port=port, log_level="warning", server_header=False)
    finally:
        store.close()


def open_store(db: str | Path):
    """A ``postgresql://`` URL opens the PostgreSQL store (replicas share it); anything else is a SQLite file."""
    if str(db).startswith(("postgresql://", "postgres://")):
        from personae.serve.postgres_store import PostgresStore

        return PostgresStore(str(db))
    from personae.serve.store import SQLiteStore

    return SQLiteStore(Path(db))


def default_db(model_dir: Path) -> Path:
    """``DIR.serve.sqlite`` beside the model directory (never inside it: re-saving a model replaces it)."""
    folder = Path(model_dir).resolve()
    return folder.with_name(folder.name + ".serve.sqlite")
