"""`--backend openai` against a REAL OpenAI-compatible server: llama-cpp-python's server (built with
CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON", see docs/llm-lab.md) serving the
shipped SmolLM2 GGUF, started by the test on a free local port."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from typer.testing import CliRunner

from personae.cli.llm import app
from personae.llm.backends import load_backend
from personae.llm.model_registry import default_model_path

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """Base URL of a llama-cpp-python server process serving SmolLM2; stopped after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"  # a file: its load log would fill a pipe
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
                                 "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
                                stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.time() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-cpp server exited with {proc.returncode}: {log.read_text()[-500:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2):
                    break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("llama-cpp server did not answer within 120 s")
                time.sleep(1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture()
def server_key(monkeypatch):
    monkeypatch.setenv("LOCAL_LLM_KEY", "sk-local-server")
    return "LOCAL_LLM_KEY"


def test_openai_backend_chats_and_completes_through_the_real_server(llama_server, server_key):
    llm = load_backend("openai", base_url=llama_server, model="smollm2", api_key_env=server_key)
    reply = llm.chat([[{"role": "user", "content": "Say hello."}]], max_new_tokens=8)
    line = llm.complete(["Captain: Where are we sailing?\nSailor:"], max_new_tokens=12)
    assert isinstance(reply[0], str) and reply[0].strip()
    assert "\n" not in line[0]


def test_remote_icc_reads_ratings_or_says_per_item_why_not(llama_server, server_key, tmp_path):
    os.environ.setdefault(server_key, "sk-local-server")
    r = CliRunner().invoke(app, ["icc", "--backend", "openai", "--llm-base-url", llama_server, "--llm-model",
                                 "smollm2", "--api-key-env", server_key, "--personas", "2", "--runs", "2",
                                 "--items", "2", "--open-questions", "0", "--max-new-tokens", "8",
                                 "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "icc.json").read_text())
    for kind in ("movies", "statements"):
        row = res[kind]
        answers = np.array(row["answers"], dtype=float)
        unread = sum(item["unparsed"] for item in row["unparsed_by_item"])
        assert unread == int(np.isnan(answers).sum())  # every unread answer is accounted for, with a reason
        assert all(item["reasons"] for item in row["unparsed_by_item"])
        for item in row["icc_by_item"]:  # each item has an ICC over what was read, or says why not
            assert (item["icc1"] is None) == (item["why"] is not None)
    assert r.output.count("per item, over the answers read") == 2
