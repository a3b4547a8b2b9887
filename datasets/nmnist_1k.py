"""N-MNIST 1k: a real 1000 / 100 subset of N-MNIST (MNIST train indices 1-1000, test 1-100).

Real recordings, but not the full set: numbers on it are not comparable with published N-MNIST
results, and every record names this variant. No official URL: it exists in local mirrors only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .nmnist import NMNISTBase, read_nmnist_zip


@register_dataset("nmnist-1k")
class NMNIST1k(NMNISTBase):
    name = "nmnist-1k"
    variant = "1k subset (1000 train / 100 test)"
    exact = False
    family = "nmnist"
    description = "real 1000/100 subset of N-MNIST (mirror only); not comparable with full N-MNIST"
    files = (RemoteFile("nmnist-1k.zip", "8e41c3b90d7c4596c9522a99373842f2", "", "NMNIST-1k"),)

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[list[np.ndarray], np.ndarray]:
        return read_nmnist_zip(paths["nmnist-1k.zip"], split)
