"""The ST-RSBP / HM2-BP neuron scan and its S-PSP traces compiled for the CPU with Numba.

The same step, in the same float32 (the scan) and float64 (the traces) operations and order, as the
PyTorch references in :mod:`snnbench.kernels.strsbp` and ``methods.st_rsbp.pre_trace`` / ``post_kernel``, so
the results are bit for bit equal (tests/test_st_rsbp.py). The references run T small tensor operations
per step each, which on a CPU at batch 1 (the rule's online order) costs ~100 µs of dispatch per step;
these loops run the whole scan in one call. Imported only where Numba is installed
(:data:`AVAILABLE`); the backend is ``numba`` (``auto`` picks it on the CPU when it is available).
"""

from __future__ import annotations

import numpy as np
import torch

from .numba_jit import AVAILABLE
from .numba_jit import jit as _jit
from .strsbp import STRSBPParams

_NUMPY = {torch.float64: np.float64, torch.float32: np.float32}  # the traces' output dtypes


@_jit
def _scan(drive, index, weight, tau_m, tau_s, level, t_ref, out):  # noqa: ANN001, ANN202
    steps, batch, neurons = drive.shape
    width = index.shape[1]
    v = np.zeros((batch, neurons), dtype=np.float32)
    ep = np.zeros((batch, neurons), dtype=np.float32)
    refractory = np.zeros((batch, neurons), dtype=np.int32)
    zero = np.float32(0.0)
    for t in range(steps):
        for b in range(batch):
            for n in range(neurons):
                v[b, n] = v[b, n] - v[b, n] / tau_m
                ep[b, n] = ep[b, n] - ep[b, n] / tau_s
        if t == 0:
            continue
        for b in range(batch):
            for n in range(neurons):
                r = drive[t - 1, b, n]
                for k in range(width):
                    r = r + out[t - 1, b, index[n, k]] * weight[n, k]
                e = ep[b, n] + r
                ep[b, n] = e
                u = v[b, n] + e / tau_s
                if refractory[b, n] > 0:
                    u = zero
                    refractory[b, n] -= 1
                if u > level:
                    out[t, b, n] = 1.0
                    refractory[b, n] = t_ref
                    u = zero
                v[b, n] = u


def strsbp_scan_numba(drive: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, p: STRSBPParams
                      ) -> torch.Tensor:
    """:func:`~snnbench.kernels.strsbp.strsbp_scan_torch` on CPU tensors, compiled: spikes ``[T, B, N]``."""
    if drive.device.type != "cpu":
        raise ValueError(f"the numba backend runs on CPU tensors, got device {drive.device}")
    drive_np = np.ascontiguousarray(drive.detach().float().numpy())
    out = np.zeros(drive_np.shape, dtype=np.float32)
    # torch compares the float32 membrane with the threshold cast to float32, and divides by float32 constants
    _scan(drive_np, np.ascontiguousarray(index.numpy(), dtype=np.int64),
          np.ascontiguousarray(weight.detach().float().numpy()), np.float32(p.tau_m), np.float32(p.tau_s),
          np.float32(p.threshold - p.eps), np.int32(p.t_ref), out)
    return torch.from_numpy(out)


@_jit
def _pre_trace(pre, b, out):  # noqa: ANN001, ANN202
    steps, width = pre.shape
    state = np.zeros(width, dtype=np.float64)  # the float64 recursion; ``out`` holds it in its own dtype
    for i in range(width):
        out[0, i] = 0.0
    for t in range(1, steps):
        for i in range(width):
            state[i] = b * state[i] + pre[t - 1, i]
            out[t, i] = state[i]


