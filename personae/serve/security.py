"""Who may call the service, where it may listen, and how big a request may be.

- With an API key, every endpoint but ``/healthz`` (and the page shell at ``/``, which holds no data and asks
  for the key) needs ``Authorization: Bearer KEY``, compared in constant time (``hmac.compare_digest``).
- Without a key, the server refuses any address but loopback: an open port with no key is never an accident.
- Request bodies above ``MAX_BODY_BYTES`` get a 413 before the app reads them: refused on their declared
  length, and a chunked body (no length) is read here up to the limit, so it gets the same 413.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from pathlib import Path

from personae.errors import DataError

MAX_BODY_BYTES = 256 * 1024  # a batch of 1000 events is about 80 KiB
PUBLIC_PATHS = frozenset({"/healthz", "/"})


class ServeConfigError(DataError):
    """The service cannot start as configured (key file, bind address)."""


def read_api_key(path: str | Path | None) -> str | None:
    """The key in ``path`` (surrounding whitespace removed), or None without a file."""
    if path is None:
        return None
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ServeConfigError(f"--api-key-file {path}: cannot read ({exc})") from None
    if len(key) < 16:
        raise ServeConfigError(f"--api-key-file {path}: the key must be at least 16 characters")
    return key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an API key."""
    if api_key is None and not is_loopback(host):
        raise ServeConfigError(f"--host {host}: refusing to listen on a non-loopback address without "
                               "--api-key-file (use 127.0.0.1, or give a key)")


def authorised(header: str | None, api_key: str | None) -> bool:
    """True when no key is configured, or the header is ``Bearer <key>`` (constant-time comparison)."""
    if api_key is None:
        return True
    scheme, _, token = (header or "").partition(" ")
    return hmac.compare_digest(token.strip().encode(), api_key.encode()) and scheme.lower() == "bearer"


class Guard:
    """ASGI middleware: API key check and body size limit, before any endpoint code runs."""

    def __init__(self, app, api_key: str | None, max_body: int = MAX_BODY_BYTES) -> None:
        self.app, self.api_key, self.max_body = app, api_key, max_body

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if scope["path"] not in PUBLIC_PATHS and not authorised(headers.get("authorization"), self.api_key):
            return await _reply(send, 401, "missing or wrong API key (Authorization: Bearer KEY)",
                                [(b"www-authenticate", b"Bearer")])
        declared = headers.get("content-length", "")
        if declared.isdigit():  # the server never delivers more than a declared length
            if int(declared) > self.max_body:
                return await _reply(send, 413, f"request body over {self.max_body} bytes")
            return await self.app(scope, receive, send)
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        body = await _read_body(receive, self.max_body)  # chunked: read it here, so the limit answers 413
        if body is None:
            return await _reply(send, 413, f"request body over {self.max_body} bytes")
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def _read_body(receive, limit: int) -> bytes | None:
    """The whole request body, or None as soon as it grows past ``limit`` bytes (or the client leaves)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _reply(send, status: int, detail: str, extra: list | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
