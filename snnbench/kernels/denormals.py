"""Denormal floats flushed to zero (a config's ``flush_denormal``) in every thread torch computes on.

``torch.set_flush_denormal`` sets the floating-point mode (x86's FTZ/DAZ bits) of the calling thread only. The
OpenMP threads torch's intra-op parallel loops and MKL's GEMMs run on keep the mode they were created with, so
with ``--threads 2`` half of every parallel op ran on denormals (on Intel cores ~100 cycles per denormal
operand: SLAYER's MNIST step was 4x slower on two threads than on one). :func:`set_flush_denormal` also runs
``torch.set_flush_denormal`` once in each thread of the OpenMP team torch uses, through the OpenMP runtime
torch loaded (``GOMP_parallel``, which GNU's libgomp and LLVM's/Intel's runtimes all export). Threads the
runtime creates later inherit the mode of the thread that creates them.
"""

from __future__ import annotations

import ctypes
import logging
import threading

log = logging.getLogger(__name__)

RUNTIMES = ("libgomp", "libiomp5", "libomp")  # OpenMP runtimes that export GOMP_parallel
_runtime: list = []  # [the loaded runtime's ctypes handle, or None where there is none], looked up once


def openmp_runtime() -> ctypes.CDLL | None:
    """The OpenMP runtime already loaded into this process (torch's), or None (no Linux /proc, or torch was
    built without OpenMP). Never loads a second copy: the path comes from the process's own memory map."""
    if _runtime:
        return _runtime[0]
    found = None
    try:
        with open("/proc/self/maps") as maps:
            paths = {fields[-1] for fields in map(str.split, maps) if len(fields) >= 6}
    except OSError:
        paths = set()
    for path in sorted(paths):
        name = path.rsplit("/", 1)[-1]
        if name.startswith(RUNTIMES) and ".so" in name:
            library = ctypes.CDLL(path)
            if hasattr(library, "GOMP_parallel"):
                library.GOMP_parallel.argtypes = [_BODY, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
                library.GOMP_parallel.restype = None
                found = library
                break
    _runtime.append(found)
    return found


_BODY = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def set_flush_denormal(on: bool) -> int:
    """Flush denormal floats to zero (``on``) or compute with them, in the calling thread and every thread of
    torch's intra-op OpenMP team (``torch.get_num_threads()`` of them; set the thread count first). Returns
    the number of threads whose mode was set: 1 where no OpenMP runtime is loaded (a warning says so when
    torch would use more threads)."""
    import torch

    torch.set_flush_denormal(bool(on))
    threads = torch.get_num_threads()
    runtime = openmp_runtime() if threads > 1 else None
    if runtime is None:
        if threads > 1:
            log.warning("flush_denormal=%s is set in the calling thread only: no OpenMP runtime found in this "
                        "process for torch's %d intra-op threads", on, threads)
        return 1
    seen: set[int] = set()
    lock = threading.Lock()

    def body(_: int | None) -> None:  # runs once in each thread of the team, the calling thread included
        torch.set_flush_denormal(bool(on))
        with lock:
            seen.add(threading.get_native_id())

    runtime.GOMP_parallel(_BODY(body), None, threads, 0)  # ctypes releases the GIL; each thread's body takes it
    return len(seen)
