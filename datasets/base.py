"""Base classes shared by every dataset module, and the on-disk caches of decoded data.

A dataset knows its files (with md5s and official URLs), how to decode them, its classes and its
input shape. It never knows which network reads it. Decoded static images are cached as uint8
tensors keyed by the source md5s; event recordings are binned into frames and cached keyed by the
binning parameters, stored bit-packed (binary frames), as uint8 (counts, or 8-bit frames resized as
TET does) or float16 (normalised).

Every cache carries a header: its format version, the md5s of the verified sources it was made
from, the parameters that made it, and a SHA-256 checksum of its payload. A cache whose header does
not match what is asked for, or whose payload does not match its checksum (truncated, tampered with,
written by an older snnbench), is rebuilt from the verified sources with a warning naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from snnbench.config import ConfigError, config_digest
from snnbench.events import Binning, bin_events, resize_frames
from snnbench.files import DataContext, RemoteFile, atomic_write_bytes, progress_reporter, resolve

SPLITS = ("train", "test")  # every dataset's; one with an official validation split adds "valid"
CACHE_FORMAT = 2  # 1: no header (before 2026-11-23); 2: header with sources, params and checksum
log = logging.getLogger("snnbench.data")


class CacheError(ValueError):
    """A cache file that cannot be trusted (the message says why); it is rebuilt."""


def _rebuild_warning(path: Path, reason: str) -> None:
    log.warning("data cache %s is not usable (%s); rebuilding it from the verified sources", path, reason)


def _check_header(found: object, header: dict) -> None:
    """Raise :class:`CacheError` unless ``found`` is a dict of the current format carrying ``header``."""
    if not isinstance(found, dict) or found.get("format") != CACHE_FORMAT:
        version = found.get("format", "none") if isinstance(found, dict) else type(found).__name__
        raise CacheError(f"cache format {version}, expected {CACHE_FORMAT}")
    for key, expected in header.items():
        if found.get(key) != expected:
            raise CacheError(f"header {key} is {found.get(key)!r}, expected {expected!r}")


def _payload_digest(*parts: bytes | memoryview) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


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

    def get(self, index: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
        """Decode the samples at ``index`` into float32 ``[B, T, C, H, W]`` on ``device``."""
        return self.decode(self.read(index), device)

    def read(self, index: np.ndarray, pin: bool = False) -> torch.Tensor:
        """The stored rows at ``index`` as they are kept (uint8, bit-packed for binary frames, or float32):
        what crosses to the device, 8 to 32 times smaller than the decoded frames. ``pin`` puts them in
        page-locked memory, so the copy to a GPU overlaps with compute."""
        rows = torch.from_numpy(np.ascontiguousarray(self.data[index]))
        return rows.pin_memory() if pin else rows

    def decode(self, rows: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
        """Rows from :meth:`read` into float32 frames ``[B, T, C, H, W]``, decoded on ``device`` (bits
        unpacked by :func:`unpack_bits` on a GPU, by ``np.unpackbits`` on the CPU, where it is faster;
        8-bit frames divided by 255)."""
        count = int(np.prod(self.shape))
        if self.storage == "bits" and torch.device(device).type == "cpu":
            rows = torch.from_numpy(np.unpackbits(rows.numpy(), axis=1, count=count))
        elif self.storage == "bits":
            rows = unpack_bits(rows.to(device, non_blocking=True), count)
        else:
            rows = rows.to(device, non_blocking=True)
        out = rows.float().reshape(rows.shape[0], *self.shape)
        return out / 255.0 if self.storage == "unorm8" else out


def unpack_bits(rows: torch.Tensor, count: int) -> torch.Tensor:
    """``np.unpackbits(rows, axis=1, count=count)`` on any device: uint8 rows ``[B, bytes]`` into ``[B, count]``
    zeros and ones, each byte's most significant bit first."""
    shifts = torch.arange(7, -1, -1, device=rows.device, dtype=torch.uint8)
    return ((rows.unsqueeze(-1) >> shifts) & 1).flatten(1)[:, :count]


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
    tune_val_fraction: float | None = None  # the validation fraction `tune` uses where the recipe's split is
    # too small to rank trials (it saturates); None: the recipe's
    sensor_size: tuple[int, int, int] = (0, 0, 0)  # events: (W, H, P); 1-D channels (SHD): (channels, 1, 1)
    splits: tuple[str, ...] = SPLITS  # "valid" too where the dataset publishes a validation split (SSC)
    recorded_with_saccades: bool = False  # events: the sensor moved (N-MNIST); see ``stabilize``

    def info(self) -> dict:
        """What a run record keeps about the data source."""
        return {"name": self.name, "variant": self.variant or "original", "family": self.recipe_family,
                "kind": self.kind,
                "exact": self.exact, "num_classes": self.num_classes, "input_shape": list(self.input_shape),
                "files": self.sources()}

    @property
    def recipe_family(self) -> str:
        return self.family or self.name

    def paths(self, ctx: DataContext) -> dict[str, Path]:
        """Resolve and verify every file of the dataset."""
        return {f.name: resolve(f, ctx, self.name) for f in self.files}

    def sources(self) -> dict[str, str]:
        """The md5 of every source file (what a cache header must name)."""
        return {f.name: f.md5 for f in self.files}

    def source_key(self) -> str:
        """The digest of :meth:`sources` that names this dataset's cache files."""
        return config_digest(self.sources())

    def input_shape_for(self, binning: Binning | None) -> tuple[int, ...]:
        """The shape of one frame: ``(C, H, W)``, or ``(channels,)`` for 1-D event data (SHD, SSC)."""
        if self.kind == "events" and binning is not None and binning.size:
            if len(self.input_shape) != 3:
                raise ConfigError(f"event_size={binning.size} resizes 2-D frames; {self.name} has 1-D input "
                                  f"{self.input_shape} (use event_size=0)")
            return (self.input_shape[0], binning.size, binning.size)
        return self.input_shape


