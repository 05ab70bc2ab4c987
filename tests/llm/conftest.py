"""Fixtures for the LLM lab tests: the real built-in SmolLM2 (loaded once per session) and a FAKE
OpenAI-compatible HTTP server on 127.0.0.1 (no remote endpoint can exist here; the fake speaks real HTTP
to the real `openai` client)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest


@pytest.fixture(scope="session")
def smol():
    from personae.llm.backends import load_backend

    return load_backend("local")


class _FakeChatHandler(BaseHTTPRequestHandler):
    requests: ClassVar[list[dict]] = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if not self.path.endswith("/chat/completions"):
            self.send_response(404)
            self.end_headers()
            return
        last = body["messages"][-1]["content"]
        if "single digit" in last:
            content = "I'd say 4."
        elif "YES or NO" in last:
            content = "YES - that fits."
        else:
            content = f"Fake reply number {len(type(self).requests)}."
        payload = {"id": "fake-1", "object": "chat.completion", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "finish_reason": "stop",
                                "message": {"role": "assistant", "content": content}}],
                   "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def fake_openai_server(monkeypatch):
    """Base URL of a local fake chat-completions server; the requests it saw are in `.requests`."""
    _FakeChatHandler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-fake-for-tests")
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", _FakeChatHandler.requests
    finally:
        server.shutdown()
        server.server_close()
