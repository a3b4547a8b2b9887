"""DVS128 Gesture (Amir et al. 2017): 11 hand and arm gestures of 29 subjects under 3 lightings, recorded
by a 128x128 DVS; the official archive, md5-checked.

Format of ``DvsGesture.tar.gz`` (the one IBM publishes; its md5 is spikingjelly's): a folder
``DvsGesture/`` with one recording per subject and lighting, ``userNN_<lighting>.aedat``, beside its
``userNN_<lighting>_labels.csv`` (header ``class,startTime_usec,endTime_usec``, then one row per
gesture: class 1..11, start and end in µs of the recording's clock), and ``trials_to_train.txt`` /
``trials_to_test.txt`` listing the recordings of each split (users 1-23 train, 24-29 test: 1176 / 288
gestures; the split every paper uses). A recording is AEDAT 3.1: ASCII header lines starting with
``#`` (the first ``#!AER-DAT3.1``, the last ``#!END-HEADER``), then packets: a 28-byte little-endian
header (``eventType`` u16, ``eventSource`` u16, ``eventSize`` u32, ``eventTSOffset`` u32,
``eventTSOverflow`` u32, ``eventCapacity`` u32, ``eventNumber`` u32, ``eventValid`` u32) and
``eventCapacity × eventSize`` bytes of events. Polarity events (type 1, 8 bytes) are a u32 whose bits
17-31 are x, 2-16 y and 1 the polarity, then a u32 timestamp (µs, plus ``eventTSOverflow << 31``). Like
spikingjelly's reader (the one the DVS Gesture results in TET's and spikingjelly's lineage use), every
polarity event of the packet's capacity is kept and each gesture is the events with start <= t < end; the
gesture's times start at 0. Labels are class − 1 (0..10).

tonic's ``DVSGesture`` is not used: it reads its author's preprocessed ``.npy`` archives
(``ibmGestureTrain.tar.gz``/``ibmGestureTest.tar.gz`` on figshare), not the official AEDAT files, so its
md5s and events cannot be checked against IBM's release.
"""

from __future__ import annotations

import csv
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from snnbench.events import EVENT_DTYPE
from snnbench.files import DataFileError, RemoteFile
from snnbench.registry import register_dataset

from .base import EventDataset, Recordings

ARCHIVE = RemoteFile("DvsGesture.tar.gz", "8a5c71fb11e24e5ca5b11866ca6c00a1", "", "DVSGesture")
CLASSES = ("hand clap", "right hand wave", "left hand wave", "right arm clockwise", "right arm counter-clockwise",
           "left arm clockwise", "left arm counter-clockwise", "arm roll", "air drums", "air guitar", "other")
_PACKET = np.dtype([("type", "<u2"), ("source", "<u2"), ("size", "<u4"), ("ts_offset", "<u4"),
                    ("ts_overflow", "<u4"), ("capacity", "<u4"), ("number", "<u4"), ("valid", "<u4")])
POLARITY_EVENT = 1


