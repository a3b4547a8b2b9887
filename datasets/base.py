"""Base classes shared by every dataset module, and the on-disk caches of decoded data.

A dataset knows its files (with md5s and official URLs), how to decode them, its classes and its
input shape. It never knows which network reads it. Decoded static images are cached as uint8
tensors keyed by the source md5s; event recordings are binned into frames and cached keyed by the
binning parameters, stored bit-packed (binary frames), as uint8 (counts) or float16 (normalised).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snnbench.events import Binning, bin_events
from snnbench.files import DataContext, RemoteFile, atomic_write_bytes, resolve

SPLITS = ("train", "test")


@dataclass
class StaticSplit:
    """Images as uint8 ``[N, C, H, W]`` and int64 labels ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


class FrameStore:
    """Binned event frames ``[N, T, C, H, W]`` kept compact on disk (memory-mapped)."""

    def __init__(self, path: Path, meta: dict) -> None:
        self.meta = meta
        self.shape = tuple(meta["shape"])  # (T, C, H, W)
        self.storage = meta["storage"]
        self.data = np.load(path, mmap_mode="r")

    def __len__(self) -> int:
        return self.data.shape[0]

    def get(self, index: np.ndarray) -> torch.Tensor:
        """Decode the samples at ``index`` into float32 ``[B, T, C, H, W]``."""
        rows = self.data[index]
        if self.storage == "bits":
            count = int(np.prod(self.shape))
            rows = np.unpackbits(rows, axis=1, count=count)
        return torch.from_numpy(np.asarray(rows, dtype=np.float32)).reshape(len(index), *self.shape)


@dataclass
class EventSplit:
    """Binned event frames and int64 labels."""

    frames: FrameStore
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


class Dataset:
    """A registered dataset. Subclasses set the class attributes and implement ``read``."""

    name: str = ""
    variant: str = ""  # "" for the exact original; otherwise what differs (jpeg, 1k subset, ...)
    family: str = ""  # the dataset whose recipes a variant shares ("" = its own name)
    kind: str = "static"  # "static" or "events"
    num_classes: int = 10
    input_shape: tuple[int, int, int] = (1, 28, 28)
    files: tuple[RemoteFile, ...] = ()
    exact: bool = True
    description: str = ""
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    sensor_size: tuple[int, int, int] = (0, 0, 0)  # events: (W, H, P)

    def info(self) -> dict:
        """What a run record keeps about the data source."""
        return {"name": self.name, "variant": self.variant or "original", "family": self.recipe_family,
                "kind": self.kind,
                "exact": self.exact, "num_classes": self.num_classes, "input_shape": list(self.input_shape),
                "files": {f.name: f.md5 for f in self.files}}

    @property
    def recipe_family(self) -> str:
        return self.family or self.name

    def paths(self, ctx: DataContext) -> dict[str, Path]:
        """Resolve and verify every file of the dataset."""
        return {f.name: resolve(f, ctx, self.name) for f in self.files}

    def source_key(self) -> str:
        return hashlib.sha256(json.dumps(sorted((f.name, f.md5) for f in self.files)).encode()).hexdigest()[:16]

    def input_shape_for(self, binning: Binning | None) -> tuple[int, int, int]:
        if self.kind == "events" and binning is not None and binning.size:
            return (self.input_shape[0], binning.size, binning.size)
        return self.input_shape


class StaticDataset(Dataset):
    """Images decoded once into uint8 tensors and cached on disk."""

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``split`` into uint8 images ``[N, C, H, W]`` and integer labels ``[N]``."""
        raise NotImplementedError

    def load(self, split: str, ctx: DataContext) -> StaticSplit:
        _check_split(split)
        cache = ctx.cache_dir / "decoded" / f"{self.name}-{split}-{self.source_key()}.pt"
        if cache.is_file():
            blob = torch.load(cache, weights_only=True)
            return StaticSplit(blob["images"], blob["labels"])
        images, labels = self.read(split, self.paths(ctx))
        blob = {"images": torch.from_numpy(np.array(images, dtype=np.uint8, order="C")),
                "labels": torch.from_numpy(np.array(labels, dtype=np.int64))}
        buffer = io.BytesIO()
        torch.save(blob, buffer)
        atomic_write_bytes(cache, buffer.getvalue())
        return StaticSplit(blob["images"], blob["labels"])


class EventDataset(Dataset):
    """Event recordings, binned into frames once per binning setting and cached on disk."""

    kind = "events"

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[list[np.ndarray], np.ndarray]:
        """Return the recordings of ``split`` (structured arrays with x, y, t, p) and their labels."""
        raise NotImplementedError

    def load(self, split: str, ctx: DataContext, steps: int, binning: Binning) -> EventSplit:
        _check_split(split)
        params = {"source": self.source_key(), "split": split, "steps": steps, **binning.as_dict()}
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
        base = ctx.cache_dir / "frames" / f"{self.name}-{split}-T{steps}-{key}"
        data_path, meta_path = base.with_suffix(".npy"), base.with_suffix(".json")
        if not (data_path.is_file() and meta_path.is_file()):
            self._build_frames(split, ctx, steps, binning, data_path, meta_path, params)
        meta = json.loads(meta_path.read_text())
        return EventSplit(FrameStore(data_path, meta), torch.tensor(meta["labels"], dtype=torch.int64))

    def _build_frames(self, split: str, ctx: DataContext, steps: int, binning: Binning,
                      data_path: Path, meta_path: Path, params: dict) -> None:
        recordings, labels = self.read_events(split, self.paths(ctx))
        channels, height, width = self.input_shape_for(binning)
        shape = (steps, channels, height, width)
        storage = {"binary": "bits", "count": "uint8", "max_norm": "float16"}[binning.values]
        if binning.size:
            storage = "float16"  # a bilinear resize makes values fractional
        row = int(np.prod(shape))
        width_bytes = (row + 7) // 8 if storage == "bits" else row
        dtype = np.float16 if storage == "float16" else np.uint8
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(recordings), width_bytes))
        try:
            for i, events in enumerate(recordings):
                frames = bin_events(events, self.sensor_size, steps, binning)
                if binning.size:
                    frames = _resize(frames, binning.size)
                flat = frames.reshape(-1)
                if storage == "bits":
                    out[i] = np.packbits(flat > 0)
                elif storage == "uint8":
                    out[i] = np.clip(flat, 0, 255).astype(np.uint8)
                else:
                    out[i] = flat.astype(np.float16)
            out.flush()
            del out
            os.replace(tmp, data_path)
        finally:
            tmp.unlink(missing_ok=True)
        meta = {"shape": list(shape), "storage": storage, "params": params,
                "labels": [int(v) for v in labels]}
        atomic_write_bytes(meta_path, json.dumps(meta).encode())


def _resize(frames: np.ndarray, size: int) -> np.ndarray:
    tensor = torch.from_numpy(frames)
    resized = torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
    return resized.numpy()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
