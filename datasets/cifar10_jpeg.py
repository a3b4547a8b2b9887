"""CIFAR-10 as quality-75 JPEGs (the local mirror's copy). NOT exact: lossy (mean abs. error
about 5.9/255), so every result on it is labelled as this variant, never as CIFAR-10."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np

from snnbench.files import RemoteFile
from snnbench.registry import register_dataset

from .base import StaticDataset
from .cifar10 import CIFAR_MEAN, CIFAR_STD, CLASSES

_MEMBER = re.compile(r"(?:^|/)(train|test)/([a-z]+)/[^/]+\.jpe?g$")


@register_dataset("cifar10-jpeg")
class CIFAR10Jpeg(StaticDataset):
    name = "cifar10-jpeg"
    variant = "jpeg (quality 75, lossy)"
    exact = False
    family = "cifar10"
    num_classes = 10
    input_shape = (3, 32, 32)
    mean, std = CIFAR_MEAN, CIFAR_STD
    description = "CIFAR-10 as lossy JPEGs (mirror only); results are labelled cifar10-jpeg, never cifar10"
    files = (RemoteFile("cifar10-jpeg.tar.gz", "c2f43a2ba4016c8e8429a97397d8a369", "", "CIFAR10-jpeg"),)

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        from PIL import Image

        entries = []
        with tarfile.open(paths["cifar10-jpeg.tar.gz"], "r:gz") as archive:
            for member in archive:
                m = _MEMBER.search(member.name)
                if not (member.isfile() and m and m.group(1) == split):
                    continue
                handle = archive.extractfile(member)
                if handle is None:  # isfile() was checked above; keeps the type checker sure
                    continue
                data = handle.read()
                with Image.open(io.BytesIO(data)) as image:
                    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
                entries.append((m.group(2), member.name, pixels))
        if not entries:
            raise ValueError(f"{paths['cifar10-jpeg.tar.gz']}: no {split}/<class>/*.jpg images")
        entries.sort(key=lambda e: (CLASSES.index(e[0]), e[1]))
        images = np.stack([e[2] for e in entries])
        labels = np.asarray([CLASSES.index(e[0]) for e in entries], dtype=np.int64)
        return images, labels
