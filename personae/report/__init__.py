"""The self-contained HTML report: persona space map, example users with explained recommendations, benchmark
figure files and model facts, in one page with inline CSS and embedded PNG figures.

Modules: content (what to show, from a model), figures (matplotlib -> base64 PNG), figure_files (benchmark
JSON), style (CSS), page (HTML), build (the whole job); the CLI command is
personae/cli/report.py.
``build_report`` is imported on first use, so the CLI starts without loading matplotlib.
"""

from typing import Any

__all__ = ["build_report"]


def __getattr__(name: str) -> Any:
    if name == "build_report":
        from personae.report.build import build_report

        return build_report
    raise AttributeError(f"module 'personae.report' has no attribute {name!r}")
