"""N-MNIST (Orchard et al. 2015): saccade recordings of MNIST digits on a 34x34 ATIS sensor.

The full set (60000 / 10000) from the official archives, read with tonic's ``.bin`` decoder.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import EventDataset

_URL = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
_MEMBER = re.compile(r"(?:^|/)(Train|Test)/(\d)/[^/]+\.bin$")


def read_nmnist_zip(path: Path, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    """Read every ``Train|Test/<digit>/<id>.bin`` of one split from a zip, sorted by path."""
    from tonic.io import read_mnist_file

    folder = "Train" if split == "train" else "Test"
    recordings, labels = [], []
    with zipfile.ZipFile(path) as archive:
        members = sorted(
            (name, int(m.group(2))) for name in archive.namelist()
            if (m := _MEMBER.search(name)) and m.group(1) == folder)
        for name, label in members:
            recordings.append(read_mnist_file(io.BytesIO(archive.read(name)), dtype=_DTYPE, is_stream=True))
            labels.append(label)
    if not recordings:
        raise ValueError(f"{path}: no {folder}/<digit>/*.bin recordings found")
    return recordings, np.asarray(labels, dtype=np.int64)


class NMNISTBase(EventDataset):
    input_shape = (2, 34, 34)
    sensor_size = (34, 34, 2)
    num_classes = 10


@register_dataset("nmnist")
class NMNIST(NMNISTBase):
    name = "nmnist"
    description = "N-MNIST, full set: 60000 train / 10000 test event recordings (34x34, ~300 ms)"
    files = (
        RemoteFile("train.zip", "20959b8e626244a1b502305a9e6e2031",
                   _URL + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded", "NMNIST"),
        RemoteFile("test.zip", "69ca8762b2fe404d9b9bad1103e97832",
                   _URL + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded", "NMNIST"),
    )

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[list[np.ndarray], np.ndarray]:
        return read_nmnist_zip(paths["train.zip" if split == "train" else "test.zip"], split)
