"""Event binning: structured (x, y, t, p) event arrays into T frames, by time window or event count."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

BINNING_MODES = ("time_window", "n_time_bins", "n_event_bins")
FRAME_VALUES = ("binary", "count", "max_norm")
RESIZE_MODES = ("pil", "antialias", "bilinear")
EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])  # every reader's


@dataclass(frozen=True)
class Binning:
    """How a recording becomes T frames.

    mode: ``time_window`` (fixed bins of ``window_us`` from t = 0, first T kept), ``n_time_bins``
    (the recording's duration split into T equal windows) or ``n_event_bins`` (T slices of equal
    event count). values: ``binary`` (events in a bin collapse to 1, "OR" mode), ``count``, or
    ``max_norm`` (counts divided by each frame's maximum). size: output H = W after a resize (None
    keeps the sensor size). resize: ``pil`` (TET's ``ToPILImage → Resize → ToTensor``: values in
    [0, 1] truncated to 8 bits, PIL's antialiased bilinear, see :func:`resize_frames`),
    ``antialias`` (float, antialiased bilinear per channel) or ``bilinear`` (float, no
    antialiasing). stabilize: remove the sensor's saccade motion before binning (datasets recorded
    with saccades only, e.g. N-MNIST).
    """

    mode: str = "n_time_bins"
    window_us: int = 0
    values: str = "binary"
    size: int | None = None
    resize: str = "pil"
    stabilize: bool = False

    def __post_init__(self) -> None:
        if self.mode not in BINNING_MODES:
            raise ValueError(f"event binning mode {self.mode!r} is not one of {', '.join(BINNING_MODES)}")
        if self.values not in FRAME_VALUES:
            raise ValueError(f"event frame values {self.values!r} is not one of {', '.join(FRAME_VALUES)}")
        if self.mode == "time_window" and self.window_us <= 0:
            raise ValueError(f"event_binning=time_window needs event_window_us > 0, got {self.window_us}")
        if self.resize not in RESIZE_MODES:
            raise ValueError(f"event resize {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        if self.size and self.resize == "pil" and self.values == "count":
            raise ValueError("event_resize=pil quantises frames in [0, 1] to 8 bits as TET does; with "
                             "event_values=count use event_resize=antialias or bilinear")

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


def resize_frames(frames: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Resize float frames ``[T, P, H, W]`` to ``[T, P, size, size]``.

    ``pil`` is what TET's ``DVSCifar10`` loader does to each frame with torchvision's
    ``ToPILImage()``, ``Resize(size)`` and ``ToTensor()``: values × 255 truncated to uint8; the P
    channels become one PIL image (2 channels: mode ``LA``); PIL's bilinear resize, which
    antialiases when it shrinks; back to float / 255. Note the quirk this keeps: PIL resizes ``LA``
    images with the first channel premultiplied by the second ("alpha"), so polarity 0 survives only
    where polarity 1 is also present nearby. The result is exactly a multiple of 1/255.
    ``antialias`` and ``bilinear`` are ``F.interpolate(mode="bilinear")`` on the float frames, with
    and without antialiasing (each channel on its own).
    """
    if mode in ("antialias", "bilinear"):
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
        resized = torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False,
                                                  antialias=mode == "antialias")
        return resized.numpy()
    if mode != "pil":
        raise ValueError(f"event resize {mode!r} is not one of {', '.join(RESIZE_MODES)}")
    from PIL import Image

    steps, channels = frames.shape[:2]
    if channels not in (1, 2, 3, 4):
        raise ValueError(f"PIL resize needs 1 to 4 channels per frame, got {channels}")
    quantised = (np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)  # torchvision: pic.mul(255).byte()
    out = np.empty((steps, channels, size, size), dtype=np.float32)
    for t in range(steps):
        hwc = np.ascontiguousarray(quantised[t].transpose(1, 2, 0))
        image = Image.fromarray(hwc[:, :, 0] if channels == 1 else hwc)
        resized = np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
        out[t] = (resized if channels > 1 else resized[:, :, None]).transpose(2, 0, 1) / 255.0
    return out
