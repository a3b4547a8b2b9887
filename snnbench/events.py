"""Event binning: structured (x, y, t, p) event arrays into T frames, by time window or event count."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BINNING_MODES = ("time_window", "n_time_bins", "n_event_bins")
FRAME_VALUES = ("binary", "count", "max_norm")


@dataclass(frozen=True)
class Binning:
    """How a recording becomes T frames.

    mode: ``time_window`` (fixed bins of ``window_us`` from t = 0, first T kept), ``n_time_bins``
    (the recording's duration split into T equal windows) or ``n_event_bins`` (T slices of equal
    event count). values: ``binary`` (events in a bin collapse to 1, "OR" mode), ``count``, or
    ``max_norm`` (counts divided by each frame's maximum). size: output H = W after bilinear resize
    (None keeps the sensor size).
    """

    mode: str = "n_time_bins"
    window_us: int = 0
    values: str = "binary"
    size: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in BINNING_MODES:
            raise ValueError(f"event binning mode {self.mode!r} is not one of {', '.join(BINNING_MODES)}")
        if self.values not in FRAME_VALUES:
            raise ValueError(f"event frame values {self.values!r} is not one of {', '.join(FRAME_VALUES)}")
        if self.mode == "time_window" and self.window_us <= 0:
            raise ValueError(f"time_window binning needs window_us > 0, got {self.window_us}")

    def as_dict(self) -> dict:
        return asdict(self)


def bin_events(events: np.ndarray, sensor_size: tuple[int, int, int], steps: int, binning: Binning) -> np.ndarray:
    """Bin one recording into a float32 array ``[T, P, H, W]`` (before any resize).

    ``events`` is a structured array with fields x, y, t (µs) and p; ``sensor_size`` is (W, H, P).
    """
    width, height, polarities = sensor_size
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    p = events["p"].astype(np.int64)
    t = events["t"].astype(np.int64)
    n = len(t)
    if binning.mode == "time_window":
        b = t // binning.window_us
    elif binning.mode == "n_time_bins":
        t0 = t.min() if n else 0
        duration = (t.max() - t0 + 1) if n else 1
        b = (t - t0) * steps // duration
    else:
        order = np.argsort(t, kind="stable")
        x, y, p, t = x[order], y[order], p[order], t[order]
        b = np.arange(n) * steps // max(n, 1)
    keep = (b >= 0) & (b < steps) & (x >= 0) & (x < width) & (y >= 0) & (y < height) & (p >= 0) & (p < polarities)
    flat = ((b[keep] * polarities + p[keep]) * height + y[keep]) * width + x[keep]
    counts = np.bincount(flat, minlength=steps * polarities * height * width)
    frames = counts.reshape(steps, polarities, height, width).astype(np.float32)
    if binning.values == "binary":
        return (frames > 0).astype(np.float32)
    if binning.values == "max_norm":
        peak = frames.reshape(steps, -1).max(axis=1).reshape(steps, 1, 1, 1)
        return np.divide(frames, peak, out=np.zeros_like(frames), where=peak > 0)
    return frames
