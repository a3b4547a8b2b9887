"""Regression benchmarks (pytest-benchmark). Run through ``nox -s bench``, which compares them with the
committed baseline under ``benchmarks/baseline/`` and fails on a marked slowdown."""

from __future__ import annotations

import os

import torch

# like tests/conftest.py: without a GPU, Triton kernels run in Triton's interpreter on CPU tensors
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
