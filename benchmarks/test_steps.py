"""One training step (forward, loss, backward, optimiser: the engine's ``train_step``) of every method
on the same small CNN, with each method's MNIST recipe otherwise; the spike-count rules (ST-RSBP, HM2-BP),
which have no convolutional path, on a small fully connected network with spike inputs."""

from __future__ import annotations

import pytest
import torch

from snnbench.bench import BenchCase, method_step
from snnbench.registry import list_methods

CASE = BenchCase("small-cnn", "mnist", "8C5-P2-16C5-P2-64", 16, 8, (1, 28, 28))
FC_CASE = BenchCase("small-fc", "mnist", "64", 16, 40, (1, 28, 28), spike_input=True)
FC_ONLY = ("st-rsbp", "hm2-bp")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("method", [m for m in list_methods() if m not in FC_ONLY])
def test_training_step(benchmark, method):
    _measure(benchmark, method, CASE)


@pytest.mark.parametrize("method", FC_ONLY)
def test_training_step_fc(benchmark, method):
    _measure(benchmark, method, FC_CASE)


def _measure(benchmark, method: str, case: BenchCase) -> None:
    torch.manual_seed(0)
    step = method_step(method, case, case.steps, DEVICE, {"effect_trials": 4} if method in FC_ONLY else None)

    def run():
        step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()

    benchmark.pedantic(run, rounds=6, warmup_rounds=1)
