"""One training step (forward, loss, backward, optimiser: the engine's ``train_step``) of every method
on the same small CNN, with each method's MNIST recipe otherwise."""

from __future__ import annotations

import pytest
import torch

from snnbench.bench import BenchCase, method_step
from snnbench.registry import list_methods

CASE = BenchCase("small-cnn", "mnist", "8C5-P2-16C5-P2-64", 16, 8, (1, 28, 28))
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("method", list_methods())
def test_training_step(benchmark, method):
    torch.manual_seed(0)
    step = method_step(method, CASE, CASE.steps, DEVICE)

    def run():
        step()
        if DEVICE.type == "cuda":
            torch.cuda.synchronize()

    benchmark.pedantic(run, rounds=6, warmup_rounds=1)
