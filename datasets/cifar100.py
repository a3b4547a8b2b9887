"""CIFAR-100 (Krizhevsky 2009), exact: the official python archive, md5-checked.

Format: ``cifar-100-python.tar.gz`` holds ``cifar-100-python/train`` (50000 images) and ``test``
(10000), each a pickled dict with ``data`` (uint8 ``[N, 3072]``, channel-major 32x32 RGB),
``fine_labels`` (100 classes) and ``coarse_labels`` (20 superclasses), and ``meta`` (the class names).
``cifar100`` uses the fine labels (TET's and every SNN paper's); ``cifar100-coarse`` the 20 superclasses
(a variant that shares cifar100's recipes). The md5 is torchvision's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import StaticDataset
from .cifar10 import read_python_archive

CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
ARCHIVE = RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                     "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "CIFAR100")


@register_dataset("cifar100")
class CIFAR100(StaticDataset):
    name = "cifar100"
    num_classes = 100
    input_shape = (3, 32, 32)
    mean, std = CIFAR100_MEAN, CIFAR100_STD
    description = "CIFAR-100, exact (official archive), fine labels (100 classes), 50000 train / 10000 test"
    files = (ARCHIVE,)
    label_key = b"fine_labels"

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        return read_python_archive(paths[self.files[0].name], [split], self.label_key)


@register_dataset("cifar100-coarse")
class CIFAR100Coarse(CIFAR100):
    name = "cifar100-coarse"
    variant = "coarse labels (20 superclasses)"
    family = "cifar100"
    num_classes = 20
    description = "CIFAR-100 with its 20 coarse superclass labels (a variant; cifar100's recipes)"
    label_key = b"coarse_labels"
