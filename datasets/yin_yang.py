"""The Yin-Yang dataset (Kriener, Göltz & Petrovici 2022, https://arxiv.org/abs/2102.08211), generated here
exactly as its reference code does (``lkriener/yin_yang_data_set``, ``dataset.py``): no download.

Each sample is a point (x, y) in the yin-yang disc of radius ``r_big`` = 0.5, given as four values
``(x, y, 1 − x, 1 − y)``, and one of three classes: yin (0), yang (1) and the dots (2). The reference draws
a goal class with ``RandomState(seed).randint(3)``, then rejection-samples ``rand(2) · 2 · r_big`` until
the point lies in the disc and has that class, so the classes are balanced. Its published splits are
5000 training samples with seed 42, 1000 validation (seed 41) and 1000 test (seed 40); this module draws
the same samples (the test asserts the first ones equal the reference's).

Encodings: ``latency`` (time-to-first-spike, one spike per value at step ⌊v·T⌋, as Göltz et al. 2021
code t = v·t_max) or ``rate`` (Bernoulli p = v per step); ``direct`` feeds the values as currents.
"""

from __future__ import annotations

import math

import numpy as np

from snnbench.registry import register_dataset

from .base import GeneratedDataset

R_SMALL, R_BIG = 0.1, 0.5
SPLIT_SEEDS = {"train": 42, "valid": 41, "test": 40}  # the reference README's seeds
SPLIT_SIZES = {"train": 5000, "valid": 1000, "test": 1000}
CLASS_NAMES = ("yin", "yang", "dot")


def which_class(x: float, y: float, r_small: float = R_SMALL, r_big: float = R_BIG) -> int:
    """The reference's ``which_class``: 2 inside either dot, else 1 for yin, 0 for yang."""
    d_right = math.sqrt((x - 1.5 * r_big) ** 2 + (y - r_big) ** 2)
    d_left = math.sqrt((x - 0.5 * r_big) ** 2 + (y - r_big) ** 2)
    criterion1 = d_right <= r_small
    criterion2 = r_small < d_left <= 0.5 * r_big
    criterion3 = y > r_big and d_right > 0.5 * r_big
    if d_right < r_small or d_left < r_small:
        return 2
    return int(criterion1 or criterion2 or criterion3)


def yin_yang(size: int, seed: int, r_small: float = R_SMALL, r_big: float = R_BIG) -> tuple[np.ndarray, np.ndarray]:
    """``size`` samples drawn as ``YinYangDataset(r_small, r_big, size, seed)`` draws them: values ``[size, 4]``
    (x, y, 1 − x, 1 − y) as float64 and labels ``[size]``."""
    rng = np.random.RandomState(seed)
    values = np.empty((size, 4), dtype=np.float64)
    labels = np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * r_big
            if math.sqrt((x - r_big) ** 2 + (y - r_big) ** 2) > r_big:
                continue
            c = which_class(x, y, r_small, r_big)
            if c == goal:
                break
        values[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = c
    return values, labels


@register_dataset("yin-yang")
class YinYang(GeneratedDataset):
    name = "yin-yang"
    num_classes = 3
    input_shape = (4, 1, 1)
    splits = ("train", "valid", "test")
    description = ("Yin-Yang (Kriener et al. 2022): 4 coordinates, 3 classes, 5000 train / 1000 valid / 1000 test, "
                   "generated as the reference code does (seeds 42/41/40), no download")
    mean = (0.5, 0.5, 0.5, 0.5)
    std = (0.25, 0.25, 0.25, 0.25)

    def generate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        return yin_yang(SPLIT_SIZES[split], SPLIT_SEEDS[split])

    def source_key(self) -> str:
        return f"yin-yang-v1-r{R_SMALL}-{R_BIG}-seeds42.41.40"