def read_aedat31(data: bytes, name: str = "recording") -> np.ndarray:
    """Decode the polarity events of an AEDAT 3.1 recording (see the module docs) into x, y, t, p."""
    if not data.startswith(b"#!AER-DAT3"):
        raise DataFileError(f"{name}: not an AEDAT 3.x file (its first line is {data[:20]!r})")
    end = data.find(b"#!END-HEADER")
    if end < 0:
        raise DataFileError(f"{name}: the AEDAT header has no #!END-HEADER line")
    offset = data.find(b"\n", end) + 1
    parts: list[np.ndarray] = []
    while offset + _PACKET.itemsize <= len(data):
        head = np.frombuffer(data, dtype=_PACKET, count=1, offset=offset)[0]
        size, capacity = int(head["size"]), int(head["capacity"])
        body = offset + _PACKET.itemsize
        length = size * capacity
        if size == 0 or body + length > len(data):
            raise DataFileError(f"{name}: packet at byte {offset} claims {capacity} events of {size} bytes, "
                                f"past the end of the file ({len(data)} bytes)")
        if int(head["type"]) == POLARITY_EVENT:
            if size < 8:
                raise DataFileError(f"{name}: polarity events of {size} bytes (expected 8)")
            words = np.frombuffer(data, dtype="<u4", count=length // 4, offset=body).reshape(capacity, size // 4)
            address, stamp = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
            events = np.empty(capacity, dtype=EVENT_DTYPE)
            events["x"] = (address >> 17) & 0x7FFF
            events["y"] = (address >> 2) & 0x7FFF
            events["p"] = (address >> 1) & 1
            events["t"] = stamp | (int(head["ts_overflow"]) << 31)
            parts.append(events)
        offset = body + length
    return np.concatenate(parts) if parts else np.empty(0, dtype=EVENT_DTYPE)


def read_labels(text: str, name: str) -> np.ndarray:
    """The gestures of a ``*_labels.csv``: rows (class 1..11, start µs, end µs) as int64 ``[G, 3]``."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or [c.strip() for c in rows[0]] != ["class", "startTime_usec", "endTime_usec"]:
        raise DataFileError(f"{name}: expected the header class,startTime_usec,endTime_usec")
    out = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        try:
            label, start, stop = (int(v) for v in row)
        except ValueError:
            raise DataFileError(f"{name}: line {number} is not three integers: {row}") from None
        if not 1 <= label <= len(CLASSES) or not 0 <= start < stop:
            raise DataFileError(f"{name}: line {number}: class {label} from {start} to {stop} µs is not a "
                                f"gesture (classes 1..{len(CLASSES)}, 0 <= start < end)")
        out.append((label, start, stop))
    return np.asarray(out, dtype=np.int64).reshape(-1, 3)


def gestures(events: np.ndarray, labels: np.ndarray, name: str) -> Iterator[np.ndarray]:
    """The events of each gesture (start <= t < end), their times from the gesture's start."""
    if len(events) and labels.size and labels[:, 1].min() > events["t"].max():
        raise DataFileError(f"{name}: its labels start after the recording ends ({labels[:, 1].min()} µs > "
                            f"{events['t'].max()} µs): the CSV does not belong to this recording")
    for _, start, stop in labels:
        part = events[(events["t"] >= start) & (events["t"] < stop)].copy()
        part["t"] -= start
        yield part


@register_dataset("dvs-gesture")
class DVSGesture(EventDataset):
    name = "dvs-gesture"
    num_classes = 11
    input_shape = (2, 128, 128)
    sensor_size = (128, 128, 2)
    description = "DVS128 Gesture, exact (official AEDAT 3.1 archive), 11 classes, users 1-23 train / 24-29 test"
    files = (ARCHIVE,)

    def read_events(self, split: str, paths: dict[str, Path]) -> tuple[Recordings, np.ndarray]:
        """Two passes over the archive: the split's trial list and label CSVs (small), then each listed
        recording decoded and cut into its gestures, one recording in memory at a time."""
        path = paths[self.files[0].name]
        order, tables = self._index(path, split)  # the split's recordings in archive order

        def produce() -> Iterator[np.ndarray]:
            with tarfile.open(path, "r:gz") as archive:
                for member in archive:
                    stem = Path(member.name).name.removesuffix(".aedat")
                    if member.isfile() and member.name.endswith(".aedat") and stem in tables:
                        data = archive.extractfile(member).read()  # type: ignore[union-attr]
                        events = read_aedat31(data, f"{path}:{member.name}")
                        width, height, _ = self.sensor_size
                        outside = int(((events["x"] >= width) | (events["y"] >= height)).sum())
                        if outside:
                            raise DataFileError(f"{path}:{member.name}: {outside} events lie outside the "
                                                f"{self.sensor_size[0]}x{self.sensor_size[1]} sensor")
                        yield from gestures(events, tables[stem], f"{path}:{member.name}")

        labels = np.concatenate([tables[t][:, 0] - 1 for t in order]) if order else np.empty(0, np.int64)
        return Recordings(int(sum(len(tables[t]) for t in order)), produce), labels

    @staticmethod
    def _index(path: Path, split: str) -> tuple[list[str], dict[str, np.ndarray]]:
        """The split's recordings (listed in trials_to_<split>.txt) in the archive's order, and each one's
        gesture table."""
        wanted = f"trials_to_{split}.txt"
        listing, csvs, recordings = None, {}, []
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                base = Path(member.name).name
                if member.isfile() and base.endswith(".aedat"):
                    recordings.append(base.removesuffix(".aedat"))
                elif member.isfile() and (base == wanted or base.endswith("_labels.csv")):
                    text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
                    if base == wanted:
                        listing = text
                    else:
                        csvs[base.removesuffix("_labels.csv")] = (text, f"{path}:{member.name}")
        if listing is None:
            raise DataFileError(f"{path}: no {wanted} in the archive")
        trials = [Path(line.strip()).name.removesuffix(".aedat") for line in listing.splitlines() if line.strip()]
        missing = [t for t in trials if t not in csvs or t not in recordings]
        if missing:
            raise DataFileError(f"{path}: {wanted} lists {', '.join(missing[:3])} without its .aedat and "
                                "_labels.csv")
        chosen = set(trials)
        return [r for r in recordings if r in chosen], {t: read_labels(*csvs[t]) for t in trials}
