"""ST-RSBP's neuron: the forward scan of a spiking layer (module docs of the package: the equations)."""


from __future__ import annotations

import torch

from snnbench.kernels import spike_products
from snnbench.kernels.dispatch import strsbp_scan
from snnbench.kernels.strsbp import STRSBPParams, ell


def _check_time_major(name: str, x: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"{name} must be time-major [T, B, N], got shape {tuple(x.shape)}")


def spiking_forward(x: torch.Tensor, weight: torch.Tensor, *, threshold: float, tau_m: float, tau_s: float,
                    t_ref: int, recurrent: torch.Tensor | None = None, backend: str = "auto") -> torch.Tensor:
    """Spikes ``[T, B, N]`` (0/1, dtype of ``x``) of a layer of the reference's LIF neurons.

    ``x`` is ``[T, B, N_in]`` input spikes, ``weight`` ``[N, N_in]``; ``recurrent`` (``[N, N]``, row =
    post) acts on this layer's own spikes of the previous step: a reservoir's recurrent weights or the
    output layer's lateral inhibition, summed in ascending presynaptic order as the reference does. See
    the module docstring for the step order; ``backend`` picks the PyTorch scan or the fused Triton one
    (:mod:`snnbench.kernels.strsbp`).
    """
    params = STRSBPParams(threshold=float(threshold), tau_m=float(tau_m), tau_s=float(tau_s), t_ref=int(t_ref))
    return spiking_scan(x, weight, params, recurrent, backend)


def spiking_scan(x: torch.Tensor, weight: torch.Tensor, params: STRSBPParams, recurrent: torch.Tensor | None = None,
                 backend: str = "auto", index: torch.Tensor | None = None, events: bool = False) -> torch.Tensor:
    """:func:`spiking_forward` with the neuron's constants bound (a layer's ``params``, built once) and, for a
    layer whose recurrence has a fixed pattern, its ELL ``index`` (:func:`~snnbench.kernels.strsbp.ell`).
    ``events`` (``spsp_form=events``): the drive W·s summed over x's spikes on the CPU."""
    _check_time_major("x", x)
    steps, batch, _ = x.shape
    neurons = weight.shape[0]
    if weight.dim() != 2 or weight.shape[1] != x.shape[2]:
        raise ValueError(f"weight must be [N, {x.shape[2]}], got shape {tuple(weight.shape)}")
    if recurrent is not None and recurrent.shape != (neurons, neurons):
        raise ValueError(f"recurrent must be [{neurons}, {neurons}], got shape {tuple(recurrent.shape)}")
    flat = x.reshape(steps * batch, -1)
    if events and spike_products.available(x):
        drive = spike_products.rows_matmul(spike_products.spike_rows(flat), weight.float().t()).reshape(steps, batch,
                                                                                                     neurons)
    else:
        drive = (flat.float() @ weight.float().t()).reshape(steps, batch, neurons)
    index, values = ell(recurrent, neurons, x.device, index)
    return strsbp_scan(drive, index, values, params, backend).to(x.dtype)


