"""The OpenAI-compatible backend against a FAKE local chat server (real HTTP, real openai client)."""

import numpy as np
import pytest
from typer.testing import CliRunner

from personae.cli.llm import app
from personae.llm.backends import BackendError, HiddenStatesUnavailable, OpenAIBackend
from personae.llm.persona_consistency import Judge, run_consistency
from personae.llm.variance import sample_ratings


def test_chat_goes_through_the_endpoint_with_the_key_from_the_named_variable(fake_openai_server):
    url, seen = fake_openai_server
    b = OpenAIBackend(url, "fake-model", api_key_env="FAKE_LLM_KEY")
    out = b.chat([[{"role": "user", "content": "hello"}]], max_new_tokens=5)
    assert out == ["Fake reply number 1."]
    assert seen[0]["auth"] == "Bearer sk-fake-for-tests"
    assert seen[0]["body"]["model"] == "fake-model" and seen[0]["body"]["max_tokens"] == 5


def test_ratings_are_parsed_from_the_reply_text(fake_openai_server):
    url, _ = fake_openai_server
    b = OpenAIBackend(url, "fake-model", api_key_env="FAKE_LLM_KEY")
    x, unparsed = sample_ratings(b, ["pirate", "monk"], ["Rate X. Answer with a single digit."], runs=2)
    assert x.shape == (2, 2, 1) and np.all(x == 4) and unparsed == []


def test_hidden_states_are_unavailable_with_a_clear_error(fake_openai_server):
    url, _ = fake_openai_server
    b = OpenAIBackend(url, "fake-model", api_key_env="FAKE_LLM_KEY")
    with pytest.raises(HiddenStatesUnavailable, match="no hidden states"):
        b.response_activations([[{"role": "user", "content": "x"}]], ["y"])


def test_missing_api_key_variable_is_named():
    with pytest.raises(BackendError, match="NO_SUCH_KEY_VAR is not set"):
        OpenAIBackend("http://127.0.0.1:9/v1", "m", api_key_env="NO_SUCH_KEY_VAR")


def test_consistency_runs_through_the_remote_backend_and_judge(fake_openai_server):
    url, _ = fake_openai_server
    b = OpenAIBackend(url, "fake-model", api_key_env="FAKE_LLM_KEY")
    personas = [{"name": "A", "prompt": "You are A."}, {"name": "B", "prompt": "You are B."}]
    res = run_consistency(b, personas, ["Hi", "How are you?"], ["How old are you?"], judge=Judge(b),
                          n_turns=2, n_probes=1)
    assert res["prompt_to_line"] == 1.0 and res["qa"] == 1.0 and res["unparsed"] == 0
    assert res["n_turns"] == 4


def test_cli_axis_on_openai_backend_fails_with_one_line(fake_openai_server, tmp_path):
    url, _ = fake_openai_server
    r = CliRunner().invoke(app, ["axis", "--out", str(tmp_path), "--roles", "2", "--questions", "1",
                                 "--backend", "openai", "--llm-base-url", url, "--llm-model", "m",
                                 "--api-key-env", "FAKE_LLM_KEY"])
    assert r.exit_code != 0
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and "no hidden states" in err[0] and "Traceback" not in r.output


def test_cli_reports_a_missing_model_path_in_one_line(tmp_path):
    r = CliRunner().invoke(app, ["axis", "--out", str(tmp_path), "--model-path", str(tmp_path / "missing.gguf")])
    assert r.exit_code != 0
    err = r.stderr.strip()
    assert err.startswith(f"personae: error: model path not found: {tmp_path / 'missing.gguf'}")
    assert "nor a model name: smollm2-135m-instruct" in err and "\n" not in err


def test_cli_icc_runs_end_to_end_on_the_fake_endpoint(fake_openai_server, tmp_path, monkeypatch):
    url, _ = fake_openai_server
    monkeypatch.setattr("personae.llm.embeddings.embed",
                        lambda texts, batch_size=32: np.random.default_rng(len(texts)).normal(size=(len(texts), 8)))
    r = CliRunner().invoke(app, ["icc", "--out", str(tmp_path), "--personas", "2", "--runs", "2", "--items", "2",
                                 "--open-questions", "1", "--backend", "openai", "--llm-base-url", url,
                                 "--llm-model", "m", "--api-key-env", "FAKE_LLM_KEY"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "icc.json").is_file() and (tmp_path / "icc.png").stat().st_size > 1000
