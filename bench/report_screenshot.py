"""The README's screenshot of `personae report`: write the report of a saved model, open it in headless
Chromium (Debian's `chromium`) and save the top of the page, down to the end of the first example user, as PNG.

    personae train --dataset ml-100k --model ampcf --out runs/ampcf
    python bench/report_screenshot.py runs/ampcf --out docs/report.png [--html report.html] [--figures F.json ...]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from personae.report import build_report

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WIDTH = 1280


def screenshot(html: Path, out: Path) -> tuple[int, int]:
    """Save the page from its top to the bottom of the first example user; returns (width, height) in px."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("report_screenshot: Debian's chromium is not on PATH")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 900})
            page.goto(html.resolve().as_uri())
            box = page.locator("article.user").first.bounding_box()
            height = int(box["y"] + box["height"] + 28) if box else page.evaluate("document.body.scrollHeight")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
        finally:
            browser.close()
    return WIDTH, height


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--html", type=Path, default=None, help="keep the HTML here (default: a temporary file)")
    parser.add_argument("--figures", type=Path, action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        html = build_report(args.model_dir, args.html or Path(scratch) / "report.html", args.figures)
        width, height = screenshot(html, args.out)
    print(f"wrote {args.out} ({width}x{height} px) from {html if args.html else 'a temporary report'}")


if __name__ == "__main__":
    main()
