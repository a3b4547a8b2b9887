"""CIFAR-10 (Krizhevsky 2009), exact: the official python archive, md5-checked."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import StaticDataset

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


@register_dataset("cifar10")
class CIFAR10(StaticDataset):
    name = "cifar10"
    num_classes = 10
    input_shape = (3, 32, 32)
    mean, std = CIFAR_MEAN, CIFAR_STD
    description = "CIFAR-10, exact (official archive), 50000 train / 10000 test"
    files = (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "CIFAR10"),)

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        wanted = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        images, labels = [], []
        with tarfile.open(paths["cifar-10-python.tar.gz"], "r:gz") as archive:
            members = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
            for name in wanted:
                if name not in members:
                    raise ValueError(f"{paths['cifar-10-python.tar.gz']}: member {name} missing")
                handle = archive.extractfile(members[name])
                if handle is None:
                    raise ValueError(f"{paths['cifar-10-python.tar.gz']}: member {name} is not a file")
                batch = pickle.loads(handle.read(), encoding="bytes")
                images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                labels.extend(batch[b"labels"])
        return np.concatenate(images), np.asarray(labels, dtype=np.int64)