class StaticDataset(Dataset):
    """Images decoded once into uint8 tensors and cached on disk."""

    def read(self, split: str, paths: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
        """Decode ``split`` into uint8 images ``[N, C, H, W]`` and integer labels ``[N]``."""
        raise NotImplementedError

    def load(self, split: str, ctx: DataContext) -> StaticSplit:
        _check_split(split, self.splits)
        cache = ctx.cache_dir / "decoded" / f"{self.name}-{split}-{self.source_key()}.pt"
        header = {"format": CACHE_FORMAT, "dataset": self.name, "split": split, "sources": self.sources()}
        if cache.is_file():
            try:
                return self._read_cache(cache, header)
            except CacheError as err:
                _rebuild_warning(cache, str(err))
        images, labels = self.read(split, self.paths(ctx))
        images = torch.from_numpy(np.array(images, dtype=np.uint8, order="C"))
        labels = torch.from_numpy(np.array(labels, dtype=np.int64))
        checksum = _payload_digest(images.numpy().data, labels.numpy().data)
        buffer = io.BytesIO()
        torch.save({**header, "checksum": checksum, "images": images, "labels": labels}, buffer)
        atomic_write_bytes(cache, buffer.getvalue())
        return StaticSplit(images, labels)

    @staticmethod
    def _read_cache(path: Path, header: dict) -> StaticSplit:
        try:
            blob = torch.load(path, weights_only=True)
        except Exception as err:  # noqa: BLE001 - truncated, not a torch file, not plain data
            raise CacheError(f"unreadable: {type(err).__name__}: {err}") from None
        _check_header(blob, header)
        images, labels = blob.get("images"), blob.get("labels")
        if not (isinstance(images, torch.Tensor) and images.dtype == torch.uint8 and images.dim() == 4
                and isinstance(labels, torch.Tensor) and labels.dtype == torch.int64
                and labels.shape == images.shape[:1]):
            raise CacheError("payload is not uint8 images [N, C, H, W] with int64 labels [N]")
        images, labels = images.contiguous(), labels.contiguous()
        if _payload_digest(images.numpy().data, labels.numpy().data) != blob.get("checksum"):
            raise CacheError("payload checksum mismatch (truncated or modified)")
        return StaticSplit(images, labels)


class GeneratedDataset(StaticDataset):
    """Data made by a deterministic generator here (no files, no download): float32 values in [0, 1] shaped
    ``[N, C, 1, 1]``, generated on every load (seconds), never cached. Subclasses implement
    :meth:`generate`; :meth:`source_key` names the generator and its parameters."""

    exact = True

    def generate(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The values ``[N, C]`` (float64, in [0, 1]) and integer labels ``[N]`` of ``split``."""
        raise NotImplementedError

    def load(self, split: str, ctx: DataContext) -> StaticSplit:
        _check_split(split, self.splits)
        values, labels = self.generate(split)
        images = torch.from_numpy(np.asarray(values, dtype=np.float32).reshape(len(values), -1, 1, 1).copy())
        return StaticSplit(images, torch.from_numpy(np.asarray(labels, dtype=np.int64)))

    def sources(self) -> dict[str, str]:
        return {"generator": self.source_key()}


class EventDataset(Dataset):
    """Event recordings, binned into frames once per binning setting and cached on disk."""

    kind = "events"

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[Sequence[np.ndarray] | Recordings, np.ndarray]:
        """Return the recordings of ``split`` (structured arrays with x, y, t, p; a list, or
        :class:`Recordings` when they are too many to hold at once) and their labels."""
        raise NotImplementedError

    def stabilize(self, events: np.ndarray) -> np.ndarray:
        """Remove the sensor's motion from one recording; datasets with ``recorded_with_saccades`` implement it."""
        raise NotImplementedError

    def load(self, split: str, ctx: DataContext, steps: int, binning: Binning) -> EventSplit:
        _check_split(split, self.splits)
        if binning.stabilize and not self.recorded_with_saccades:
            raise ValueError(f"{self.name} was not recorded with saccades; event_stabilize applies to N-MNIST")
        params = {"source": self.source_key(), "split": split, "steps": steps, **binning.as_dict()}
        key = config_digest(params)
        base = ctx.cache_dir / "frames" / f"{self.name}-{split}-T{steps}-{key}"
        data_path, meta_path = base.with_suffix(".npy"), base.with_suffix(".json")
        header = {"format": CACHE_FORMAT, "dataset": self.name, "sources": self.sources(), "params": params}
        if data_path.is_file() or meta_path.is_file():
            try:
                return _read_frames(data_path, meta_path, header)
            except CacheError as err:
                _rebuild_warning(data_path, str(err))
        meta = self._build_frames(split, ctx, steps, binning, data_path, meta_path, header)
        return _open_frames(data_path, meta)  # just written and hashed: not read back to check

    def _build_frames(self, split: str, ctx: DataContext, steps: int, binning: Binning,
                      data_path: Path, meta_path: Path, header: dict) -> dict:
        """Bin every recording into the frame file and write its header; returns the header."""
        recordings, labels = self.read_events(split, self.paths(ctx))
        shape = (steps, *self.input_shape_for(binning))
        storage = {"binary": "bits", "count": "uint8", "max_norm": "float16"}[binning.values]
        if binning.size:  # a resize makes values fractional: exact 8-bit levels (pil) or float16
            storage = "unorm8" if binning.resize == "pil" else "float16"
        row = int(np.prod(shape))
        width_bytes = (row + 7) // 8 if storage == "bits" else row
        dtype = np.float16 if storage == "float16" else np.uint8
        data_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = data_path.with_name(f".{data_path.name}.{os.getpid()}.tmp.npy")
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(len(recordings), width_bytes))
        progress = progress_reporter(f"{self.name} {split}: binning events (T={steps}, once)", "recordings")
        try:
            for i, events in enumerate(recordings):
                progress(i, len(recordings))
                if binning.stabilize:
                    events = self.stabilize(events)
                frames = bin_events(events, self.sensor_size, steps, binning)
                if binning.size:
                    frames = resize_frames(frames, binning.size, binning.resize)
                flat = frames.reshape(-1)
                if storage == "bits":
                    out[i] = np.packbits(flat > 0)
                elif storage == "uint8":
                    out[i] = np.clip(flat, 0, 255).astype(np.uint8)
                elif storage == "unorm8":
                    out[i] = np.rint(flat * 255.0).astype(np.uint8)
                else:
                    out[i] = flat.astype(np.float16)
            out.flush()
            del out
            labels_list = [int(v) for v in labels]
            checksum = _file_digest(tmp, labels_list)
            os.replace(tmp, data_path)
        finally:
            progress(len(recordings), len(recordings))  # ends the bar, also on an error
            tmp.unlink(missing_ok=True)
        meta = {**header, "shape": list(shape), "storage": storage, "labels": labels_list, "checksum": checksum}
        atomic_write_bytes(meta_path, json.dumps(meta).encode())
        return meta


def _file_digest(path: Path, labels: list[int]) -> str:
    """SHA-256 over a frame file's bytes and its labels."""
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256")
    digest.update(json.dumps(labels).encode())
    return digest.hexdigest()


def _read_frames(data_path: Path, meta_path: Path, header: dict) -> EventSplit:
    """Open a frame cache after checking its header against ``header`` and its payload checksum."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as err:
        raise CacheError(f"header {meta_path.name} unreadable: {type(err).__name__}: {err}") from None
    _check_header(meta, header)
    labels = meta.get("labels")
    if not (isinstance(labels, list) and all(isinstance(v, int) for v in labels)):
        raise CacheError("header labels are not a list of integers")
    if not data_path.is_file():
        raise CacheError(f"frame file {data_path.name} is missing")
    if _file_digest(data_path, labels) != meta.get("checksum"):
        raise CacheError("payload checksum mismatch (truncated or modified)")
    return _open_frames(data_path, meta)


def _open_frames(data_path: Path, meta: dict) -> EventSplit:
    store = FrameStore(data_path, meta)
    if len(store) != len(meta["labels"]):
        raise CacheError(f"{len(store)} frame rows for {len(meta['labels'])} labels")
    return EventSplit(store, torch.tensor(meta["labels"], dtype=torch.int64))


def _check_split(split: str, splits: tuple[str, ...] = SPLITS) -> None:
    if split not in splits:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(splits)}")


class Recordings:
    """``count`` event recordings produced one at a time by ``produce()`` (a generator function), for
    datasets too large to decode at once (DVS128 Gesture, SSC): binning reads each once and lets it go."""

    def __init__(self, count: int, produce: Callable[[], Iterator[np.ndarray]]) -> None:
        self.count, self.produce = count, produce

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[np.ndarray]:
        made = 0
        for events in self.produce():
            made += 1
            yield events
        if made != self.count:
            raise ValueError(f"{made} recordings decoded, {self.count} announced")
