"""ST-RSBP and HM2-BP: the methods."""


from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from snnbench.arch import LayerPlan, LayerSpec
from snnbench.config import ConfigError, RunConfig
from snnbench.registry import register_method

from ..base import Method
from .chain import STRSBPOptions, count_error, network_gradients
from .effect import EFFECT_DEGREE, effect_table, load_effect_file
from .layers import STRSBPConv, STRSBPLayer, STRSBPNetwork, STRSBPPool
from .recipes import HM2BP_DEFAULT, HM2BP_RECIPES, HM2BP_SOURCES, MNIST, STRSBP_RECIPES, STRSBP_SOURCES
from .reservoir import reservoir_topology


@register_method("st-rsbp")
class STRSBP(Method):
    """ST-RSBP: spike-count backpropagation through S-PSPs with the self-consistency factor S_i, recurrent
    layers solved as a linear system (``rec`` layers); the reference's online Adam with batch 1, or the
    per-sample gradients of a batch averaged into one Adam step when ``batch_size`` > 1.

    How a batch becomes an update: every quantity of the backward chain (S-PSPs, S_i, the solve, λ) is
    per sample, exactly as the reference computes it for its one sample; the weight gradients of the B
    samples are averaged (the regulariser added once) and Adam takes one step. With ``batch_size=1`` that
    is the reference's update order: forward, then each layer's gradient from the top down, each Adam step
    using only that sample (the layers' updates do not interact within a sample)."""

    name = "st-rsbp"
    description = "ST-RSBP (Zhang & Li 2019): spike-train-level recurrent backprop of counts through S-PSPs"
    options_type = STRSBPOptions
    eval_batch_size = 128  # evaluation only: the spikes of a sample do not depend on its batch
    graph_capture = False
    graph_capture_note = ("its gradients are computed outside autograd from spike counts and the recurrent "
                          "weights' sparsity read on the host")
    default_recipe = MNIST
    recipes = STRSBP_RECIPES
    recipe_sources = STRSBP_SOURCES
    search_space = {"lr": ("log", 1e-4, 1e-2), "tau_m": ("float", 32.0, 128.0)}
    allows_recurrent = True

    def check(self, cfg: RunConfig, dataset: Any) -> None:
        spikes = cfg.encoding.startswith("strsbp") or cfg.encoding in ("rate", "latency")
        if dataset.kind != "events" and not spikes:
            raise ConfigError(f"{self.name} needs spike inputs: encoding strsbp, strsbp-frozen, rate or latency "
                              f"(got {cfg.encoding!r})")
        super().check(cfg, dataset)

    def build(self, plan: LayerPlan, input_shape: tuple[int, ...], num_classes: int, cfg: RunConfig
              ) -> STRSBPNetwork:
        net = STRSBPNetwork(list(super().build(plan, input_shape, num_classes, cfg).layers))
        thresholds = self.opts(cfg).hidden_thresholds()
        hidden = [layer for layer in net.spiking_layers() if getattr(layer, "kind", "") != "output"]
        if thresholds and len(thresholds) != len(hidden):
            raise ConfigError(f"thresholds={self.opts(cfg).thresholds!r} gives {len(thresholds)} values; the "
                              f"network {cfg.arch!r} has {len(hidden)} hidden layers (conv, pool, linear, rec)")
        for layer, nu in zip(hidden, thresholds, strict=False):
            layer.threshold = nu
        return net

    def _layer(self, n_in: int, n: int, kind: str, cfg: RunConfig, **extra: Any) -> STRSBPLayer:
        o = self.opts(cfg)
        threshold = o.threshold_output if kind == "output" else o.threshold
        return STRSBPLayer(n_in, n, kind, threshold=threshold, init_w=o.init_w, tau_m=o.tau_m, tau_s=o.tau_s,
                           t_ref=o.t_ref, lateral_strength=o.lateral_strength, backend=o.backend,
                           events=o.spsp_form == "events", **extra)

    def make_linear(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [self._layer(math.prod(in_shape), spec.channels, "spiking", cfg)]

    def make_recurrent(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        if not self.allows_recurrent:
            return super().make_recurrent(spec, in_shape, out_shape, cfg)
        lattice = spec.lattice or _default_lattice(spec.channels)
        o = self.opts(cfg)
        on_meta = torch.empty(0).device.type == "meta"  # the resolution check builds without the topology
        topology = None if on_meta else reservoir_topology(lattice, o.init_w, o.reservoir_topology)
        return [self._layer(math.prod(in_shape), spec.channels, "reservoir", cfg, recurrent=topology)]

    def make_output(self, in_features: int, out_features: int, cfg: RunConfig) -> list[nn.Module]:
        return [self._layer(in_features, out_features, "output", cfg)]

    def make_conv(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        if spec.stride != 1:
            raise ConfigError(f"{self.name}: ConvSpiking has stride 1, got {spec}")
        o = self.opts(cfg)
        return [STRSBPConv(in_shape[0], spec.channels, spec.kernel, spec.padding, out_shape, threshold=o.threshold,
                           init_w=o.conv_init_w or o.init_w, tau_m=o.tau_m, tau_s=o.tau_s, t_ref=o.t_ref,
                           backend=o.backend)]

    def make_pool(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        if spec.pool or in_shape[1] % spec.kernel or in_shape[2] % spec.kernel:
            raise ConfigError(f"{self.name}: PoolingSpiking is the plain 'P' (a spiking neuron on each window's "
                              f"spike sum) with H and W divisible by its size; got {spec} on {in_shape[1]}x"
                              f"{in_shape[2]}")
        o = self.opts(cfg)
        return [STRSBPPool(spec.kernel, out_shape, threshold=o.threshold, tau_m=o.tau_m, tau_s=o.tau_s,
                           t_ref=o.t_ref, backend=o.backend)]

    def make_dropout(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise ConfigError(f"{self.name}: the reference has no {spec} layer; valid layers: NcK (conv), P (pool), "
                          "N (fully connected), recN (recurrent)")

    make_gap = make_dropout

    def prepare(self, model: nn.Module, cfg: RunConfig, cache_dir: Path | None, train_size: int = 0,
                training: bool = True) -> dict[str, Any]:
        """Load the effect table (the reference's file, or generated and cached) onto the model, and
        give it the boosting state (a weight, a last-prediction flag and a seen flag per training sample;
        buffers, so checkpoints carry them). Evaluation (``training`` false) needs the buffers only: the
        effect table is read by the backward pass alone, so none is generated for it."""
        o = self.opts(cfg)
        if o.boost and train_size:
            add_boosting_state(model, train_size)
        device = next(model.parameters()).device
        reservoirs = [m for m in model.modules() if isinstance(m, STRSBPLayer) and m.kind == "reservoir"]
        facts: dict[str, Any] = {"solve_layout": o.solve_layout if reservoirs else None,
                                 "reservoir_topology": o.reservoir_topology if reservoirs else None,
                                 "recurrent_connections": [int(layer.mask.sum()) for layer in reservoirs]}
        needs_table = reservoirs or o.dadw == "strsbp" or (o.dadw == "none" and o.dadw_scope == "wgrad_only")
        if not needs_table or not training:  # no S_i and no reservoir: the polynomial is never read
            model.effect_coeffs = torch.zeros(1, EFFECT_DEGREE + 1, dtype=torch.float64, device=device)
            return {**facts, "effect_table": None}
        if o.effect_file:
            table, source = load_effect_file(Path(o.effect_file).expanduser()), f"file {o.effect_file}"
        else:
            table = effect_table(cfg.steps, o.tau_m, o.tau_s, o.t_ref, trials=o.effect_trials, seed=o.effect_seed,
                                 cache_dir=cache_dir)
            source = f"generated: {o.effect_trials} pairs per cell, seed {o.effect_seed}"
        model.effect_coeffs = torch.as_tensor(table, dtype=torch.float64, device=device)
        digest = hashlib.sha256(np.ascontiguousarray(table, dtype=np.float64).tobytes()).hexdigest()[:16]
        return {**facts, "effect_table": {"source": source, "sha256": digest, "rows": int(table.shape[0]),
                                          "tau_m": o.tau_m, "tau_s": o.tau_s, "t_ref": o.t_ref, "steps": cfg.steps}}

    def loss(self, output: torch.Tensor, labels: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        """The logged cost: Σ over outputs of the dead-zone squared count error, mean over the batch."""
        return count_error(output.float().sum(0), labels, self.opts(cfg))[1].mean()

    def backward(self, loss: torch.Tensor, model: nn.Module, output: torch.Tensor, labels: torch.Tensor,
                 cfg: RunConfig, index: Any = None) -> None:
        net = model.module if hasattr(model, "module") else model
        coeffs = getattr(net, "effect_coeffs", None)
        if coeffs is None:
            raise RuntimeError(f"{self.name}: the effect table is missing; Method.prepare loads it before training")
        weight = None
        if index is not None and hasattr(net, "boost_weight"):
            rows = torch.as_tensor(np.asarray(index), device=labels.device, dtype=torch.long)
            weight = net.boost_weight[rows]
            predicted = self.scores(output, cfg).argmax(1)  # the training prediction of this sample
            net.boost_wrong[rows] = predicted != labels
            net.boost_seen[rows] = True
            net.boost_label[rows] = labels
        grads, _ = network_gradients(net, labels, self.opts(cfg), coeffs, weight)
        for name, parameter in net.named_parameters():
            if name in grads:
                parameter.grad = grads[name].to(parameter.dtype)

    def scores(self, output: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        return output.float().sum(0)  # spike counts; argmax keeps the first maximum, as g_getPredict

    def end_epoch(self, model: nn.Module, cfg: RunConfig) -> None:
        """``g_boostWeightUpdate``: per class c, err_c = Σ w·[wrong] / Σ w over the epoch's samples of c;
        every misclassified sample of c gets w ← w·exp(err_c/20) (weights only grow, never renormalised)."""
        net = model.module if hasattr(model, "module") else model
        if not hasattr(net, "boost_weight"):
            return
        boost_update(net.boost_weight, net.boost_wrong, net.boost_seen, net.boost_label)


def add_boosting_state(model: nn.Module, train_size: int) -> None:
    """Per training sample: its boosting weight, whether its last training prediction was wrong, whether
    this epoch saw it, and its label (buffers: checkpoints carry them, so a resumed run boosts the same)."""
    device = next(model.parameters()).device
    model.register_buffer("boost_weight", torch.ones(train_size, device=device))
    model.register_buffer("boost_wrong", torch.zeros(train_size, dtype=torch.bool, device=device))
    model.register_buffer("boost_seen", torch.zeros(train_size, dtype=torch.bool, device=device))
    model.register_buffer("boost_label", torch.full((train_size,), -1, dtype=torch.long, device=device))


def boost_update(weight: torch.Tensor, wrong: torch.Tensor, seen: torch.Tensor, label: torch.Tensor) -> None:
    """One epoch's boosting update in place (see :meth:`STRSBP.end_epoch`); clears the seen flags."""
    for c in label[seen].unique().tolist():
        members = seen & (label == c)
        total = weight[members].sum()
        err = (weight[members] * wrong[members]).sum() / total if total > 0 else weight.new_zeros(())
        grow = members & wrong
        weight[grow] = weight[grow] * torch.exp(err / 20)
    seen.zero_()


def _default_lattice(neurons: int) -> tuple[int, int, int]:
    if neurons % 25:
        raise ConfigError(f"a recurrent layer of {neurons} neurons needs its lattice, e.g. rec{neurons}(d1xd2xd3) "
                          "with d1·d2·d3 = N (the default 5x5xN/25 needs N divisible by 25)")
    return (5, 5, neurons // 25)


@register_method("hm2-bp")
class HM2BP(STRSBP):
    """HM2-BP (Jin, Zhang & Li 2018) as its released code (jinyyy666/mm-bp-snn) computes it: the analytic
    decoupled S-PSP (0.1 for a silent post neuron), ∂a/∂w = e·(1 + Σ_l w_il·e_il/o_i/ν) (first order),
    δ not divided, ratio 1 at zero counts, regulariser over N_pre; no recurrent layers."""

    name = "hm2-bp"
    description = "HM2-BP (Jin et al. 2018): multi-layer spike-count backprop through analytic S-PSPs"
    allows_recurrent = False
    default_recipe = HM2BP_DEFAULT
    recipes = HM2BP_RECIPES
    recipe_sources = HM2BP_SOURCES