def pre_trace_numba(pre: torch.Tensor, tau_s: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``methods.st_rsbp.pre_trace`` (computed in float64) on a CPU tensor ``[T, B, N_in]`` of 0/1 spikes, returned
    in ``dtype``: float32 is the float64 trace rounded once, as ``pre_trace(...).float()`` rounds it, without the
    float64 copy."""
    flat = np.ascontiguousarray(pre.detach().numpy().reshape(pre.shape[0], -1))
    out = np.empty(flat.shape, dtype=_NUMPY[dtype])
    _pre_trace(flat, 1.0 - 1.0 / tau_s, out)
    return torch.from_numpy(out.reshape(pre.shape))


@_jit
def _later_trace(k, b, out):  # noqa: ANN001, ANN202
    steps, width = k.shape
    state = np.zeros(width, dtype=np.float64)
    for i in range(width):
        out[steps - 1, i] = 0.0
    for t in range(steps - 2, -1, -1):
        for i in range(width):
            state[i] = b * state[i] + k[t + 1, i]
            out[t, i] = state[i]


def later_trace_numba(k: torch.Tensor, tau_s: float) -> torch.Tensor:
    """``methods.st_rsbp.psp.later_trace`` on a CPU float64 tensor ``[T, ...]``: Q(t) = b·Q(t+1) + K(t+1),
    Q(T−1) = 0 (float64)."""
    flat = np.ascontiguousarray(k.detach().numpy().reshape(k.shape[0], -1))
    out = np.empty(flat.shape, dtype=np.float64)
    _later_trace(flat, 1.0 - 1.0 / tau_s, out)
    return torch.from_numpy(out.reshape(k.shape))


@_jit
def _post_kernel(spikes, a, inv_tau_s, t_ref, out):  # noqa: ANN001, ANN202
    steps, width = spikes.shape
    current = np.zeros(width, dtype=np.float64)
    reach = min(t_ref, steps - 1)
    for t in range(steps - 1, -1, -1):  # time outside, neurons inside (rows of memory, not columns)
        first = max(t - reach, 0)
        for i in range(width):  # without branches, so that it vectorises
            value = inv_tau_s if spikes[t, i] > 0 else current[i] * a
            refractory = False  # a spike in the T_REF steps before t
            for earlier in range(first, t):
                refractory = refractory | (spikes[earlier, i] > 0)
            value = 0.0 if refractory else value
            current[i] = value
            out[t, i] = value


def post_kernel_numba(post: torch.Tensor, tau_m: float, tau_s: float, t_ref: int,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``methods.st_rsbp.post_kernel`` (computed in float64) on a CPU tensor ``[T, B, N]``, returned in ``dtype``
    (float32: the float64 kernel rounded once)."""
    spikes = np.ascontiguousarray(post.detach().numpy().reshape(post.shape[0], -1))
    out = np.empty(spikes.shape, dtype=_NUMPY[dtype])
    _post_kernel(spikes, 1.0 - 1.0 / tau_m, 1.0 / tau_s, int(t_ref), out)
    return torch.from_numpy(out.reshape(post.shape))


@_jit
def _analytic_scan(events_m, events_s, windows, decay_m, decay_s, out):  # noqa: ANN001, ANN202
    steps, width = out.shape
    count = np.zeros(width, dtype=np.int64)
    state_m = np.zeros(width, dtype=np.float64)
    state_s = np.zeros(width, dtype=np.float64)
    for tp in range(steps - 1, -1, -1):  # time outside, neurons inside (rows of memory, not columns)
        for i in range(width):
            count[i] += windows[tp + 1, i]
            if count[i] > 0:
                state_m[i] = state_m[i] * decay_m + events_m[tp + 1, i]
                state_s[i] = state_s[i] * decay_s + events_s[tp + 1, i]
            else:
                state_m[i] = 0.0
                state_s[i] = 0.0
            out[tp, i] = state_m[i] + state_s[i]


def analytic_scan_numba(events_m: torch.Tensor, events_s: torch.Tensor, windows: torch.Tensor, decay_m: float,
                        decay_s: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The reverse scan of ``methods.st_rsbp.analytic_weights`` (computed in float64 ``[T, W]`` from ``[T + 1, W]``
    events), returned in ``dtype`` (float32: rounded once)."""
    out = np.empty((events_m.shape[0] - 1, events_m.shape[1]), dtype=_NUMPY[dtype])
    _analytic_scan(events_m.numpy(), events_s.numpy(), windows.numpy(), float(decay_m), float(decay_s), out)
    return torch.from_numpy(out)


@_jit
def _hashed(samples, steps, per_sample, salt, out):  # noqa: ANN001, ANN202
    mask = (1 << 62) - 1
    for t in range(steps):
        for b in range(samples.shape[0]):
            base = (samples[b] * 4096 + t) * per_sample
            for e in range(per_sample):
                key = (base + e) ^ salt
                key = (key * 0x5851F42D4C957F2D) & mask
                key = key ^ (key >> 29)
                key = (key * 0x14057B7EF767814F) & mask
                key = key ^ (key >> 32)
                out[t, b, e] = np.float32(key & 0xFFFFFF) / np.float32(1 << 24)


def hashed_uniform_numba(steps: int, index: np.ndarray, per_sample: int, seed: int, offset: int) -> torch.Tensor:
    """``snnbench.data._hashed_uniform``'s uniforms ``[T, B, per_sample]`` (the same int64 hash, wrapping
    multiplications included, and the same float32 division) in one loop, without its ten int64 temporaries."""
    samples = np.ascontiguousarray(index, dtype=np.int64)
    salt = _salt(seed, offset)
    out = np.empty((steps, len(samples), per_sample), dtype=np.float32)
    _hashed(samples, steps, per_sample, salt, out)
    return torch.from_numpy(out)


def _salt(seed: int, offset: int) -> np.int64:
    """``(seed·1000003 + offset) << 40`` as torch computes it in int64 (wrapping)."""
    value = ((seed * 1_000_003 + offset) << 40) & ((1 << 64) - 1)
    return np.int64(value - (1 << 64) if value >= 1 << 63 else value)


def warm() -> None:
    """Compile the scan, the S-PSP traces and the input hash for the argument types their wrappers pass
    (:func:`~.numba_jit.warm`)."""
    spikes = strsbp_scan_numba(torch.zeros(2, 1, 3), torch.zeros(3, 1, dtype=torch.int64), torch.zeros(3, 1),
                               STRSBPParams(threshold=1.0, tau_m=4.0, tau_s=2.0, t_ref=1))
    events = torch.zeros(3, 3, dtype=torch.float64)
    for dtype in _NUMPY:
        pre_trace_numba(spikes, 2.0, dtype)
        post_kernel_numba(spikes, 4.0, 2.0, 1, dtype)
        analytic_scan_numba(events, events, torch.zeros(3, 3, dtype=torch.int32), 0.5, 0.5, dtype)
    later_trace_numba(events, 2.0)
    hashed_uniform_numba(2, np.arange(1), 3, 0, 0)


__all__ = ["AVAILABLE", "analytic_scan_numba", "hashed_uniform_numba", "later_trace_numba", "post_kernel_numba",
           "pre_trace_numba", "strsbp_scan_numba", "warm"]
