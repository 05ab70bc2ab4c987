"""CUDA tests: run where a GPU exists; elsewhere deselected (not skipped, not passed) and said in one line.

A skipped test would read as "ran and chose not to"; CI counts skips as failures of honesty, and a passed test
that never touched a GPU would be a lie. Deselected items are neither: pytest reports "N deselected", and the
line below says why.
"""

from __future__ import annotations

import pytest
import torch

NOTE_KEY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: needs a CUDA GPU (deselected with a one-line note where none exists)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    cuda = [item for item in items if item.get_closest_marker("cuda")]
    if not cuda:
        return
    items[:] = [item for item in items if not item.get_closest_marker("cuda")]
    config.hook.pytest_deselected(items=cuda)
    config.stash[NOTE_KEY] = (f"CUDA tests: {len(cuda)} not run: no CUDA device here "
                              "(deselected, not counted as passed; bench/gpu_check.sh runs them on a GPU)")


def pytest_report_header(config: pytest.Config) -> str | None:
    return None if torch.cuda.is_available() else "CUDA: no device (CUDA tests will be deselected)"


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    note = config.stash.get(NOTE_KEY, None)
    if note:
        terminalreporter.write_line(note)
