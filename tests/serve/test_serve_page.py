"""The persona explorer page, end to end in Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import shutil

import pytest
from conftest import API_KEY, ARTIFACTS

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.slow
def test_clicking_a_recommendation_updates_the_personas_on_the_page(keyed_server):
    from playwright.sync_api import sync_playwright

    server = keyed_server
    assert shutil.which("chromium"), "Debian chromium is needed (.ci/run installs it)"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(server.url + "/")
            page.wait_for_selector("#key", state="visible")  # the server has a key: the page asks for it
            assert "needs an API key" in page.inner_text("#key-note")  # and says so before anything else
            page.fill("#key", "not-the-key-0123456789")
            page.click("#load")
            page.wait_for_function("() => document.querySelector('#key-note').textContent.includes('wrong')")
            page.fill("#key", API_KEY)
            page.fill("#user", "131")
            page.click("#load")
            page.wait_for_selector("#personas .persona")
            page.wait_for_selector("#recommendations button.item")
            assert page.is_hidden("#key-note")
            assert "established" in page.inner_text("#personas .persona >> nth=0")
            before = page.inner_text("#personas")
            clicked = page.inner_text("#recommendations button.item >> nth=0 >> strong")
            page.click("#recommendations button.item >> nth=0")
            page.wait_for_function("(before) => document.querySelector('#personas').innerText !== before", arg=before)
            page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('clicked')")
            assert "online, 1 posted events" in page.inner_text("#source")
            assert page.inner_text("#events").strip() == f"click: {clicked}"  # the title, not the id
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "persona-explorer.png"), full_page=True)
        finally:
            browser.close()
    assert (ARTIFACTS / "persona-explorer.png").stat().st_size > 10_000
