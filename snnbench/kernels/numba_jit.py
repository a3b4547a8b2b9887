"""Numba, where it is installed: the one switch (``SNNBENCH_NUMBA=0`` turns the compiled CPU loops off
everywhere), the decorator the compiled neuron loops share, and :func:`warm`, which compiles them all before a
run's budget clock starts."""

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


COMPILED: list = []  # every compiled loop's dispatcher, in the order the kernel modules declare them
# each has a warm()
WARM_MODULES = ("lif_numba", "pool_numba", "spike_products", "srm_numba", "strsbp_numba", "tsslbp_numba")
_warmed = False


def jit(function):  # noqa: ANN001, ANN201 - a decorator that is a no-op without numba
    """``numba.njit(cache=True, nogil=True)`` where Numba is available (the dispatcher joins :data:`COMPILED`),
    else the Python function itself."""
    if not AVAILABLE:
        return function
    compiled = numba.njit(cache=True, nogil=True)(function)
    COMPILED.append(compiled)
    return compiled


def compiled_signatures() -> int:
    """How many (loop, argument types) pairs this process has compiled or loaded from Numba's cache: a number
    that grows inside a training step means a loop was compiled inside the run's budget."""
    return sum(len(dispatcher.signatures) for dispatcher in COMPILED)


def warm() -> None:
    """Compile every loop for the argument types a run calls it with (or load it from Numba's on-disk cache),
    once per process, by calling each kernel module's ``warm()`` on tiny tensors. The engine calls this when it
    builds a network on the CPU, before the budget clock starts: a cold compile costs up to 2.4 CPU-s per loop,
    which would otherwise count against the first cell of each rule in each suite worker."""
    global _warmed
    if _warmed or not AVAILABLE:
        return
    from importlib import import_module

    for name in WARM_MODULES:
        import_module(f"{__package__}.{name}").warm()
    _warmed = True


__all__ = ["AVAILABLE", "COMPILED", "compiled_signatures", "jit", "time_rows", "warm"]
