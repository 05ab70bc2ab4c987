"""Fixtures for the service tests: one tiny AMPCF trained for real on planted data, saved to disk, and real
``personae serve`` processes on free loopback ports that are always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ARTIFACTS = Path(os.environ.get("PERSONAE_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
API_KEY = "test-key-0123456789abcdef"


@pytest.fixture(scope="session")
def served_model_dir(planted_split, tmp_path_factory) -> Path:
    """A tiny ampcf (learned personas, K=3) trained on the planted split and saved like any model."""
    from personae.models.ampcf import AMPCF

    model = AMPCF(epochs=3, dim=16, personas=3, progress=False).fit(planted_split.train, planted_split.valid)
    folder = tmp_path_factory.mktemp("serve") / "model"
    model.save(str(folder))
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``personae serve`` in a child process, waited for until /healthz answers."""

    def __init__(self, model_dir: Path, db: Path | str, api_key_file: Path | None = None,
                 log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "personae", "serve", str(model_dir), "--db", str(db),
                   "--port", str(self.port)]
        if api_key_file is not None:
            command += ["--api-key-file", str(api_key_file)]
        self.log = log or Path(db).with_suffix(f".{self.port}.log")
        with open(self.log, "w") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not ready after {timeout}s: {self.log.read_text()}")

    def kill9(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture(scope="session")
def start_server():
    """Start servers with ``start_server(model_dir, db, api_key_file=None)``; all are stopped at the end."""
    started: list[ServerProcess] = []

    def start(model_dir: Path, db: Path | str, api_key_file: Path | None = None,
              log: Path | None = None) -> ServerProcess:
        server = ServerProcess(model_dir, db, api_key_file, log)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def keyed_server(served_model_dir, start_server, tmp_path_factory) -> ServerProcess:
    """One server with an API key, shared by the HTTP tests."""
    folder = tmp_path_factory.mktemp("keyed")
    key_file = folder / "api.key"
    key_file.write_text(API_KEY + "\n")
    return start_server(served_model_dir, folder / "store.sqlite", key_file)


@pytest.fixture(scope="session")
def api(keyed_server) -> httpx.Client:
    with httpx.Client(base_url=keyed_server.url, headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=30.0) as client:
        yield client
