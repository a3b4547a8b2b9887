"""N-MNIST (Orchard et al. 2015): saccade recordings of MNIST digits on a 34x34 ATIS sensor.

The full set (60000 / 10000) from the official archives, read with tonic's ``.bin`` decoder.
``event_stabilize`` removes the three saccades' motion first, as the TSSL-BP and ST-RSBP
preprocessing does with Orchard's ``stabilize.m`` (:func:`stabilize_saccades`).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np

from snnbench.events import EVENT_DTYPE
from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import EventDataset

_URL = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
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
            recordings.append(read_mnist_file(io.BytesIO(archive.read(name)), dtype=EVENT_DTYPE, is_stream=True))
            labels.append(label)
    if not recordings:
        raise ValueError(f"{path}: no {folder}/<digit>/*.bin recordings found")
    return recordings, np.asarray(labels, dtype=np.int64)


SACCADE_US = 105_000  # each of the three saccades lasts 105 ms


def stabilize_saccades(events: np.ndarray) -> np.ndarray:
    """Orchard's ``stabilize.m`` (TSSL-BP ``preprocessing/NMNIST``): undo the sensor's motion.

    Saccade 1 (t ≤ 105 ms) moves the image by (3.5, 7)·t/105 ms, saccade 2 back in y while x goes
    on to 7, saccade 3 returns x to 0. Each event's shifted coordinates are rounded (MATLAB's round,
    half away from zero, on 1-based pixels) and events that leave the sensor at the low edge are
    dropped; shifts only decrease coordinates. Works on 0-based x, y and t in µs.
    """
    t = events["t"].astype(np.float64)
    first, second = t <= SACCADE_US, (t > SACCADE_US) & (t <= 2 * SACCADE_US)
    phase = t / SACCADE_US
    dx = np.where(first, 3.5 * phase, np.where(second, 3.5 + 3.5 * (phase - 1), 7 - 7 * (phase - 2)))
    dy = np.where(first, 7 * phase, np.where(second, 7 - 7 * (phase - 1), 0.0))
    # 1-based MATLAB: round(x + 1 - d), dropped if < 1; for x + 1 - d >= 0.5 that is floor(x - d + 0.5) + 1
    x = np.floor(events["x"] - dx + 0.5)
    y = np.floor(events["y"] - dy + 0.5)
    keep = (x >= 0) & (y >= 0)
    out = events[keep].copy()
    out["x"], out["y"] = x[keep].astype(out["x"].dtype), y[keep].astype(out["y"].dtype)
    return out


class NMNISTBase(EventDataset):
    input_shape = (2, 34, 34)
    sensor_size = (34, 34, 2)
    num_classes = 10
    recorded_with_saccades = True

    def stabilize(self, events: np.ndarray) -> np.ndarray:
        return stabilize_saccades(events)


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
