"""CIFAR10-DVS (Li et al. 2017): 10000 DVS recordings (128x128) of moving CIFAR-10 images.

Source: the official figshare record 4724671, one zip per class of jAER AEDAT 2.0 files. The
address decoding is the one spikingjelly and TET use (x = 127 - row bits, y = 127 - column bits,
polarity inverted). There is no official split; snnbench fixes the one TET published: per class,
files sorted by their number, the first 900 train and the last 100 test (9000 / 1000).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from snnbench.events import EVENT_DTYPE
from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import EventDataset
from .cifar10 import CLASSES

_URL = "https://ndownloader.figshare.com/files/"
_ZIPS = {
    "airplane": ("7712788", "0afd5c4bf9ae06af762a77b180354fdd"),
    "automobile": ("7712791", "8438dfeba3bc970c94962d995b1b9bdd"),
    "bird": ("7712794", "a9c207c91c55b9dc2002dc21c684d785"),
    "cat": ("7712812", "52c63c677c2b15fa5146a8daf4d56687"),
    "deer": ("7712815", "b6bf21f6c04d21ba4e23fc3e36c8a4a3"),
    "dog": ("7712818", "f379ebdf6703d16e0a690782e62639c3"),
    "frog": ("7712842", "cad6ed91214b1c7388a5f6ee56d08803"),
    "horse": ("7712851", "e7cbbf77bec584ffbf913f00e682782a"),
    "ship": ("7712836", "41c7bd7d6b251be82557c6cce9a7d5c9"),
    "truck": ("7712839", "89f3922fd147d9aeff89e76a2b0b70a7"),
}
TRAIN_PER_CLASS = 900
_NUMBER = re.compile(r"(\d+)\.aedat$")


def read_aedat2(data: bytes) -> np.ndarray:
    """Decode a jAER AEDAT 2.0 recording (``#`` header lines, then big-endian (address, time) pairs)."""
    offset = 0
    while offset < len(data) and data[offset:offset + 1] == b"#":
        end = data.find(b"\n", offset)
        if end < 0:
            break
        offset = end + 1
    body = data[offset:]
    words = np.frombuffer(body[: len(body) // 8 * 8], dtype=">u4").astype(np.int64)
    address, timestamp = words[0::2], words[1::2]
    column = (address & 0x00FE) >> 1
    row = (address & 0x7F00) >> 8
    events = np.empty(len(address), dtype=EVENT_DTYPE)
    events["x"], events["y"] = 127 - row, 127 - column
    events["p"] = 1 - (address & 1)
    events["t"] = timestamp - (timestamp[0] if len(timestamp) else 0)
    return events


def split_members(names: list[str], split: str) -> list[str]:
    """The fixed split: per class, numbered files sorted, the first 900 train, the rest test."""
    numbered = sorted((int(m.group(1)), name) for name in names if (m := _NUMBER.search(name)))
    chosen = numbered[:TRAIN_PER_CLASS] if split == "train" else numbered[TRAIN_PER_CLASS:]
    return [name for _, name in chosen]


@register_dataset("cifar10-dvs")
class CIFAR10DVS(EventDataset):
    name = "cifar10-dvs"
    num_classes = 10
    input_shape = (2, 128, 128)
    sensor_size = (128, 128, 2)
    description = "CIFAR10-DVS, 9000 train / 1000 test (fixed per-class 900/100 split), 128x128"
    files = tuple(RemoteFile(f"{cls}.zip", md5, _URL + number, "CIFAR10-DVS") for cls, (number, md5) in _ZIPS.items())

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[list[np.ndarray], np.ndarray]:
        recordings, labels = [], []
        for label, cls in enumerate(CLASSES):
            with zipfile.ZipFile(paths[f"{cls}.zip"]) as archive:
                for name in split_members(archive.namelist(), split):
                    recordings.append(read_aedat2(archive.read(name)))
                    labels.append(label)
        return recordings, np.asarray(labels, dtype=np.int64)
