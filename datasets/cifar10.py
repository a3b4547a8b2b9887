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
        return read_python_archive(paths["cifar-10-python.tar.gz"], wanted, b"labels")


def read_python_archive(path: Path, members: list[str], label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` and labels from the pickled batches ``members`` of a CIFAR python archive
    (CIFAR-10's ``data_batch_*``/``test_batch`` with ``labels``; CIFAR-100's ``train``/``test`` with
    ``fine_labels`` and ``coarse_labels``)."""
    images, labels = [], []
    with tarfile.open(path, "r:gz") as archive:
        found = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        for name in members:
            if name not in found:
                raise ValueError(f"{path}: member {name} missing")
            handle = archive.extractfile(found[name])
            if handle is None:
                raise ValueError(f"{path}: member {name} is not a file")
            batch = pickle.loads(handle.read(), encoding="bytes")
            if b"data" not in batch or label_key not in batch:
                raise ValueError(f"{path}: member {name} has no {label_key.decode()!r} labels")
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(batch[label_key])
    return np.concatenate(images), np.asarray(labels, dtype=np.int64)
