"""Bundled datasets, one module each; importing this package registers them all."""

from . import cifar10, cifar10_dvs, cifar10_jpeg, digits, fashion_mnist, mnist, nmnist, nmnist_1k  # noqa: F401
from .base import Dataset, EventDataset, StaticDataset  # noqa: F401
