"""The ``personae`` command line: the Typer apps live in this package; ``main`` is the console script.

``main`` imports the commands on first call, so ``python -m personae.cli.llm`` (and an import of any one command
module) does not load the whole command tree first.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the ``personae`` command with ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    from personae.cli.commands import main as run_personae

    return run_personae(argv)
