"""TET: temporal efficient training (Deng et al., ICLR 2022); reference code
Gus-Lab/temporal_efficient_training.

TET keeps the neuron and changes the loss. Neuron: ``u ← 0.5·u + x_t; s = [u > 1]; u ← (1 − s)·u``,
a reset to zero whose gradient flows, triangle surrogate with γ = 1 (the shared fused LIF kernels).
Each conv is Conv(bias) → BN → LIF, with BN statistics over batch, time and space (time folded into
the batch) and plain γ = 1 (no tdBN α·V_th). Average pooling acts on spikes. The output layer is a
per-step ``Linear`` with no neuron: its outputs O_t are the logits of step t.

Losses: ``tet`` L = (1 − λ)·(1/T)Σ_t CE(O_t, y) + λ·MSE(O, φ), φ = V_th = 1; ``sdt`` (the standard
direct-training baseline) L = CE((1/T)Σ_t O_t, y). Readout: argmax of (1/T)Σ_t O_t for both.

Time-inheritance training (TIT): train at a small T, then ``--init-from`` that run (its record or
checkpoint) at a larger T; the record keeps the lineage and the total training time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from snnbench.arch import LayerSpec, LayerStep
from snnbench.config import RunConfig, choice, num
from snnbench.kernels import BACKENDS, SURROGATES
from snnbench.registry import register_method

from .base import SPEECH_FRAMES, SPEECH_SOURCE, LIFMethod, LIFOptions
from .layers import BatchNorm, TimeDistributed

LOSSES = ("tet", "sdt")


@dataclass(frozen=True)
class TETOptions(LIFOptions):
    threshold: float = num(1.0, gt=0)
    decay: float = num(0.5, ge=0, le=1)
    surrogate: str = choice("triangle", SURROGATES)
    loss: str = choice("tet", LOSSES)
    lam: float = num(0.05, ge=0, le=1)  # λ, the MSE term's weight
    phi: float = num(1.0)  # φ, the MSE target (V_th)
    # the conv's BN: nn.BatchNorm2d's formula, or the fused kernels
    bn_backend: str = choice("torch", BACKENDS, late="torch")


def tet_loss(output: torch.Tensor, labels: torch.Tensor, lam: float, phi: float) -> torch.Tensor:
    """(1 − λ)·mean_t CE(O_t, y) + λ·mean((O − φ)²) over ``output`` ``[T, B, K]`` (batch means)."""
    steps = output.shape[0]
    ce = F.cross_entropy(output.flatten(0, 1), labels.repeat(steps))  # = (1/T) Σ_t CE(O_t, y), batch mean
    mse = F.mse_loss(output, torch.full_like(output, phi)) if lam else output.new_zeros(())
    return (1 - lam) * ce + lam * mse


def sdt_loss(output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE of the mean output over time (the baseline TET compares with)."""
    return F.cross_entropy(output.mean(0), labels)


def _conv_bn(in_ch: int, out_ch: int, spec: LayerSpec, stem: bool = False, bn_backend: str = "torch") -> nn.Module:
    """Conv → BN. VGGSNN's convs have a bias and Kaiming-normal (fan_out) weights; ResNet-19's stem
    (``stem``) has no bias and PyTorch's default initialisation (``models/resnet_models.py``)."""
    conv = nn.Conv2d(in_ch, out_ch, spec.kernel, spec.stride, spec.padding, bias=not stem)
    if not stem:
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return TimeDistributed(nn.Sequential(conv, BatchNorm(out_ch, bn_backend)))


_CIFAR = {"arch": "resnet19", "steps": 2, "epochs": 300, "batch_size": 128, "lr": 0.01, "optimizer": "adam",
          "lr_schedule": "cosine", "augment": "crop_flip", "options": {"lam": 0.05}}


