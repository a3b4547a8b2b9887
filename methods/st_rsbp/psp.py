"""The spike-train-level post-synaptic potentials: the step S-PSP (one product over time) and HM2-BP's
analytic decoupled S-PSP."""


from __future__ import annotations

import math

import torch

from snnbench.kernels import spike_products
from snnbench.kernels.strsbp_numba import AVAILABLE as NUMBA
from snnbench.kernels.strsbp_numba import analytic_scan_numba, later_trace_numba, post_kernel_numba, pre_trace_numba

from .scan import _check_time_major


def pre_trace(pre: torch.Tensor, tau_s: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """P ``[T, B, N_in]``: P(t) = (1 − 1/τs)·P(t−1) + s(t−1), P(0) = 0 (computed in float64, returned in
    ``dtype``)."""
    if pre.device.type == "cpu" and NUMBA:  # the same float64 recursion as one compiled loop
        return pre_trace_numba(pre, tau_s, dtype)
    b = 1.0 - 1.0 / tau_s
    out = torch.zeros(pre.shape, dtype=torch.float64, device=pre.device)
    for t in range(1, pre.shape[0]):
        out[t] = b * out[t - 1] + pre[t - 1].to(torch.float64)
    return out.to(dtype)


def post_kernel(post: torch.Tensor, tau_m: float, tau_s: float, t_ref: int, dtype: torch.dtype = torch.float64
                ) -> torch.Tensor:
    """K ``[T, B, N]``: a^{t_f − t}/τs on each spike's integration window, by a reverse scan (computed in
    float64, returned in ``dtype``)."""
    if post.device.type == "cpu" and NUMBA:
        return post_kernel_numba(post, tau_m, tau_s, t_ref, dtype)
    a = 1.0 - 1.0 / tau_m
    spikes = post.to(torch.float64) > 0
    steps = post.shape[0]
    # a step is refractory when one of the T_REF steps before it holds a spike
    refractory = torch.zeros_like(spikes)
    for d in range(1, min(t_ref, steps - 1) + 1):
        refractory[d:] |= spikes[:-d]
    out = torch.zeros(post.shape, dtype=torch.float64, device=post.device)
    current = torch.zeros(post.shape[1:], dtype=torch.float64, device=post.device)
    for t in range(steps - 1, -1, -1):
        current = torch.where(spikes[t], torch.full_like(current, 1.0 / tau_s), current * a)
        current = torch.where(refractory[t], torch.zeros_like(current), current)
        out[t] = current
    return out.to(dtype)


def spsp(pre: torch.Tensor, post: torch.Tensor, *, tau_m: float, tau_s: float, t_ref: int) -> torch.Tensor:
    """S-PSPs ``[B, N, N_in]`` of every (post i, pre j) pair: the reference's step recursion
    (``d_Spiking_accumulate_effect_step``), computed as one batched product E = K·Pᵀ over time."""
    _check_time_major("pre", pre)
    _check_time_major("post", post)
    if pre.shape[:2] != post.shape[:2]:
        raise ValueError(f"pre {tuple(pre.shape)} and post {tuple(post.shape)} need the same T and B")
    return _step_spsp(pre, post, tau_m, tau_s, t_ref, torch.float64).to(torch.float32)


def _step_spsp(pre: torch.Tensor, post: torch.Tensor, tau_m: float, tau_s: float, t_ref: int,
               dtype: torch.dtype) -> torch.Tensor:
    """E = K·Pᵀ ``[B, N, N_in]``: the scans in float64, the product in ``dtype``."""
    k, p = post_kernel(post, tau_m, tau_s, t_ref, dtype), pre_trace(pre, tau_s, dtype)
    return torch.einsum("tbn,tbm->bnm", k, p)


def later_trace(k: torch.Tensor, tau_s: float) -> torch.Tensor:
    """Q ``[T, ...]`` (float64): Q(t) = Σ_{t' > t} (1 − 1/τs)^{t'−1−t}·K(t'), i.e. Q(t) = b·Q(t+1) + K(t+1),
    Q(T−1) = 0: :func:`pre_trace`'s recursion run backwards in time."""
    if k.device.type == "cpu" and NUMBA:
        return later_trace_numba(k.to(torch.float64), tau_s)
    return pre_trace(k.flip(0), tau_s, torch.float64).flip(0)


def spsp_over_spikes(pre: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """E[b] = Σ_t weights[t, b]ᵀ·pre[t, b] ``[B, N, N_in]`` in float32 (``weights`` ``[T, B, N]``, float64): on
    the CPU summed over pre's spikes only, E[b]ᵀ = Sᵀ·Q (:func:`~snnbench.kernels.spike_products.rows_t_matmul`,
    float64 sums rounded once); elsewhere the dense product (the reference)."""
    if not spike_products.available(pre):
        return torch.einsum("tbn,tbm->bnm", weights, pre.to(weights.dtype)).float()
    batch = pre.shape[1]
    out = torch.empty(batch, weights.shape[2], pre.shape[2], dtype=torch.float32)
    for b in range(batch):
        rows = spike_products.spike_rows(pre[:, b])  # at batch 1 the forward's drive read this view: cached
        out[b] = spike_products.rows_t_matmul(rows, weights[:, b]).t()
    return out


def step_spsp_events(pre: torch.Tensor, post: torch.Tensor, tau_m: float, tau_s: float, t_ref: int
                     ) -> torch.Tensor:
    """:func:`spsp`'s E (float32) as a sum over the pre spikes (``spsp_form=events``): E = Σ_t K(t)·P(t)ᵀ with
    P(t) = Σ_{t' < t} b^{t−1−t'}·s(t') is Σ_{t'} Q(t')·s(t')ᵀ with Q(t') = Σ_{t > t'} b^{t−1−t'}·K(t)
    (:func:`later_trace`, float64). The same sum in another order: float32 rounds differently."""
    return spsp_over_spikes(pre, later_trace(post_kernel(post, tau_m, tau_s, t_ref, torch.float64), tau_s))


SILENT_EFFECT = 0.1  # the analytic S-PSP of a silent post neuron with an active pre neuron


def analytic_weights(post: torch.Tensor, *, tau_m: float, tau_s: float, t_ref: int,
                     dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """M ``[T, ...]`` (the shape of ``post``): what a pre spike at step t' contributes to the analytic
    S-PSP of each post neuron, summed over that neuron's spikes (see :func:`analytic_spsp`).

    Per post spike at t (s = t − t_last, u = t − T_REF − t'), the kernel is c·(a^u − b^u) for u ≤ s and
    c·(e^{−s/τm} − e^{−s/τs})·b^{u−s} for u > s (a = e^{−1/τm}, b = e^{−1/τs}, c = 1/(1 − τs/τm)), on the
    window max(1, ⌊t − 4τm⌋) ≤ t' ≤ min(t − T_REF, t − 1). Both pieces are geometric in t', so M is one
    reverse scan of two decaying sums, the τm one and the τs one, with each spike's window entering and
    leaving as events: O(T) steps of elementwise work instead of one window per spike step."""
    steps = post.shape[0]
    flat = post.reshape(steps, -1) > 0
    width = flat.shape[1]
    device = post.device
    t, j = flat.nonzero(as_tuple=True)
    order = torch.sort(j, stable=True).indices  # per neuron, its spikes in time order
    t, j = t[order].to(torch.float64), j[order]
    same = torch.zeros_like(j, dtype=torch.bool)
    same[1:] = j[1:] == j[:-1]
    previous = torch.cat([t.new_zeros(1), t[:-1]])
    t_last = torch.where(same, previous + t_ref, torch.ones_like(t))
    s = t - t_last
    low = torch.clamp(torch.floor(t - 4 * tau_m), min=1)
    high = torch.minimum(t - t_ref, t - 1)
    split = t - t_ref - s  # t' ≥ split: u ≤ s
    c = 1.0 / (1.0 - tau_s / tau_m)
    events_m = torch.zeros(steps + 1, width, dtype=torch.float64, device=device)
    events_s = torch.zeros_like(events_m)
    windows = torch.zeros(steps + 1, width, dtype=torch.int32, device=device)  # open windows: exact 0 outside

    def add(events: torch.Tensor, at: torch.Tensor, value: torch.Tensor, keep: torch.Tensor) -> None:
        events.index_put_((at[keep].long() + 1, j[keep]), value[keep], accumulate=True)  # row 0 is t' = −1

    near_low = torch.maximum(low, split)  # the u ≤ s piece: [near_low, high]
    near = high >= near_low
    u_in, u_out = t - t_ref - high, t - t_ref - (near_low - 1)
    add(events_m, high, c * torch.exp(-u_in / tau_m), near)
    add(events_m, near_low - 1, -c * torch.exp(-u_out / tau_m), near)
    add(events_s, high, -c * torch.exp(-u_in / tau_s), near)
    add(events_s, near_low - 1, c * torch.exp(-u_out / tau_s), near)
    far_high = torch.minimum(high, split - 1)  # the u > s piece: [low, far_high]
    far = far_high >= low
    amplitude = c * (torch.exp(-s / tau_m) - torch.exp(-s / tau_s))
    add(events_s, far_high, amplitude * torch.exp(-(t - t_ref - far_high - s) / tau_s), far)
    add(events_s, low - 1, -amplitude * torch.exp(-(t - t_ref - (low - 1) - s) / tau_s), far)
    one = torch.ones_like(t, dtype=torch.int32)
    open_any = high >= low
    add(windows, high, one, open_any)
    add(windows, low - 1, -one, open_any)
    decay_m, decay_s = math.exp(-1.0 / tau_m), math.exp(-1.0 / tau_s)
    if device.type == "cpu" and NUMBA:  # the same float64 scan as one compiled loop
        return analytic_scan_numba(events_m, events_s, windows, decay_m, decay_s, dtype).reshape(post.shape)
    out = torch.zeros(steps, width, dtype=dtype, device=device)
    state_m = torch.zeros(width, dtype=torch.float64, device=device)
    state_s = torch.zeros_like(state_m)
    count = torch.zeros(width, dtype=torch.int32, device=device)
    for tp in range(steps - 1, -1, -1):  # entering at the window's top, leaving below its bottom
        count = count + windows[tp + 1]
        inside = count > 0  # outside every window M is exactly 0 (no rounding residue of the events)
        state_m = torch.where(inside, state_m * decay_m + events_m[tp + 1], 0.0)
        state_s = torch.where(inside, state_s * decay_s + events_s[tp + 1], 0.0)
        out[tp] = state_m + state_s
    return out.reshape(post.shape)


def analytic_spsp(pre: torch.Tensor, post: torch.Tensor, *, tau_m: float, tau_s: float, t_ref: int,
                  events: bool = False) -> torch.Tensor:
    """HM2-BP's decoupled analytic S-PSP ``[B, N, N_in]`` (``d_Spiking_accumulate_effect``)::

        for each post spike t (t_last = 1, then previous post spike + T_REF):
            for each pre spike t' with max(1, int(t − 4τm)) ≤ t' < t and t' + T_REF ≤ t:
                s = t − t_last;  u = t − t' − T_REF
                e += exp(−max(u − s, 0)/τs)/(1 − τs/τm) · (exp(−min(s, u)/τm) − exp(−min(s, u)/τs))
        e = 0.1 for a silent post neuron with an active pre neuron

    Computed as E = M·preᵀ with M (:func:`analytic_weights`) the summed kernel each pre step contributes;
    ``events`` (``spsp_form=events``): summed over the pre spikes only (:func:`spsp_over_spikes`).
    """
    _check_time_major("pre", pre)
    _check_time_major("post", post)
    weights = analytic_weights(post, tau_m=tau_m, tau_s=tau_s, t_ref=t_ref)
    if events:
        e = spsp_over_spikes(pre, weights)
    else:
        e = torch.einsum("tbn,tbm->bnm", weights, pre.to(torch.float64)).to(torch.float32)
    silent = (post.sum(0) == 0).unsqueeze(2) & (pre.sum(0) > 0).unsqueeze(1)
    return e.masked_fill_(silent, SILENT_EFFECT)  # float32(0.1) either way


