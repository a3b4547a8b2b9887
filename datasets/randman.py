"""Randman (Zenke & Vogels 2021, https://doi.org/10.1162/neco_a_01367): spike-timing classification on
smooth random manifolds, generated here exactly as its reference code does (``fzenke/randman``:
``TorchRandman`` and the ``make_spiking_dataset`` of its "Spiking dataset generation example"): no download.

Each class is a random smooth manifold of dimension ``D`` embedded in the space of ``units`` spike times:
every unit fires exactly once per sample, so counts carry no information and all of it lies in timing.
The generator seeds ``RandomState(seed)``, draws one manifold seed per class
(``randint(iinfo(int64).max)``), samples ``x ~ U[0, 1)^D`` per class, evaluates the class's manifold
(``TorchRandman(units, D, alpha=2, seed=...)``: 32 random Fourier terms per dimension, float32) and
standardises each unit's values over the class's samples to [0, 1); the samples are then shuffled.
Times are the values times ``nb_steps`` (100), and the ``latency`` encoding puts each spike at step
⌊v·T⌋: at T = 100, exactly the reference's time bins.

Variants ``randman-{C}c-{D}d``: C classes, manifold dimension D (the difficulty: 1 is the easiest), 100
units, 1000 samples per class, seed 42; the first 80 % of the shuffled samples train, the rest test.
"""

from __future__ import annotations

import numpy as np
import torch

from snnbench.registry import register_dataset

from .base import GeneratedDataset

UNITS = 100
SAMPLES_PER_CLASS = 1000
ALPHA = 2.0
SEED = 42
TRAIN_FRACTION = 0.8


class TorchRandman:
    """The reference's ``TorchRandman`` with its own generator (the reference seeds torch's global one;
    a run's model initialisation must not depend on the data)."""

    def __init__(self, embedding_dim: int, manifold_dim: int, alpha: float = 2.0, seed: int = 0,
                 prec: float = 1e-3, max_f_cutoff: int = 1000) -> None:
        self.dim_embedding, self.dim_manifold = embedding_dim, manifold_dim
        self.f_cutoff = int(np.min((np.ceil(np.power(prec, -1 / alpha)), max_f_cutoff)))
        generator = torch.Generator().manual_seed(int(seed))
        self.params = torch.rand(embedding_dim, manifold_dim, 3, self.f_cutoff, generator=generator)
        self.params[:, :, 0, 0] = 0  # use_bias=False
        r = torch.arange(self.f_cutoff, dtype=torch.float32) + 1
        self.spect = 1.0 / (torch.abs(r - 0) ** alpha + 1.0)

    def eval_random_function_1d(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        tmp = torch.zeros(len(x))
        s = self.spect
        for i in range(self.f_cutoff):
            tmp += theta[0, i] * s[i] * torch.sin(2 * np.pi * (i * x * theta[1, i] + theta[2, i]))
        return tmp

    def eval_manifold(self, x: np.ndarray) -> torch.Tensor:
        points = torch.tensor(x, dtype=torch.float32)
        out = torch.zeros((points.shape[0], self.dim_embedding))
        for i in range(self.dim_embedding):
            tmp = torch.ones(len(points))
            for d in range(self.dim_manifold):
                tmp *= self.eval_random_function_1d(points[:, d], self.params[i, d])
            out[:, i] = tmp
        return out


def _standardize(x: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    low, _ = x.min(0)
    high, _ = x.max(0)
    return (x - low) / (high - low + eps)


def make_spiking_dataset(nb_classes: int = 10, nb_units: int = 100, dim_manifold: int = 2,
                         nb_samples: int = 1000, alpha: float = 2.0, seed: int = 42
                         ) -> tuple[np.ndarray, np.ndarray]:
    """The reference's ``make_spiking_dataset`` (one spike per unit, ``step_frac`` 1, shuffled,
    classification): spike times ``[nb_classes·nb_samples, nb_units]`` as fractions of the duration in
    [0, 1) (the reference multiplies them by ``nb_steps``) and labels. Units stay in their order."""
    rng = np.random.RandomState(seed)
    randman_seeds = rng.randint(np.iinfo(np.int64).max, size=(nb_classes, 1))
    times, labels = [], []
    for k in range(nb_classes):
        x = rng.rand(nb_samples, dim_manifold)
        manifold = TorchRandman(nb_units, dim_manifold, alpha=alpha, seed=randman_seeds[k, 0])
        times.append(_standardize(manifold.eval_manifold(x)).numpy().astype(np.float64))
        labels.append(np.full(nb_samples, k, dtype=np.int64))
    data, target = np.concatenate(times, axis=0), np.concatenate(labels, axis=0)
    order = np.arange(len(data))
    rng.shuffle(order)
    return data[order], target[order]


class Randman(GeneratedDataset):
    classes: int = 10
    dimension: int = 1
    family = "randman"
    input_shape = (UNITS, 1, 1)
    mean = (0.5,) * UNITS
    std = (0.29,) * UNITS

    def generate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        data, labels = make_spiking_dataset(self.classes, UNITS, self.dimension, SAMPLES_PER_CLASS, ALPHA, SEED)
        cut = int(TRAIN_FRACTION * len(data))
        return (data[:cut], labels[:cut]) if split == "train" else (data[cut:], labels[cut:])

    def source_key(self) -> str:
        return f"randman-v1-{self.classes}c-{self.dimension}d-u{UNITS}-n{SAMPLES_PER_CLASS}-a{ALPHA}-s{SEED}"


def _variant(classes: int, dimension: int) -> type[Randman]:
    name = f"randman-{classes}c-{dimension}d"
    cls = type(f"Randman{classes}c{dimension}d", (Randman,), {
        "name": name, "classes": classes, "dimension": dimension, "num_classes": classes,
        "variant": f"{classes} classes, {dimension}-D manifolds",
        "description": (f"Randman (Zenke & Vogels 2021): {classes} classes of {dimension}-D smooth random manifolds "
                        f"in {UNITS} units' spike times (one spike each), {SAMPLES_PER_CLASS} samples per class, "
                        "80/20 train/test, generated as the reference code does, no download")})
    return register_dataset(name)(cls)


RANDMAN_1D = _variant(10, 1)
RANDMAN_2D = _variant(10, 2)
RANDMAN_3D = _variant(10, 3)
