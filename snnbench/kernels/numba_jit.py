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


def jit(function):  # noqa: ANN001, ANN201 - a decorator that is a no-op without numba
    """``numba.njit(cache=True, nogil=True)`` where Numba is available, else the Python function itself."""
    return numba.njit(cache=True, nogil=True)(function) if AVAILABLE else function


__all__ = ["AVAILABLE", "jit"]
