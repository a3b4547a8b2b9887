"""SLAYER's SRM refractory scan compiled for the CPU with Numba.

:func:`~snnbench.kernels.srm.refractory_potential` runs T index updates (a nonzero, a gather and a
scatter per step); this loop does the same float32 additions in the same order (u_t = u[t] + pending[t];
each neuron that fires at t adds ν[j] to pending[t + j], earlier spikes first) and writes the spikes
(1/ts as PyTorch computes it) in the same pass, so the spikes, the potentials and ρ computed from them in
PyTorch are bit for bit the reference's (tests/test_srm_kernel.py). Without a gradient the potentials
are not stored at all.
"""

from __future__ import annotations

import numpy as np
import torch

from .numba_jit import jit
from .srm import SRMParams, spike_value, srm_with


@jit
def _refractory(u, taps, theta, value, after, spikes, keep_after):  # noqa: ANN001, ANN202
    """u_t into ``after`` (when ``keep_after``) and the spikes into ``spikes``: ``value`` where u_t >= θ, else 0."""
    steps, m = u.shape
    k = taps.shape[0]
    slots = k + 1  # pending[t] lives in row t % slots: a spike at t writes rows t+1 … t+k, read later
    pending = np.zeros((slots, m), dtype=np.float32)
    zero = np.float32(0.0)
    for t in range(steps):
        row = t % slots
        for i in range(m):
            a = u[t, i] + pending[row, i]
            pending[row, i] = zero
            if keep_after:
                after[t, i] = a
            fired = a >= theta
            spikes[t, i] = value if fired else zero
            if fired:
                for j in range(k):
                    later = row + 1 + j
                    if later >= slots:
                        later -= slots
                    pending[later, i] += taps[j]


def refractory_spikes_numba(u: torch.Tensor, nu: torch.Tensor, params: SRMParams, keep_potential: bool = True
                            ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(srm_spikes_from(u_t), u_t)`` with u_t = :func:`~snnbench.kernels.srm.refractory_potential`, in
    one compiled pass over a float32 CPU tensor ``[T, M]``; u_t is None unless ``keep_potential``."""
    if u.device.type != "cpu":
        raise ValueError(f"the numba backend runs on CPU tensors, got device {u.device}")
    flat = np.ascontiguousarray(u.detach().numpy())
    spikes = np.empty_like(flat)
    after = np.empty_like(flat) if keep_potential else np.empty((1, 1), dtype=np.float32)
    # torch compares the float32 potential with θ cast to float32
    _refractory(flat, np.ascontiguousarray(nu[1:].to(torch.float32).numpy()), np.float32(params.theta),
                np.float32(spike_value(params)), after, spikes, keep_potential)
    return torch.from_numpy(spikes), torch.from_numpy(after) if keep_potential else None


def refractory_potential_numba(u: torch.Tensor, nu: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.srm.refractory_potential` on a float32 CPU tensor ``[T, M]``, compiled."""
    after = refractory_spikes_numba(u, nu, params)[1]
    assert after is not None
    return after


def srm_numba(u: torch.Tensor, params: SRMParams) -> torch.Tensor:
    """:func:`~snnbench.kernels.srm.srm_torch` with the compiled refractory scan (CPU tensors)."""
    return srm_with(u, params, refractory_potential_numba, refractory_spikes_numba)


def warm() -> None:
    """Compile the refractory scan for the argument types :func:`srm_numba` passes (:func:`~.numba_jit.warm`)."""
    refractory_spikes_numba(torch.zeros(2, 3), torch.zeros(3), SRMParams())


__all__ = ["refractory_potential_numba", "refractory_spikes_numba", "srm_numba", "warm"]
