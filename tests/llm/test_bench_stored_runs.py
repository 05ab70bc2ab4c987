"""bench/llm_users.py's readers of stored runs: pooling one route over runs that differ only in their personas, and
assembling users.json for a run that ended before its last route. Both must refuse what would not pair."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from personae.stats import share_interval

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {"runs": 1, "turns": 4, "scripts": 1, "temperature": 0.7, "max_new_tokens": 24, "seed": 0,
            "model": "m.gguf", "steer_strength": 0.1}


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("llm_users_bench", ROOT / "bench" / "llm_users.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def route_row(letter: str, names: list[str], shares: list[float], turns: int = 4) -> dict:
    return {"route": letter, "n_personas": len(names), "n_scripts": 1, "runs": 1, "turns": turns,
            "n_lines": len(names) * turns,
            "transcripts": {n: [[["line"] * turns]] for n in names},
            "per_persona": {"assistant_like": shares, "p2l": [0.4] * len(names)}}


def stored_run(path: Path, names: list[str], rows: dict[str, dict], **changes) -> str:
    path.write_text(json.dumps({**SETTINGS, "personas": names, **changes, "routes": rows}))
    return str(path)


def test_pooling_gives_the_share_interval_of_all_personas_and_refuses_what_is_not_one_route(bench, tmp_path):
    first = stored_run(tmp_path / "1.json", ["A", "B", "C"], {"k": route_row("k", ["A", "B", "C"], [0, .25, .5])})
    second = stored_run(tmp_path / "2.json", ["D", "E", "F"], {"k": route_row("k", ["D", "E", "F"], [.25, 0, .25])})
    want = share_interval(np.array([0, .25, .5, .25, 0, .25]), trials=4, unit="personas").to_dict()
    assert bench.pool_stored_runs([f"{first}:k", f"{second}:k"]).endswith(bench.iv(want, 3))
    assert "(5 of 24 lines)" in bench.pool_stored_runs([f"{first}:k", f"{second}:k"])
    with pytest.raises(SystemExit, match="count them twice"):  # the same personas twice
        bench.pool_stored_runs([f"{first}:k", f"{first}:k"])
    other = stored_run(tmp_path / "3.json", ["D", "E", "F"], {"k": route_row("k", ["D", "E", "F"], [0, 0, 0])},
                       steer_strength=0.2)
    with pytest.raises(SystemExit, match="steer_strength"):
        bench.pool_stored_runs([f"{first}:k", f"{other}:k"])
    with pytest.raises(SystemExit, match="one route letter"):
        bench.pool_stored_runs([f"{first}:k", f"{second}:j"])


def test_an_unfinished_run_is_assembled_only_under_settings_its_rows_share(bench, tmp_path):
    names = ["A", "B", "C"]
    folder = tmp_path / "unfinished"
    folder.mkdir()
    for letter, shares in (("a", [.5, .75, .5]), ("k", [0, .25, 0])):
        (folder / f"route-{letter}.json").write_text(json.dumps(route_row(letter, names, shares)))
    finished = Path(stored_run(tmp_path / "finished.json", names, {}))
    result = json.loads(bench.assemble_unfinished(folder, finished).read_text())
    assert list(result["routes"]) == ["a", "k"] and result["personas"] == names
    assert result["vs_baseline"]["k"]["assistant_like"]["estimate"] == pytest.approx(-0.5)
    assert result["assembled"]["routes_from"] == ["route-a.json", "route-k.json"]
    (folder / "users.json").unlink()
    wrong = Path(stored_run(tmp_path / "wrong.json", ["A", "B", "D"], {}))  # one persona differs
    with pytest.raises(SystemExit, match="persona names differ"):
        bench.assemble_unfinished(folder, wrong)
    assert not (folder / "users.json").exists()


def test_flagged_lines_refuses_a_model_other_than_the_one_the_run_was_read_with(bench, tmp_path):
    """The classifier is trained on the model's own default replies, so another model's classifier would read a
    different instrument; the refusal comes before any model is loaded."""
    run = stored_run(tmp_path / "run.json", ["A"], {"k": route_row("k", ["A"], [0.0])},
                     model="/cache/qwen2.5-coder-0.5b-instruct.gguf")
    with pytest.raises(SystemExit, match="--model qwen2.5-coder-0.5b-instruct"):
        bench.flagged_lines(f"{run}:k", "smollm2-135m-instruct")
    with pytest.raises(SystemExit, match="no route 'm'"):
        bench.flagged_lines(f"{run}:m", "qwen2.5-coder-0.5b-instruct")
