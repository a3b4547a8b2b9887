"""ST-RSBP (Zhang & Li, NeurIPS 2019) and HM2-BP (Jin, Zhang & Li, NeurIPS 2018): the spiking layer
and the spike-train-level post-synaptic potentials (S-PSPs) they backpropagate spike counts through.

Reference code: stonezwr/ST-RSBP (``layers/Spiking.cu``, ``layers/Reservoir.cu``, ``common/cuBase.cu``),
a fork of jinyyy666/mm-bp-snn. This module is the functional core, time-major like the rest of the
suite (``[T, B, N]``): the forward scan and the S-PSP. The learning rules that use them (the
effect polynomial, the self-consistency factor, the recurrent solve) build on these two functions.

**Forward** (one step is one time unit; v membrane, ep synaptic state, all zero at t = 0)::

    v  ← v − v/τm;   ep ← ep − ep/τs              every step, t = 0 included
    t = 0: no spike
    ep ← ep + (W·s_in)[t−1] + (W_rec·s_self)[t−1]   one-step synaptic delay
    v  ← v + ep/τs
    refractory (t_ref > 0): v ← 0, t_ref ← t_ref − 1
    s[t] = v > ν − 1e-6;  on a spike: t_ref ← T_REF, v ← 0    (ep is not reset)

**S-PSP** e_ij: the sum over i's spikes of the potential j's whole train left on i (unit weight) just
before the spike, replaying the forward for one synapse. Computed as one product E = K·Pᵀ over time:
P_j(t) = b·P_j(t−1) + s_j(t−1) (b = 1 − 1/τs), and K_i(t) = a^{t_f − t}/τs (a = 1 − 1/τm) for t in
(t_{f−1} + T_REF, t_f], t_f being i's next spike, zero elsewhere (after the last spike, in refractory
steps, and for a spike that falls in a refractory window). Because ep is never reset and v resets to
exactly 0, superposition gives the T-PSP identity Σ_{spikes of i} v_i(t) = Σ_j w_ij e_ij (+ recurrent).
"""

from __future__ import annotations

import torch

THRESHOLD_EPS = 1e-6  # the reference tests v > ν − 1e-6 (a float compared with a double)


def _check_time_major(name: str, x: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be time-major [T, B, N], got shape {tuple(x.shape)}")


def spiking_forward(x: torch.Tensor, weight: torch.Tensor, *, threshold: float, tau_m: float, tau_s: float,
                    t_ref: int, recurrent: torch.Tensor | None = None) -> torch.Tensor:
    """Spikes ``[T, B, N]`` (0/1, dtype of ``x``) of a layer of the reference's LIF neurons.

    ``x`` is ``[T, B, N_in]`` input spikes, ``weight`` ``[N, N_in]``; ``recurrent`` (``[N, N]``, row =
    post) acts on this layer's own spikes of the previous step: a reservoir's recurrent weights or the
    output layer's lateral inhibition. See the module docstring for the step order.
    """
    _check_time_major("x", x)
    steps, batch, _ = x.shape
    neurons = weight.shape[0]
    if weight.dim() != 2 or weight.shape[1] != x.shape[2]:
        raise ValueError(f"weight must be [N, {x.shape[2]}], got shape {tuple(weight.shape)}")
    if recurrent is not None and recurrent.shape != (neurons, neurons):
        raise ValueError(f"recurrent must be [{neurons}, {neurons}], got shape {tuple(recurrent.shape)}")
    dtype = torch.float32
    drive = (x.reshape(steps * batch, -1).to(dtype) @ weight.to(dtype).t()).reshape(steps, batch, neurons)
    v = torch.zeros(batch, neurons, dtype=dtype, device=x.device)
    ep = torch.zeros_like(v)
    refractory = torch.zeros(batch, neurons, dtype=torch.int32, device=x.device)
    spikes = torch.zeros(steps, batch, neurons, dtype=dtype, device=x.device)
    rec = recurrent.to(dtype).t() if recurrent is not None else None
    level = threshold - THRESHOLD_EPS
    for t in range(steps):
        v = v - v / tau_m
        ep = ep - ep / tau_s
        if t == 0:
            continue
        r = drive[t - 1]
        if rec is not None:
            r = r + spikes[t - 1] @ rec
        ep = ep + r
        v = v + ep / tau_s
        clamped = refractory > 0
        v = torch.where(clamped, torch.zeros_like(v), v)
        refractory = refractory - clamped.to(torch.int32)
        fired = v > level
        spikes[t] = fired.to(dtype)
        refractory = torch.where(fired, torch.full_like(refractory, t_ref), refractory)
        v = torch.where(fired, torch.zeros_like(v), v)
    return spikes.to(x.dtype)


def pre_trace(pre: torch.Tensor, tau_s: float) -> torch.Tensor:
    """P ``[T, B, N_in]``: P(t) = (1 − 1/τs)·P(t−1) + s(t−1), P(0) = 0 (float64)."""
    b = 1.0 - 1.0 / tau_s
    out = torch.zeros(pre.shape, dtype=torch.float64, device=pre.device)
    for t in range(1, pre.shape[0]):
        out[t] = b * out[t - 1] + pre[t - 1].to(torch.float64)
    return out


def post_kernel(post: torch.Tensor, tau_m: float, tau_s: float, t_ref: int) -> torch.Tensor:
    """K ``[T, B, N]``: a^{t_f − t}/τs on each spike's integration window, by a reverse scan (float64)."""
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
    return out


def spsp(pre: torch.Tensor, post: torch.Tensor, *, tau_m: float, tau_s: float, t_ref: int) -> torch.Tensor:
    """S-PSPs ``[B, N, N_in]`` of every (post i, pre j) pair: the reference's step recursion
    (``d_Spiking_accumulate_effect_step``), computed as one batched product E = K·Pᵀ over time."""
    _check_time_major("pre", pre)
    _check_time_major("post", post)
    if pre.shape[:2] != post.shape[:2]:
        raise ValueError(f"pre {tuple(pre.shape)} and post {tuple(post.shape)} need the same T and B")
    k = post_kernel(post, tau_m, tau_s, t_ref)
    p = pre_trace(pre, tau_s)
    return torch.einsum("tbn,tbm->bnm", k, p).to(torch.float32)


__all__ = ["THRESHOLD_EPS", "post_kernel", "pre_trace", "spiking_forward", "spsp"]
