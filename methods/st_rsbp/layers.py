"""ST-RSBP and HM2-BP: layers."""


from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from snnbench.kernels.dispatch import strsbp_scan
from snnbench.kernels.strsbp import THRESHOLD_EPS, STRSBPParams, ell, ell_index

from ..layers import NeuronLayer, SpikingNetwork
from .scan import spiking_scan


class STRSBPNeurons(NeuronLayer):
    """The neuron contract of ST-RSBP's and HM2-BP's layers (:class:`~methods.layers.NeuronLayer`): the
    constants bound once, at construction, as one :class:`~snnbench.kernels.strsbp.STRSBPParams` (the spike
    test's margin ``eps`` is the layer kind's: 1e-6, 0 in ``ConvSpiking``); ``threshold`` and the time
    constants read them. Setting ``threshold`` (a per-layer ν, at build time) replaces the parameters."""

    cpu_backend = "numba"  # backend auto on the CPU: the compiled scan (snnbench.kernels.strsbp_numba)

    def __init__(self, *, threshold: float, tau_m: float, tau_s: float, t_ref: int, eps: float = THRESHOLD_EPS,
                 backend: str = "auto") -> None:
        super().__init__(STRSBPParams(threshold=float(threshold), tau_m=float(tau_m), tau_s=float(tau_s),
                                      t_ref=int(t_ref), eps=float(eps)), backend)

    @property
    def threshold(self) -> float:
        return self.params.threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        self.params = dataclasses.replace(self.params, threshold=float(value))

    @property
    def tau_m(self) -> float:
        return self.params.tau_m

    @property
    def tau_s(self) -> float:
        return self.params.tau_s

    @property
    def t_ref(self) -> int:
        return self.params.t_ref

    def _scan(self, drive: torch.Tensor) -> torch.Tensor:
        """The neurons of a layer without recurrence on its drive ``[T, B, N]``."""
        index, values = ell(None, drive.shape[2], drive.device)
        return strsbp_scan(drive, index, values, self.params, self.backend)


class STRSBPLayer(STRSBPNeurons):
    """A layer of the reference's LIF neurons (:func:`spiking_forward`) on ``[T, B, N_in]`` spikes:
    ``spiking`` (feed-forward), ``reservoir`` (trained sparse recurrent weights, masked to the topology)
    or ``output`` (fixed lateral inhibition −strength between distinct neurons). The synapse is an
    ``nn.Linear`` without bias (the reference's bias is never added), initialised U(−initW, initW)."""

    def __init__(self, n_in: int, n: int, kind: str, *, threshold: float, init_w: float, tau_m: float,
                 tau_s: float, t_ref: int, recurrent: np.ndarray | None = None, lateral_strength: float = 1.0,
                 backend: str = "auto", events: bool = False) -> None:
        super().__init__(threshold=threshold, tau_m=tau_m, tau_s=tau_s, t_ref=t_ref, backend=backend)
        self.kind, self.events = kind, events  # events: the drive summed over the input spikes (spsp_form)
        self.synapse = nn.Linear(n_in, n, bias=False)
        nn.init.uniform_(self.synapse.weight, -init_w, init_w)
        if kind == "reservoir":
            rec = torch.as_tensor(recurrent) if recurrent is not None else torch.zeros(n, n)
            self.recurrent = nn.Parameter(rec.clone().float())
            self.register_buffer("mask", rec != 0)
        if kind == "output":
            self.register_buffer("lateral", -lateral_strength * (1 - torch.eye(n)))

    @property
    def counted_synapse(self) -> nn.Module:
        return self.synapse

    def lateral_weights(self) -> torch.Tensor | None:
        """The weights on this layer's own previous spikes (recurrent or lateral), if any."""
        if self.kind == "reservoir":
            return self.recurrent.detach()
        return self.lateral if self.kind == "output" else None

    def recurrence_index(self, weights: torch.Tensor) -> torch.Tensor:
        """The ELL index of ``weights`` (this layer's :meth:`lateral_weights`) from the layer's fixed pattern,
        computed once: the reservoir's topology mask (its weights outside it get no gradient and stay 0) or the
        lateral inhibition's nonzeros. A nonzero reservoir weight outside the mask (weights loaded from elsewhere)
        gets the index of the weights' own nonzeros, as :func:`~snnbench.kernels.strsbp.ell` computes it."""
        source = self.mask if self.kind == "reservoir" else self.lateral
        if self.kind == "reservoir" and bool(((weights != 0) & ~source).any()):
            return ell_index(weights != 0)
        key = (source.data_ptr(), source._version)
        if getattr(self, "_ell_key", None) != key:
            self._ell_key, self._ell_index = key, ell_index(source if self.kind == "reservoir" else source != 0)
        return self._ell_index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.lateral_weights()
        index = self.recurrence_index(weights) if weights is not None else None
        spikes = spiking_scan(x, self.synapse.weight.detach(), self.params, weights, self.backend, index, self.events)
        self.record(spikes)
        return spikes

    def extra_repr(self) -> str:
        return (f"kind={self.kind!r}, threshold={self.threshold}, tau_m={self.tau_m}, tau_s={self.tau_s}, "
                f"backend={self.backend!r}, events={self.events}")


