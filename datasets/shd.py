"""Spiking Heidelberg Digits (SHD; Cramer et al. 2020): spoken digits 0-9 in English and German (20
classes) as spikes of 700 cochlear channels; the official HDF5 files, md5-checked.

Format (shared with :mod:`datasets.ssc`): ``shd_train.h5.zip`` / ``shd_test.h5.zip`` (the zips zenkelab
publishes; their md5s are tonic's) each hold one HDF5 file, ``shd_<split>.h5``, with
``spikes/times`` (one variable-length float array per sample: spike times in seconds), ``spikes/units``
(the matching variable-length channel indices, 0..699), ``labels`` (uint16 per sample) and ``extra/``
metadata (``speaker``, ``keys`` = class names). The test split holds speakers unseen in training (the
official split). A sample becomes events with x = channel, y = 0, p = 0 and t = round(time × 10⁶) µs, so
the usual binning applies (``event_binning=time_window`` with ``event_window_us`` is the common fixed-bin
choice) and a frame is 1-D: the input is ``[T, B, 700]``, for fully connected and recurrent networks.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from snnbench.events import EVENT_DTYPE
from snnbench.files import DataFileError, RemoteFile
from snnbench.registry import register_dataset

from .base import SPLITS, EventDataset, Recordings

CHANNELS = 700
_URL = "https://zenkelab.org/datasets/"


def heidelberg_file(stem: str, md5: str, folder: str) -> RemoteFile:
    """The official zip of one split (``shd_train`` ...), in ``folder`` of a mirror."""
    return RemoteFile(f"{stem}.h5.zip", md5, f"{_URL}{stem}.h5.zip", folder)


def read_heidelberg(path: Path, num_classes: int) -> tuple[Recordings, np.ndarray]:
    """The samples of one SHD/SSC zip (see the module docs): their labels now, their events one at a time."""
    import h5py

    scratch = tempfile.TemporaryDirectory(prefix="snnbench-h5-")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if m.endswith(".h5")]
            if len(members) != 1:
                raise DataFileError(f"{path}: expected one .h5 file in the zip, found {members or 'none'}")
            h5_path = Path(archive.extract(members[0], scratch.name))
        name = f"{path}:{members[0]}"
        try:
            with h5py.File(h5_path, "r") as handle:
                missing = [k for k in ("spikes/times", "spikes/units", "labels") if k not in handle]
                if missing:
                    raise DataFileError(f"{name}: no {', '.join(missing)} in the HDF5 file")
                raw = np.asarray(handle["labels"][()])
                if raw.ndim != 1 or not np.issubdtype(raw.dtype, np.integer):
                    raise DataFileError(f"{name}: labels must be one integer per sample; found shape "
                                        f"{raw.shape}, dtype {raw.dtype}")
                labels = raw.astype(np.int64)
                sizes = {len(handle["spikes/times"]), len(handle["spikes/units"])}
        except OSError as err:
            raise DataFileError(f"{name}: not a readable HDF5 file ({err})") from None
        if sizes != {len(labels)}:
            raise DataFileError(f"{name}: {sorted(sizes)} spike trains for {len(labels)} labels")
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise DataFileError(f"{name}: labels {labels.min()}..{labels.max()} outside 0..{num_classes - 1}")
    except (zipfile.BadZipFile, DataFileError) as err:
        scratch.cleanup()
        if isinstance(err, DataFileError):
            raise
        raise DataFileError(f"{path}: not a readable zip ({err})") from None

    def produce() -> Iterator[np.ndarray]:
        try:
            with h5py.File(h5_path, "r") as handle:
                times, units = handle["spikes/times"], handle["spikes/units"]
                for i in range(len(labels)):
                    t, u = np.asarray(times[i], dtype=np.float64), np.asarray(units[i], dtype=np.int64)
                    if t.shape != u.shape or (len(u) and (u.min() < 0 or u.max() >= CHANNELS)):
                        raise DataFileError(f"{name}: sample {i} has {len(t)} times, {len(u)} channels "
                                            f"(channels must be 0..{CHANNELS - 1})")
                    if len(t) and not (np.isfinite(t).all() and t.min() >= 0):
                        raise DataFileError(f"{name}: sample {i} has spike times that are not finite and >= 0 "
                                            f"(e.g. {t[~(np.isfinite(t) & (t >= 0))][0]})")
                    events = np.zeros(len(t), dtype=EVENT_DTYPE)
                    events["x"], events["t"] = u, np.rint(t * 1e6).astype(np.int64)
                    yield events
        finally:
            scratch.cleanup()

    return Recordings(len(labels), produce), labels


class HeidelbergDataset(EventDataset):
    """SHD and SSC: 1-D spike trains of 700 channels."""

    input_shape = (CHANNELS,)
    sensor_size = (CHANNELS, 1, 1)

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[Recordings, np.ndarray]:
        (file,) = [f for f in self.files if f.name.split(".")[0].endswith(f"_{split}")]
        return read_heidelberg(paths[file.name], self.num_classes)


@register_dataset("shd")
class SHD(HeidelbergDataset):
    name = "shd"
    num_classes = 20
    splits = SPLITS
    description = "Spiking Heidelberg Digits, exact (official HDF5), 20 classes, 700 channels, 8156 / 2264"
    files = (heidelberg_file("shd_train", "f3252aeb598ac776c1b526422d90eecb", "SHD"),
             heidelberg_file("shd_test", "1503a5064faa34311c398fb0a1ed0a6f", "SHD"))
