"""MNIST (LeCun et al.): the four original IDX files, byte-identical to torchvision's."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import StaticDataset

_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"


def read_idx(path: Path) -> np.ndarray:
    """Read a gzipped IDX file (images ``[N, H, W]`` or labels ``[N]``) into a uint8 array."""
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()})")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class IdxDataset(StaticDataset):
    """A 28x28 grey-scale dataset stored as the four MNIST-style IDX files."""

    input_shape = (1, 28, 28)

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        prefix = "train" if split == "train" else "t10k"
        images = read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"])[:, None]
        labels = read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"])
        if len(images) != len(labels):
            raise ValueError(f"{self.name} {split}: {len(images)} images but {len(labels)} labels")
        return images, labels


def idx_files(url: str, subdir: str, files: dict[str, tuple[str, int]]) -> tuple[RemoteFile, ...]:
    """The four IDX files from ``{name: (md5, size in bytes)}``."""
    return tuple(RemoteFile(name, md5, url + name, subdir, size) for name, (md5, size) in files.items())


@register_dataset("mnist")
class MNIST(IdxDataset):
    name = "mnist"
    description = "MNIST handwritten digits, 60000 train / 10000 test"
    mean = (0.1307,)
    std = (0.3081,)
    files = idx_files(_URL, "MNIST", {
        "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
    })
