"""Numba, where it is installed: the one switch (``SNNBENCH_NUMBA=0`` turns the compiled CPU loops off
everywhere) and the decorator the compiled neuron loops share."""

from __future__ import annotations

import os

try:
    import numba

    AVAILABLE = os.environ.get("SNNBENCH_NUMBA", "1") != "0"  # SNNBENCH_NUMBA=0: the PyTorch loops everywhere
except ImportError:  # pragma: no cover - numba is a dependency; a stripped install falls back to torch
    numba = None
    AVAILABLE = False


def time_rows(tensor):  # noqa: ANN001, ANN201 - torch.Tensor -> numpy.ndarray (numpy and torch stay unimported here)
    """A ``[T, ...]`` tensor as the C-contiguous float32 ``[T, N]`` array the compiled scans index (a view of the
    tensor's memory where it already is one)."""
    import numpy as np

    return np.ascontiguousarray(tensor.detach().float().reshape(tensor.shape[0], -1).numpy())


def jit(function):  # noqa: ANN001, ANN201 - a decorator that is a no-op without numba
    """``numba.njit(cache=True, nogil=True)`` where Numba is available, else the Python function itself."""
    return numba.njit(cache=True, nogil=True)(function) if AVAILABLE else function


__all__ = ["AVAILABLE", "jit", "time_rows"]
