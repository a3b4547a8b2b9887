"""Bundled datasets, one module each; importing this package registers them all."""

from . import (  # noqa: F401
    cifar10,
    cifar10_dvs,
    cifar10_jpeg,
    cifar100,
    digits,
    dvs_gesture,
    fashion_mnist,
    mnist,
    nmnist,
    nmnist_1k,
    randman,
    shd,
    ssc,
    yin_yang,
)
from .base import Dataset, EventDataset, StaticDataset  # noqa: F401
