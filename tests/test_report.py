"""`personae report`: one self-contained HTML page, rendered by real headless Chromium.

A tiny ampcf is trained on planted interests (titles and genres known) and saved; the report is written through
the CLI entry point and opened from a file:// URL. A pop model (no persona vectors) shows the page without a map.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from personae.cli import main
from personae.models.ampcf import AMPCF
from personae.models.base import PersonaMix
from personae.models.pop import Popularity
from personae.report.content import choose_examples, persona_map
from personae.report.figure_files import read_figure_file
from personae.report.page import fmt

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
FIGURE = {"title": "Seed stability (made-up numbers for the test)", "command": "python bench/stability.py --seeds 0,1",
          "table": [{"pair": "0-1", "matched_cosine": 0.61, "random_pairs": 0.2},
                    {"pair": "0-2", "matched_cosine": 0.59, "random_pairs": 0.21, "note": "extra column"}],
          "summary": {"mean matched cosine": 0.6, "users": 150}}


@pytest.fixture(scope="module")
def model_dir(planted_split, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("models") / "ampcf"
    AMPCF(personas=3, dim=8, epochs=4, patience=4, lr=0.02, batch_size=256,
          progress=False).fit(planted_split.train, planted_split.valid).save(str(path))
    return path


@pytest.fixture(scope="module")
def figure_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("figures") / "stability.json"
    path.write_text(json.dumps(FIGURE))
    return path


@pytest.fixture(scope="module")
def report_html(model_dir, figure_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert main(["report", str(model_dir), "--out", str(out), "--figures", str(figure_file)]) == 0
    return out


def _one_error_line(capsys, argv: list[str]) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0
    assert err.count("\n") == 1 and err.startswith("personae: error: ") and "Traceback" not in err, err
    return err


def test_report_renders_in_chromium_with_map_example_users_and_figure_table(report_html, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium must be installed for the report test"
    errors, outside = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda request: outside.append(request.url)
                    if not request.url.startswith(("file://", "data:")) else None)
            page.goto(report_html.as_uri())
            page.wait_for_load_state("load")
            map_width = page.eval_on_selector("#persona-map", "img => img.complete ? img.naturalWidth : 0")
            users = page.locator("article.user").count()
            figure_text = page.locator("#figure-0 table").inner_text()
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    print(f"report screenshot: {screenshot}")
    assert errors == []
    assert outside == []  # self-contained: nothing is fetched from anywhere but the file itself
    assert map_width > 0
    assert users == 3
    assert "matched_cosine" in figure_text and "0.61" in figure_text and "extra column" in figure_text
    assert screenshot.stat().st_size > 10_000


def test_report_has_no_external_resources(report_html):
    html = report_html.read_text(encoding="utf-8")
    assert "<script" not in html and "<link" not in html
    sources = re.findall(r'\ssrc="([^"]*)"', html)
    assert sources and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "url(" not in html


def test_report_shows_the_figure_command_and_summary(report_html):
    html = report_html.read_text(encoding="utf-8")
    assert '<pre class="command"><code>python bench/stability.py --seeds 0,1</code></pre>' in html
    assert "mean matched cosine" in html


def test_report_explains_each_recommendation_with_a_persona_and_supporting_titles(report_html):
    html = report_html.read_text(encoding="utf-8")
    user_cards = html.split('<article class="card user"')[1:]
    assert len(user_cards) == 3
    for card in user_cards:
        assert card.count('<td class="rank">') == 10
        assert card.count('<td class="who"><span class="chip') == 10
        assert re.search(r"because: cluster\d+ item\d+", card)


def test_users_option_picks_the_example_users(model_dir, tmp_path, planted_split):
    out = tmp_path / "r.html"
    wanted = [str(planted_split.train.user_ids[5]), str(planted_split.train.user_ids[7])]
    assert main(["report", str(model_dir), "--out", str(out), "--users", wanted[0], "--users", wanted[1]]) == 0
    ids = re.findall(r'<article class="card user" id="user-([^"]+)"', out.read_text(encoding="utf-8"))
    assert ids == wanted


def test_single_vector_model_report_says_there_is_no_persona_map(planted_split, tmp_path):
    model_path = tmp_path / "pop"
    Popularity().fit(planted_split.train).save(str(model_path))
    out = tmp_path / "pop.html"
    assert main(["report", str(model_path), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "No persona map for this model" in html
    assert 'id="persona-map"' not in html
    assert html.count('<article class="card user"') == 3  # examples still shown, one persona each


def test_bad_figure_json_is_one_error_line_naming_the_file_and_writes_nothing(model_dir, tmp_path, capsys):
    bad = tmp_path / "broken.json"
    bad.write_text('{"title": "x", "table": [1, 2')
    out = tmp_path / "r.html"
    err = _one_error_line(capsys, ["report", str(model_dir), "--out", str(out), "--figures", str(bad)])
    assert str(bad) in err and "not valid JSON" in err
    assert not out.exists()


def test_figure_file_of_the_wrong_shape_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"table": {"a": 1}}))
    with pytest.raises(Exception, match=r"f\.json: field 'table' must be a list of objects"):
        read_figure_file(path)


def test_figure_file_with_only_a_table_is_titled_by_its_file_name(tmp_path):
    path = tmp_path / "diversity.json"
    path.write_text(json.dumps({"table": [{"model": "ampcf", "ild@10": 0.8}]}))
    figure = read_figure_file(path)
    assert figure.title == "diversity" and figure.command == "" and figure.columns == ["model", "ild@10"]


def test_figure_cells_show_intervals_and_round_floats():
    assert fmt({"diff": 0.00612, "ci_low": -0.0013, "ci_high": 0.01294}) == "0.00612 [-0.0013, 0.01294]"
    assert fmt(0.123456) == "0.1235" and fmt(1234) == "1,234" and fmt(None) == "–"
    assert fmt({"a": 1}) == '{"a": 1}'


def test_missing_model_directory_is_one_error_line(tmp_path, capsys):
    err = _one_error_line(capsys, ["report", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r.html")])
    assert "nowhere" in err


def test_unknown_example_user_is_one_error_line(model_dir, tmp_path, capsys):
    err = _one_error_line(capsys, ["report", str(model_dir), "--out", str(tmp_path / "r.html"), "--users", "nobody"])
    assert "nobody" in err


# --- the parts behind the page, on cases whose answer is known ---------------------------------------------
def _mix(user: str, weights: list[float], vectors: np.ndarray, labels: list[str], history: int = 30) -> PersonaMix:
    return PersonaMix(user, vectors.astype(np.float32), np.asarray(weights, dtype=np.float32), labels,
                      history=[str(i) for i in range(history)])


def test_default_examples_run_from_evenly_mixed_to_single_persona_users():
    # 11 eligible users ranked by their strongest persona: the 10th, 50th and 90th percentile are ranks 1, 5, 9.
    strongest = [0.99, 0.5, 0.9, 0.55, 0.8, 0.6, 0.95, 0.7, 0.75, 0.52, 0.65]
    mixes = {f"u{w:.2f}": _mix(f"u{w:.2f}", [w, 1 - w], np.zeros((2, 2)), ["x", "y"]) for w in strongest}
    mixes["short"] = _mix("short", [0.5, 0.5], np.zeros((2, 2)), ["x", "y"], history=5)  # too little history
    assert choose_examples(mixes, 3) == ["u0.52", "u0.70", "u0.95"]


def test_map_silhouette_beats_shuffled_labels_when_genres_are_planted_and_not_otherwise():
    rng = np.random.default_rng(0)
    centres = {"Horror": np.array([5.0, 0, 0, 0]), "Comedy": np.array([0, 5.0, 0, 0]), "Drama": np.array([0, 0, 5.0, 0])}
    genres = list(centres) * 20
    planted = {str(u): _mix(str(u), [1.0], (centres[g] + rng.normal(size=4))[None], [f"{g} / War"])
               for u, g in enumerate(genres)}
    space = persona_map(planted, n_population=60)
    assert space.silhouette > space.silhouette_shuffled[2] + 0.3  # far above the control's whole range

    noise = {str(u): _mix(str(u), [1.0], rng.normal(size=(1, 4)), [g]) for u, g in enumerate(genres)}
    null = persona_map(noise, n_population=60)
    assert null.silhouette_shuffled[1] - 0.05 <= null.silhouette <= null.silhouette_shuffled[2] + 0.05


def test_models_without_persona_vectors_have_no_map():
    mixes = {"a": _mix("a", [1.0], np.zeros((1, 0)), ["Drama"])}
    assert persona_map(mixes, n_population=1) is None


def test_report_shows_persona_quality_with_nulls_and_says_seed_stability_needs_seeds(report_html):
    html = report_html.read_text()
    table = html[html.index('id="quality-table"'):]
    assert "coherence of the top-10" in table and "another persona of the same user" in table
    assert "labels shuffled" in table and "--seeds 0,1" in table
