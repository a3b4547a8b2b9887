"""The ST-RSBP neuron, fused Triton forward: the whole T-step scan of a layer in one launch, with the
layer's own recurrence (ELL gathers of the previous step's spikes) inside the loop. Same equations and
operation order as :func:`snnbench.kernels.strsbp.strsbp_scan_torch`, the readable reference.

One program owns one sample's ``BLOCK ≥ N`` neurons when the layer has a recurrence (a neuron reads
other neurons' spikes of the previous step, which this program stored; a barrier orders the store and
the gathers), or a block of neurons of one sample otherwise. There is no backward: ST-RSBP's gradients
come from the spike trains (:mod:`snnbench.methods.st_rsbp`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .launch import NUM_WARPS, time_major
from .strsbp import STRSBPParams

MAX_RECURRENT_NEURONS = 4096  # one program per sample holds the layer's state
FEEDFORWARD_BLOCK = 256


@triton.jit
def _strsbp_fwd_kernel(d_ptr, idx_ptr, val_ptr, s_ptr, N, T, B, K, tau_m, tau_s, level, t_ref,
                       BLOCK: tl.constexpr):
    b = tl.program_id(0).to(tl.int64)
    offs = tl.program_id(1).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.zeros([BLOCK], tl.float32)
    ep = tl.zeros([BLOCK], tl.float32)
    refr = tl.zeros([BLOCK], tl.int32)
    row = B * N
    for t in range(T):
        v = v - v / tau_m
        ep = ep - ep / tau_s
        fired = tl.zeros([BLOCK], tl.float32)
        if t > 0:
            r = tl.load(d_ptr + (t - 1) * row + b * N + offs, mask=mask, other=0.0).to(tl.float32)
            for k in range(K):
                j = tl.load(idx_ptr + offs * K + k, mask=mask, other=0)
                w = tl.load(val_ptr + offs * K + k, mask=mask, other=0.0)
                prev = tl.load(s_ptr + (t - 1) * row + b * N + j, mask=mask, other=0.0)
                r = r + prev * w
            ep = ep + r
            v = v + ep / tau_s
            clamped = refr > 0
            v = tl.where(clamped, 0.0, v)
            refr = tl.where(clamped, refr - 1, refr)
            hit = v > level
            fired = hit.to(tl.float32)
            refr = tl.where(hit, t_ref, refr)
            v = tl.where(hit, 0.0, v)
        tl.store(s_ptr + t * row + b * N + offs, fired, mask=mask)
        tl.debug_barrier()  # this step's spikes are visible to the next step's gathers


def strsbp_scan_triton(drive: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, p: STRSBPParams
                       ) -> torch.Tensor:
    """Spikes ``[T, B, N]`` (float32) from the fused scan; see the module docstring."""
    d, steps, _ = time_major(drive.float())
    _, batch, neurons = d.shape
    k = index.shape[1]
    spikes = torch.zeros(d.shape, dtype=torch.float32, device=d.device)
    if not (steps and batch and neurons):
        return spikes
    if k:
        if neurons > MAX_RECURRENT_NEURONS:
            raise ValueError(f"the fused recurrent scan holds a layer per program: at most "
                             f"{MAX_RECURRENT_NEURONS} neurons, got {neurons}; use backend=torch")
        block, grid = triton.next_power_of_2(neurons), (batch, 1)
    else:
        block, grid = FEEDFORWARD_BLOCK, (batch, triton.cdiv(neurons, FEEDFORWARD_BLOCK))
    idx = index.to(device=d.device, dtype=torch.int64).contiguous()
    val = weight.to(device=d.device, dtype=torch.float32).contiguous()
    _strsbp_fwd_kernel[grid](d, idx, val, spikes, neurons, steps, batch, k, float(p.tau_m), float(p.tau_s),
                             float(p.threshold - p.eps), int(p.t_ref), BLOCK=block,
                             num_warps=NUM_WARPS, enable_fp_fusion=False)
    return spikes
