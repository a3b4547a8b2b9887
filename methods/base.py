"""What every learning rule provides, and the shared builder that turns a layer plan into a network.

A method chooses what follows each synapse (its neuron, its normalisation, how gradients cross it)
by overriding the ``make_*`` hooks; :meth:`Method.build` walks the plan and calls them. All layers
take and return time-major tensors ``[T, B, ...]``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from snnbench.arch import LayerPlan, LayerSpec
from snnbench.config import ConfigError, RunConfig

OPTIMIZERS = ("adam", "adamw", "sgd", "nadam")
LR_SCHEDULES = ("none", "cosine", "step")


class TimeDistributed(nn.Module):
    """Applies a per-frame module to ``[T, B, ...]`` by folding time into the batch."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        y = self.module(x.reshape(steps * batch, *x.shape[2:]))
        return y.reshape(steps, batch, *y.shape[1:])


class Flatten(nn.Module):
    """``[T, B, C, H, W]`` → ``[T, B, C·H·W]`` (channel-major, as the papers' code flattens)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(2)


class SpikingNetwork(nn.Module):
    """A sequence of time-major layers; ``forward`` maps ``[T, B, C, H, W]`` to ``[T, B, K]``."""

    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class Method:
    """A learning rule: network construction, loss, readout and optimiser defaults.

    Class attributes: ``name``; ``description``; ``option_defaults`` (the method's own settings,
    all overridable with ``--set``); ``default_recipe`` (config fields for any dataset);
    ``recipes`` (per dataset family: network, T, optimiser, ... as published).
    """

    name: str = ""
    description: str = ""
    option_defaults: dict[str, Any] = {}
    default_recipe: dict[str, Any] = {}
    recipes: dict[str, dict[str, Any]] = {}
    # what ``snnbench tune`` searches: name (a config field or an option) -> (float | log | int, low, high)
    search_space: dict[str, tuple[str, float, float]] = {"lr": ("log", 1e-4, 3e-2)}

    def recipe_for(self, dataset: Any, variant: str = "") -> dict[str, Any]:
        """The recipe for ``dataset`` (by name, else by family); ``variant`` picks ``family:variant``."""
        if not variant:
            return self.recipes.get(dataset.name) or self.recipes.get(dataset.recipe_family, {})
        for key in (f"{dataset.name}:{variant}", f"{dataset.recipe_family}:{variant}"):
            if key in self.recipes:
                return self.recipes[key]
        valid = [k.split(":", 1)[1] for k in self.recipes if ":" in k
                 and k.split(":", 1)[0] in (dataset.name, dataset.recipe_family)]
        raise ConfigError(f"method {self.name} has no recipe {variant!r} for dataset {dataset.name}; "
                          f"valid recipes: {', '.join(valid) or '(only the default one)'}")

    # ---- network -------------------------------------------------------------------------
    def build(self, plan: LayerPlan, input_shape: tuple[int, ...], num_classes: int, cfg: RunConfig
              ) -> SpikingNetwork:
        """Walk ``plan`` and assemble the network from the method's ``make_*`` hooks."""
        shapes = plan.shapes(tuple(input_shape), self.output_size(num_classes, cfg))
        layers: list[nn.Module] = []
        shape: tuple[int, ...] = tuple(input_shape)
        for spec, out_shape in zip(plan.layers, shapes[:-1], strict=True):
            if spec.kind == "linear" and len(shape) == 3:
                layers.append(Flatten())
            maker = getattr(self, f"make_{spec.kind}")
            layers.extend(maker(spec, shape, out_shape, cfg))
            shape = out_shape
        if len(shape) == 3:
            layers.append(Flatten())
        layers.extend(self.make_output(math.prod(shape), shapes[-1][0], cfg))
        return SpikingNetwork(layers)

    def output_size(self, num_classes: int, cfg: RunConfig) -> int:
        return num_classes

    def make_conv(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise NotImplementedError

    def make_linear(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise NotImplementedError

    def make_output(self, in_features: int, out_features: int, cfg: RunConfig) -> list[nn.Module]:
        raise NotImplementedError

    def make_pool(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        """Average pooling by default (``MP`` gives max); odd sizes are zero-padded up."""
        if spec.pool == "max":
            return [TimeDistributed(nn.MaxPool2d(spec.kernel, ceil_mode=True))]
        return [TimeDistributed(nn.AvgPool2d(spec.kernel, ceil_mode=True))]

    def make_dropout(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.Dropout(spec.p))]

    def make_gap(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.AdaptiveAvgPool2d(1))]

    def make_resblock(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise ConfigError(f"method {self.name} has no residual blocks; choose an architecture without 'R' layers")

    # ---- training ------------------------------------------------------------------------
    def loss(self, output: torch.Tensor, labels: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, output: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        """Class scores ``[B, K]`` whose argmax is the prediction."""
        raise NotImplementedError

    def make_optimizer(self, model: nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "nadam":
            return torch.optim.NAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid optimizers: {', '.join(OPTIMIZERS)}")

    def after_step(self, model: nn.Module, cfg: RunConfig) -> None:
        """Hook after each optimiser step (e.g. weight clamping)."""


def lr_at(epoch: int, cfg: RunConfig) -> float:
    """Learning rate for ``epoch`` (0-based): a pure function, so resuming needs no scheduler state."""
    if cfg.lr_schedule == "none":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    if cfg.lr_schedule == "step":
        return cfg.lr * cfg.lr_gamma ** (epoch // max(cfg.lr_step_epochs, 1))
    raise ConfigError(f"unknown lr_schedule {cfg.lr_schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}")
