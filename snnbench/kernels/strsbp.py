"""The ST-RSBP / HM2-BP neuron (Zhang & Li, NeurIPS 2019; stonezwr/ST-RSBP ``layers/Spiking.cu::
g_Spiking_feedforward``, ``layers/Reservoir.cu::g_Reservoir_feedforward``), PyTorch reference.

The scan takes the feed-forward drive D = W·s_in ``[T, B, N]`` (one GEMM, as the reference's cuBLAS
call) and the layer's own weights on its previous spikes (a reservoir's recurrent weights or the output
layer's lateral inhibition) in ELL form: per post neuron its presynaptic indices in ascending order and
their weights, padded with weight 0. One step, per neuron (v membrane, ep synaptic state, zero at t = 0)::

    v  ← v − v/τm;   ep ← ep − ep/τs              every step, t = 0 included
    t = 0: no spike
    r  ← D[t−1];  r ← r + s[t−1][idx_k]·val_k for k = 0, 1, ...   (ascending presynaptic order)
    ep ← ep + r;  v ← v + ep/τs
    refractory (t_ref > 0): v ← 0, t_ref ← t_ref − 1
    s[t] = v > ν − 1e-6;  on a spike: t_ref ← T_REF, v ← 0          (ep is not reset)

The reference runs this in float32 under ``--use_fast_math``; the port keeps the operation order, so its
two backends agree bit for bit where division is IEEE (the CPU, the Triton interpreter).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

THRESHOLD_EPS = 1e-6  # the reference tests v > ν − 1e-6 (a float compared with a double)


@dataclass(frozen=True)
class STRSBPParams:
    """Constants of the neuron: ν, τm, τs (in steps), the refractory period T_REF (steps) and the margin of
    the spike test v > ν − eps (1e-6 in the fully connected and pooling layers, 0 in ``ConvSpiking``)."""

    threshold: float
    tau_m: float
    tau_s: float
    t_ref: int
    eps: float = THRESHOLD_EPS

    def __post_init__(self) -> None:
        if not (self.tau_m > 0 and self.tau_s > 0 and self.threshold > 0) or self.t_ref < 0 or self.eps < 0:
            raise ValueError(f"need threshold, tau_m, tau_s > 0 and t_ref, eps >= 0, got {self}")


def ell(recurrent: torch.Tensor | None, neurons: int, device: torch.device, index: torch.Tensor | None = None
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``[N, N]`` matrix (row = post) as ELL: indices ``[N, K]`` (int64, ascending) and weights ``[N, K]``
    (float32), K the largest number of nonzeros in a row, padding (index 0, weight 0) at the end. ``index``:
    a layer's :func:`ell_index` of a pattern that holds every nonzero (computed once); its extra entries carry
    weight 0, which adds an exact 0 to the drive, so the spikes are the same."""
    if recurrent is None:
        return (torch.zeros(neurons, 0, dtype=torch.long, device=device),
                torch.zeros(neurons, 0, dtype=torch.float32, device=device))
    if index is None:
        index = ell_index(recurrent != 0)
    return index, torch.gather(recurrent.float(), 1, index)


def ell_index(pattern: torch.Tensor) -> torch.Tensor:
    """The ELL indices ``[N, K]`` of a boolean ``[N, N]`` pattern: each row's True columns in ascending order, then
    column 0 as padding up to K, the largest row count."""
    width = int(pattern.sum(1).max()) if pattern.shape[0] else 0
    return torch.argsort((~pattern).to(torch.int8), dim=1, stable=True)[:, :width]  # nonzeros first, ascending


def strsbp_scan_torch(drive: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, p: STRSBPParams
                      ) -> torch.Tensor:
    """Spikes ``[T, B, N]`` (float32 0/1) from the drive ``[T, B, N]`` and the ELL recurrence."""
    steps, batch, neurons = drive.shape
    v = torch.zeros(batch, neurons, dtype=torch.float32, device=drive.device)
    ep = torch.zeros_like(v)
    refractory = torch.zeros(batch, neurons, dtype=torch.int32, device=drive.device)
    spikes = torch.zeros(steps, batch, neurons, dtype=torch.float32, device=drive.device)
    level = p.threshold - p.eps
    for t in range(steps):
        v = v - v / p.tau_m
        ep = ep - ep / p.tau_s
        if t == 0:
            continue
        r = drive[t - 1].float()
        for k in range(index.shape[1]):
            r = r + spikes[t - 1][:, index[:, k]] * weight[:, k]
        ep = ep + r
        v = v + ep / p.tau_s
        clamped = refractory > 0
        v = torch.where(clamped, torch.zeros_like(v), v)
        refractory = refractory - clamped.to(torch.int32)
        fired = v > level
        spikes[t] = fired.to(torch.float32)
        refractory = torch.where(fired, torch.full_like(refractory, p.t_ref), refractory)
        v = torch.where(fired, torch.zeros_like(v), v)
    return spikes


__all__ = ["THRESHOLD_EPS", "STRSBPParams", "ell", "strsbp_scan_torch"]