@register_method("tet")
class TET(LIFMethod):
    name = "tet"
    description = "TET (Deng et al. 2022): per-step CE + λ·MSE to V_th, LIF (leak 0.5, zero reset), triangle surrogate"
    search_space = {"lr": ("log", 1e-4, 3e-2), "steps": ("int", 2, 8), "lam": ("float", 0.0, 0.5),
                    "surrogate_width": ("float", 0.5, 2.0)}
    options_type = TETOptions
    residual_alpha = 1.0  # TET's plain BN (γ = 1), not tdBN's α·V_th
    default_recipe = {"arch": "400", "steps": 4, "epochs": 10, "batch_size": 64, "lr": 1e-3, "optimizer": "adam",
                      "lr_schedule": "cosine"}
    recipes = {
        "digits": {"arch": "128", "steps": 4, "epochs": 20, "batch_size": 32, "lr": 3e-3},
        # the CPU track (snnbench's): Yin-Yang's values as currents, Randman's spike times at the generator's 100 bins
        "yin-yang": {"arch": "120", "steps": 8, "epochs": 40, "batch_size": 20, "lr": 3e-3},
        "randman": {"arch": "128", "steps": 100, "epochs": 40, "batch_size": 32, "lr": 3e-3, "encoding": "latency"},
        # small networks so every rule runs on every dataset: the TSSL-BP MNIST network, Adam + cosine
        "mnist": {"arch": "15C5-P2-40C5-P2-300", "steps": 4, "epochs": 100, "batch_size": 64, "lr": 1e-3},
        "fashion-mnist": {"arch": "32C5p2-P2-64C5p2-P2-1024", "steps": 4, "epochs": 100, "batch_size": 64,
                          "lr": 1e-3},
        "nmnist": {"arch": "12C5p1-P2-64C5-P2", "steps": 10, "epochs": 100, "batch_size": 64, "lr": 1e-3,
                   "event_binning": "n_time_bins", "event_values": "binary", "options": {"lam": 0.001}},
        # paper (App. A.1): ResNet-19, Adam 0.01, cosine, 300 epochs at T = 2, lambda = 0.05
        "cifar10": _CIFAR,
        # TIT's second stage: T = 4 for 50 epochs at lr 1e-4; pass --init-from <the T = 2 run's record>.
        # The paper (A.1) does not say which schedule the stage uses; this recipe keeps the cosine
        # schedule, restarted over the stage's own 50 epochs (from 1e-4 down to 0).
        "cifar10:tit": {**_CIFAR, "steps": 4, "epochs": 50, "lr": 1e-4},
        # DVS-CIFAR10: VGGSNN, 10 frames of equal event count, 48x48, flip + roll, lambda = 0.001
        "cifar10-dvs": {"arch": "vggsnn", "steps": 10, "epochs": 300, "batch_size": 128, "lr": 1e-3,
                        "event_binning": "n_event_bins", "event_values": "max_norm", "event_size": 48,
                        "augment": "flip_roll", "options": {"lam": 0.001}},
        # CIFAR-100 (paper App. A.1, Table 3): the CIFAR-10 settings; TIT to T = 4 (and --steps 6) for 50 epochs
        "cifar100": _CIFAR,
        "cifar100:tit": {**_CIFAR, "steps": 4, "epochs": 50, "lr": 1e-4},
        # the paper's ablation (Sec. 5.1, Table 1): SDT against TET on ResNet-19 / CIFAR-100, from scratch at T = 4
        # (and 6 with --steps 6); compare with `--recipe sdt` against the cifar100 recipe at --steps 4
        "cifar100:sdt": {**_CIFAR, "steps": 4, "options": {"lam": 0.0, "loss": "sdt"}},
        "shd": {**SPEECH_FRAMES, "arch": "256-256", "epochs": 30, "batch_size": 64, "lr": 1e-3,
                "options": {"lam": 0.001}},
        "ssc": {**SPEECH_FRAMES, "arch": "256-256", "epochs": 30, "batch_size": 128, "lr": 1e-3,
                "options": {"lam": 0.001}},
    }
    recipe_sources = {  # where each recipe comes from (snnbench list recipes)
        "digits": "snnbench's CPU demo",
        "yin-yang": "snnbench's CPU track (no published recipe for this rule): 4-120-3 as Göltz et al. 2021",
        "randman": "snnbench's CPU track (no published recipe for this rule): 100-128-10, T=100 as the generator",
        "mnist": "snnbench: the TSSL-BP MNIST network, TET's Adam + cosine",
        "fashion-mnist": "snnbench: the TSSL-BP Fashion-MNIST CNN, TET's Adam + cosine",
        "nmnist": "snnbench (no published recipe)",
        "cifar10": "TET paper App. A.1 (Deng et al. 2022): ResNet-19, T=2",
        "cifar10:tit": "TET paper App. A.1: TIT's second stage (T=4, 50 epochs; schedule unstated)",
        "cifar10-dvs": "TET paper App. A.1 and code: VGGSNN, 10 frames, 48x48",
        "cifar100": "TET paper App. A.1 and Table 3: ResNet-19, T=2, 300 epochs",
        "cifar100:tit": "TET paper App. A.1: TIT's stage to T=4 (or 6), 50 epochs at 1e-4 (schedule unstated)",
        "cifar100:sdt": "TET paper Sec. 5.1 (Table 1): the SDT loss, ResNet-19 from scratch at T=4",
        "shd": SPEECH_SOURCE,
        "ssc": SPEECH_SOURCE,
    }

    def make_layer(self, step: LayerStep, cfg: RunConfig) -> list[nn.Module]:
        if step.stem:  # a ResNet's stem (the first conv of a plan with residual blocks) differs
            return self.make_conv(step.spec, step.in_shape, step.out_shape, cfg, stem=True)
        return super().make_layer(step, cfg)

    def make_conv(self, spec: LayerSpec, in_shape: tuple, out_shape: tuple, cfg: RunConfig,
                  stem: bool = False) -> list[nn.Module]:
        return [_conv_bn(in_shape[0], spec.channels, spec, stem=stem, bn_backend=self.opts(cfg).bn_backend),
                self.neuron(cfg)]

    def make_output(self, in_features: int, out_features: int, cfg: RunConfig) -> list[nn.Module]:
        return [TimeDistributed(nn.Linear(in_features, out_features))]  # non-spiking: logits per step

    def scores(self, output: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        return output.float().mean(0)

    def loss(self, output: torch.Tensor, labels: torch.Tensor, cfg: RunConfig) -> torch.Tensor:
        o = self.opts(cfg)
        if o.loss == "sdt":
            return sdt_loss(output.float(), labels)
        return tet_loss(output.float(), labels, o.lam, o.phi)


__all__ = ["LOSSES", "TET", "TETOptions", "sdt_loss", "tet_loss"]
