"""``python -m personae`` (and ``torchrun -m personae``) runs the ``personae`` command."""

import sys

from personae.cli import main

if __name__ == "__main__":
    sys.exit(main())
