"""One policy for torch's CPU thread pool.

personae's products are small (a batch of users against a catalogue of a few thousand items), so torch's thread
pool spends more time handing work between threads than computing: on a shared 2-core machine an epoch ran ~8x
and report scoring ~6x slower with the default pool than with one thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (at least 1), then restore the previous setting."""
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
