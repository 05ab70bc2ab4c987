"""Where networks train and score: ``--device auto|cpu|cuda`` and the training precision.

``auto`` is the first CUDA device when there is one, else the CPU. Under ``torchrun`` each process takes the
GPU of its ``LOCAL_RANK`` (one GPU per process). ``cuda`` on a machine without CUDA is refused by name rather
than failing deep inside torch. The CPU path is the one the library always had: nothing here changes it.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

import torch

from personae.errors import OptionError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")


def cuda_available() -> bool:
    return torch.cuda.is_available()


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` -> the torch device to use (``cuda`` picks LOCAL_RANK's GPU)."""
    name = str(choice).strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return _local_gpu() if cuda_available() else torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not cuda_available():
            raise OptionError(f"device {choice!r}: no CUDA device is available here (use 'cpu' or 'auto')")
        if name == "cuda":
            return _local_gpu()
        index = name.partition(":")[2]
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise OptionError(f"device {choice!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device(name)
    raise OptionError(f"device must be one of {', '.join(DEVICES)} (or cuda:N), got {choice!r}")


def _local_gpu() -> torch.device:
    """The GPU of this process: LOCAL_RANK's under torchrun (one GPU per process), else GPU 0."""
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    return torch.device("cuda", rank % max(torch.cuda.device_count(), 1))


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str) -> AbstractContextManager:
    """bf16 autocast for the forward pass when asked for; fp32 (the default) runs exactly as without it."""
    if check_precision(precision) == "fp32":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (the CPU for a module that holds none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")