class STRSBPConv(STRSBPNeurons):
    """``ConvSpiking`` (spec §8): a convolution of ``[T, B, C, H, W]`` spikes (no bias, stride 1, zero
    padding), then the layer's LIF neurons with the exact test v > ν. Weights U(−initW, initW). The
    integer side-effect state of ``cnn_reference_quirks`` lives in the ``side_state`` buffer."""

    kind = "conv"

    def __init__(self, in_channels: int, channels: int, kernel: int, padding: int, out_shape: tuple[int, ...], *,
                 threshold: float, init_w: float, tau_m: float, tau_s: float, t_ref: int, backend: str = "auto"
                 ) -> None:
        super().__init__(threshold=threshold, tau_m=tau_m, tau_s=tau_s, t_ref=t_ref, eps=0.0, backend=backend)
        self.padding = padding
        self.out_shape = tuple(out_shape)
        self.synapse = nn.Conv2d(in_channels, channels, kernel, padding=padding, bias=False)
        nn.init.uniform_(self.synapse.weight, -init_w, init_w)
        self.register_buffer("side_state", torch.zeros(self.out_shape))

    @property
    def counted_synapse(self) -> nn.Module:
        return self.synapse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        drive = nn.functional.conv2d(x.reshape(steps * batch, *x.shape[2:]).float(), self.synapse.weight.detach(),
                                     padding=self.padding)
        spikes = self._scan(drive.reshape(steps, batch, -1)).reshape(steps, batch, *self.out_shape)
        self.record(spikes)
        return spikes.to(x.dtype)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, tau_m={self.tau_m}, tau_s={self.tau_s}, backend={self.backend!r}"


class STRSBPPool(STRSBPNeurons):
    """``PoolingSpiking`` (spec §8): each neuron's drive is the sum of the spikes in its p×p window (no
    weight, size = skip), then the LIF neurons with v > ν − 1e-6."""

    kind = "pool"

    def __init__(self, size: int, out_shape: tuple[int, ...], *, threshold: float, tau_m: float, tau_s: float,
                 t_ref: int, backend: str = "auto") -> None:
        super().__init__(threshold=threshold, tau_m=tau_m, tau_s=tau_s, t_ref=t_ref, eps=THRESHOLD_EPS,
                         backend=backend)
        self.size = size
        self.out_shape = tuple(out_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        drive = nn.functional.avg_pool2d(x.reshape(steps * batch, *x.shape[2:]).float(), self.size,
                                         divisor_override=1)
        spikes = self._scan(drive.reshape(steps, batch, -1))
        spikes = spikes.reshape(steps, batch, *self.out_shape)
        self.record(spikes)
        return spikes.to(x.dtype)

    def extra_repr(self) -> str:
        return f"size={self.size}, threshold={self.threshold}, backend={self.backend!r}"


RULE_LAYERS = (STRSBPLayer, STRSBPConv, STRSBPPool)


class STRSBPNetwork(SpikingNetwork):
    """The layers in order; in training mode the forward keeps every layer's input and output trains
    (``trains[k]`` is the k-th spiking layer's input, ``trains[-1]`` the output) for the backward chain."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trains = []
        for layer in self.layers:
            if isinstance(layer, RULE_LAYERS):
                trains.append(x)
            x = layer(x)
        trains.append(x)
        self.trains = trains if self.training else []
        return x

    def spiking_layers(self) -> list[STRSBPLayer | STRSBPConv | STRSBPPool]:
        return [layer for layer in self.layers if isinstance(layer, RULE_LAYERS)]


