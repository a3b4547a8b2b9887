"""What every learning rule provides, and the shared builder that turns a layer plan into a network.

A method chooses what follows each synapse (its neuron, its normalisation, how gradients cross it)
by overriding the ``make_*`` hooks; :meth:`Method.build` walks the plan and calls them. All layers
take and return time-major tensors ``[T, B, ...]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from snnbench.arch import LayerPlan, LayerSpec, LayerStep, parse_arch
from snnbench.config import BASE_DEFAULTS, ConfigError, Options, RunConfig, choice, num
from snnbench.kernels import BACKENDS, SURROGATES, LIFParams
from snnbench.kernels.lif import RESETS

from .layers import LIF, AvgPool, Flatten, ResBlock, SpikingNetwork, TimeDistributed

# snnbench's binning of SHD and SSC (no source publishes one for these rules): 100 bins of 10 ms from the
# sample's start (1 s; SHD's digits last up to ~1.4 s), a channel spiking at least once in a bin is 1
SPEECH_FRAMES = {"steps": 100, "event_binning": "time_window", "event_window_us": 10000, "event_values": "binary"}
SPEECH_SOURCE = "snnbench's own (no published recipe): 100 x 10 ms bins, a fully connected network"


def check_recipes(cls: type) -> None:
    """Every recipe of a rule typed when its class is defined (timm's pretrained configs): each merged with
    the default recipe must make a valid :class:`RunConfig` (known fields, types, choices, ranges) with valid
    options, so a typo in a recipe fails at import, naming the rule, the recipe and the key."""
    for key, recipe in {"": {}, **cls.recipes}.items():
        layer = {**cls.default_recipe, **recipe}
        options = {**cls.option_defaults, **layer.pop("options", {})}
        try:
            RunConfig(**{**BASE_DEFAULTS, "arch": "1", **layer, "method": cls.name or cls.__name__,
                         "dataset": key or "any", "options": cls.options_type.from_dict(options)})
        except (TypeError, ValueError) as err:
            raise TypeError(f"method {cls.name or cls.__name__}: recipe {key or '(default)'!r} is not a valid "
                            f"config: {err}") from None


class Method:
    """A learning rule: network construction, loss, readout and optimiser defaults.

    Class attributes: ``name``; ``description``; ``options_type`` (a frozen :class:`Options`
    dataclass: the method's own settings with their types, choices and ranges, all overridable with
    ``--set``; ``option_defaults`` is derived from it); ``default_recipe`` (config fields for any
    dataset); ``recipes`` (per dataset family: network, T, optimiser, ... as published) and
    ``recipe_sources`` (where each comes from).
    """

    name: str = ""
    description: str = ""
    options_type: type[Options] = Options
    option_defaults: dict[str, Any] = {}
    default_recipe: dict[str, Any] = {}
    recipes: dict[str, dict[str, Any]] = {}
    recipe_sources: dict[str, str] = {}  # recipe key -> where it comes from (paper table, code file, snnbench)
    # what ``snnbench tune`` searches: name (a config field or an option) -> (float | log | int, low, high)
    search_space: dict[str, tuple[str, float, float]] = {"lr": ("log", 1e-4, 3e-2)}
    # evaluation batches (0 = the run's batch_size); only for rules whose outputs per sample do not depend
    # on the batch they run in, and whose evaluation inputs are drawn per sample
    eval_batch_size: int = 0
    # whether the training step can be replayed from a CUDA graph (no host read of a device value, no Python
    # state changed per step); when not, ``graph_capture_note`` says why (``--cuda-graph`` shows it)
    graph_capture: bool = True
    graph_capture_note: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.option_defaults = cls.options_type.defaults()
        check_recipes(cls)

    def opts(self, cfg: RunConfig) -> Any:
        """The run's typed options: ``cfg.options`` itself (typed and validated when the config was made)."""
        if not isinstance(cfg.options, self.options_type):
            raise TypeError(f"{self.name}: the config's options are {type(cfg.options).__name__}, "
                            f"not {self.options_type.__name__} (a config of another method?)")
        return cfg.options

    def check(self, cfg: RunConfig, dataset: Any) -> None:
        """Validate ``cfg`` for ``dataset`` before any data loads: the architecture parses and the
        network builds for the dataset's input shape (on the meta device: no memory, no init cost)."""
        from snnbench.data import input_shape_of

        plan = parse_arch(cfg.arch)
        try:
            plan.shapes(tuple(input_shape_of(cfg, dataset)), dataset.num_classes)
        except ValueError as err:  # a layer that does not fit the input (a conv on 1-D data, a map shrunk away)
            raise ConfigError(f"{err} (dataset {dataset.name}, input {input_shape_of(cfg, dataset)})") from None
        with torch.device("meta"):
            self.build(plan, input_shape_of(cfg, dataset), dataset.num_classes, cfg)

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
        """Walk ``plan`` (:meth:`~snnbench.arch.LayerPlan.walk`) and assemble the network from the method's
        ``make_*`` hooks, one :meth:`make_layer` per step."""
        walk = plan.walk(tuple(input_shape), self.output_size(num_classes, cfg))
        layers: list[nn.Module] = []
        for step in walk.steps:
            if step.flatten_before:
                layers.append(Flatten())
            layers.extend(self.make_layer(step, cfg))
        if walk.flatten_head:
            layers.append(Flatten())
        layers.extend(self.make_output(walk.head_features, walk.outputs, cfg))
        return SpikingNetwork(layers)

    def make_layer(self, step: LayerStep, cfg: RunConfig) -> list[nn.Module]:
        """The modules of one walked layer: ``make_<kind>(spec, in_shape, out_shape, cfg)`` by default; a rule
        that needs more of the walk (TET: the ResNet stem) overrides this."""
        return getattr(self, f"make_{step.spec.kind}")(step.spec, step.in_shape, step.out_shape, cfg)

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
        return [TimeDistributed(AvgPool(spec.kernel))]

    def make_dropout(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.Dropout(spec.p))]

    def make_gap(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.AdaptiveAvgPool2d(1))]

    def make_resblock(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise ConfigError(f"method {self.name} has no residual blocks; choose an architecture without 'R' layers")

    def make_recurrent(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        raise ConfigError(f"method {self.name} has no recurrent layers ({spec}); methods with recurrent layers: "
                          "st-rsbp")

    # ---- training ------------------------------------------------------------------------
    def loss(self, output: torch.Tensor, labels: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, output: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        """Class scores ``[B, K]`` whose argmax is the prediction."""
        raise NotImplementedError

    def param_groups(self, model: nn.Module, cfg: RunConfig) -> list[dict[str, Any]]:
        """Parameter groups for the optimiser: dicts with ``name``, ``params`` and ``lr_scale``
        (one group at the run's learning rate unless a method's reference code uses several)."""
        return [{"name": "all", "params": [p for p in model.parameters() if p.requires_grad], "lr_scale": 1.0}]

    def backward(self, loss: torch.Tensor, model: nn.Module, output: torch.Tensor, labels: torch.Tensor,
                 cfg: RunConfig, index: Any = None) -> None:
        """Fill the parameters' ``.grad`` for this batch: autograd through ``loss`` by default. A rule
        whose gradients are not a derivative of its forward graph (ST-RSBP) writes them explicitly;
        ``index`` holds the batch's positions in the training split (sample identity), when known."""
        loss.backward()

    def prepare(self, model: nn.Module, cfg: RunConfig, cache_dir: Path | None, train_size: int = 0,
                training: bool = True) -> dict[str, Any]:
        """Hook once the model is on its device, before training: load or compute what the rule needs
        (``cache_dir`` is the data cache; ``train_size`` the training split's length). With ``training``
        false (evaluation of a checkpoint) only the state a checkpoint holds is needed. Returns facts for
        the record's ``execution.method``."""
        return {}

    def end_epoch(self, model: nn.Module, cfg: RunConfig) -> None:
        """Hook after each training epoch (e.g. ST-RSBP's boosting update)."""

    def after_step(self, model: nn.Module, cfg: RunConfig) -> None:
        """Hook after each optimiser step (e.g. weight clamping)."""


# ---- the LIF family (STBP, STBP-tdBN and TET are siblings over this base) ----------------------
@dataclass(frozen=True)
class LIFOptions(Options):
    """The LIF neuron's settings (:class:`snnbench.kernels.LIFParams`) and its backend."""

    threshold: float = num(0.5, gt=0)
    decay: float = num(0.2, ge=0, le=1)
    surrogate: str = choice("rectangle", SURROGATES)
    surrogate_width: float = num(1.0, gt=0)
    reset: str = choice("zero", RESETS)
    detach_reset: bool = False
    backend: str = choice("auto", BACKENDS, late="auto")

    def lif(self) -> LIFParams:
        return LIFParams(decay=self.decay, threshold=self.threshold, reset=self.reset,
                         detach_reset=self.detach_reset, surrogate=self.surrogate, width=self.surrogate_width)


class LIFMethod(Method):
    """A rule whose synapses are followed by :class:`~snnbench.methods.layers.LIF` neurons."""

    options_type: type[Options] = LIFOptions
    residual_alpha: float = 1 / math.sqrt(2)  # tdBN's α on the residual branch

    def neuron(self, cfg: RunConfig) -> LIF:
        o = self.opts(cfg)
        return LIF(o.lif(), o.backend)

    def make_linear(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.Linear(math.prod(in_shape), spec.channels)), self.neuron(cfg)]

    def make_resblock(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig) -> list[nn.Module]:
        o = self.opts(cfg)
        return [ResBlock(in_shape[0], spec.channels, spec.stride, o.lif(), residual_alpha=self.residual_alpha,
                         backend=o.backend)]


__all__ = ["Flatten", "LIFMethod", "LIFOptions", "Method", "SpikingNetwork", "TimeDistributed"]
