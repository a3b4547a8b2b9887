"""Optimisers and the learning-rate schedule, shared by every method and the engine.

- :func:`make_optimizer` builds the run's optimiser over a method's parameter groups (each group may
  scale the learning rate, e.g. STBP CIFARNet's fc layers at 0.1×); the record lists the groups.
- :class:`SlayerNadam` is slayerPytorch's own ``Nadam`` (``src/optimizer.py``): Adam whose update
  uses the Nesterov look-ahead β1·m + (1 − β1)·g with a constant β1, unlike ``torch.optim.NAdam``,
  whose momentum schedule ramps μ_t from 0.45 towards 0.9 over ~50k steps.
- :func:`lr_at` is the schedule as a pure function of the epoch, so resuming needs no scheduler state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from snnbench.config import LR_SCHEDULES, OPTIMIZERS, ConfigError, RunConfig

__all__ = ["LR_SCHEDULES", "OPTIMIZERS", "SlayerNadam", "lr_at", "make_optimizer", "set_capturable", "set_lr"]


class SlayerNadam(torch.optim.Optimizer):
    """slayerPytorch's Nadam: m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g²,
    p ← p − lr·√(1 − β2ᵗ)/(1 − β1ᵗ) · (β1·m + (1 − β1)·g)/(√v + ε); L2 weight decay is added to g.

    The state is tensors only (``step`` a 0-d float tensor), so it checkpoints as plain data. With
    ``capturable`` the step count lives on the parameters' device and the bias correction is computed
    there in float64 (no host read, so a CUDA graph can hold the step); it equals the host form to rounding.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, capturable: bool = False) -> None:
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                                  "capturable": capturable})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                if group["weight_decay"]:
                    grad = grad.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                capturable = group.get("capturable", False)
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device if capturable else None)
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                if capturable and state["step"].device != p.device:  # a checkpoint loads its state on the CPU
                    state["step"] = state["step"].to(p.device)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                update = beta1 * exp_avg + (1 - beta1) * grad
                if capturable:
                    step = state["step"].double()  # 1 − β2ᵗ cancels badly in float32 at small t
                    step_size = group["lr"] * (1 - torch.pow(beta2, step)).sqrt() / (1 - torch.pow(beta1, step))
                    p.sub_(update.div_(denom).mul_(step_size.to(p.dtype)))
                else:
                    step = float(state["step"])
                    step_size = group["lr"] * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
                    p.addcdiv_(update, denom, value=-step_size)
        return loss


def make_optimizer(groups: list[dict[str, Any]], cfg: RunConfig, capturable: bool = False) -> torch.optim.Optimizer:
    """The optimiser ``cfg.optimizer`` over parameter ``groups`` (dicts with ``params``, ``name`` and
    ``lr_scale``; each group's learning rate is ``lr_scale × lr_at(epoch)``). ``capturable`` (CUDA only)
    keeps the step counts on the device, so the step can be replayed from a CUDA graph; SGD has no count."""
    groups = [{**g, "lr": cfg.lr * g.get("lr_scale", 1.0)} for g in groups if g["params"]]
    wd = cfg.weight_decay
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=wd, capturable=capturable)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=wd, capturable=capturable)
    if cfg.optimizer == "nadam":
        return torch.optim.NAdam(groups, lr=cfg.lr, weight_decay=wd, capturable=capturable)
    if cfg.optimizer == "slayer-nadam":
        return SlayerNadam(groups, lr=cfg.lr, weight_decay=wd, capturable=capturable)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=wd)
    raise ConfigError(f"unknown optimizer {cfg.optimizer!r}; valid optimizers: {', '.join(OPTIMIZERS)}")


def set_capturable(optimizer: torch.optim.Optimizer, capturable: bool) -> None:
    """Make a loaded optimiser state fit this run's device (a checkpoint saved on the CPU resumed on a GPU,
    or the reverse): every group's ``capturable`` flag, and the step counts where that flag keeps them."""
    for group in optimizer.param_groups:
        if "capturable" not in group:  # SGD: no step count
            continue
        group["capturable"] = capturable
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for key in ("step", "mu_product"):  # NAdam keeps its momentum product beside the count
                if isinstance(state.get(key), torch.Tensor):
                    state[key] = state[key].to(p.device if capturable else "cpu")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate to ``lr`` × its ``lr_scale``."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def lr_at(epoch: int, cfg: RunConfig) -> float:
    """Learning rate for ``epoch`` (0-based).

    ``cosine``: ½·lr·(1 + cos(π·epoch/epochs)) over the run's ``epochs``; ``step``: × ``lr_gamma`` after
    every ``lr_step_epochs`` epochs, counted as the STBP code counts (its ``lr_scheduler`` decays at the
    end of epoch index k·step, so the decayed rate applies from epoch index k·step + 1); ``inverse_sqrt``:
    lr/√(epoch + 1) (the ST-RSBP code).
    """
    if cfg.lr_schedule == "none":
        return cfg.lr
    if cfg.lr_schedule == "cosine":
        return 0.5 * cfg.lr * (1 + math.cos(math.pi * epoch / max(cfg.epochs, 1)))
    if cfg.lr_schedule == "step":
        step = max(cfg.lr_step_epochs, 1)
        return cfg.lr * cfg.lr_gamma ** (max(epoch - 1, 0) // step)
    if cfg.lr_schedule == "inverse_sqrt":  # ST-RSBP: LearningRate/√(epoch + 1), epoch from 0
        return cfg.lr / math.sqrt(epoch + 1)
    raise ConfigError(f"unknown lr_schedule {cfg.lr_schedule!r}; valid schedules: {', '.join(LR_SCHEDULES)}")
