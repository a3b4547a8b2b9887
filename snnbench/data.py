"""From a resolved config to batches: fixed train / validation / test splits, encoding to
time-major ``[T, B, C, H, W]`` float tensors, and augmentation on whole batches.

Shuffling and augmentation draw from a generator seeded by (run seed, epoch), so an epoch's batches
do not depend on what ran before it: a resumed run sees exactly the batches of an uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from snnbench.config import ConfigError, RunConfig
from snnbench.files import DataContext
from snnbench.kernels.strsbp_numba import AVAILABLE as HASH_NUMBA
from snnbench.kernels.strsbp_numba import hashed_uniform_numba

VALIDATION_SEED = 20240611  # fixed for every run, so no model selection ever looks at the test set


@dataclass
class DataBundle:
    train: BatchLoader
    val: BatchLoader | None
    test: BatchLoader
    input_shape: tuple[int, int, int]
    info: dict[str, Any]


class BatchLoader:
    """Yields ``(inputs [T, B, ...], labels [B])`` on ``device`` for a subset of one split.

    Nothing a step waits for crosses from the host per batch: static images and every label live on the
    device, an epoch's order is copied there once, and encoding and augmentation run there. Event frames
    cross in their stored, compact form (bit-packed for binary frames) and are decoded on the device; with
    ``prefetch`` (on by default on a GPU) the next batch is read from disk, into page-locked memory, while
    the current one trains.
    """

    def __init__(self, split: Any, indices: np.ndarray, cfg: RunConfig, dataset: Any, *, train: bool,
                 device: torch.device, seed_offset: int = 0, batch_size: int = 0, prefetch: bool | None = None
                 ) -> None:
        self.split, self.indices, self.cfg, self.train = split, indices, cfg, train
        self.batch_size = batch_size or cfg.batch_size
        self.device, self.seed_offset = device, seed_offset
        self.events = dataset.kind == "events"
        self.prefetch = device.type == "cuda" if prefetch is None else prefetch
        self.epoch = 0
        if not self.events:
            self.images = split.images.to(device)
            shape = (1, -1, 1, 1)
            mean, std = normalization_of(cfg, dataset)
            self.mean = torch.tensor(mean, device=device).view(shape)
            self.std = torch.tensor(std, device=device).view(shape)
        self.device_labels = split.labels.to(device)

    def __len__(self) -> int:
        return (len(self.indices) + self.batch_size - 1) // self.batch_size

    @property
    def num_samples(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        seed = self.cfg.seed * 1_000_003 + self.epoch * 7919 + self.seed_offset
        generator = torch.Generator().manual_seed(seed)
        order = self.indices
        if self.train and self.cfg.shuffle == "reference_swaps":
            order = self.indices[swap_order(len(self.indices), self.epoch, self.cfg.seed)]
        elif self.train:
            order = self.indices[torch.randperm(len(self.indices), generator=generator).numpy()]
        device_order = torch.as_tensor(np.asarray(order, dtype=np.int64)).to(self.device)  # one copy per epoch
        device_gen = torch.Generator(device=self.device).manual_seed(seed + 1)
        starts = range(0, len(order), self.batch_size)
        rows = self._event_rows(order, starts) if self.events else None
        try:
            for start in starts:
                index = order[start:start + self.batch_size]
                where = device_order[start:start + self.batch_size]
                self.batch_index = index  # positions in the split of the batch being yielded (sample identity)
                raw = next(rows) if rows is not None else None
                yield self._inputs(index, where, raw, device_gen), self.device_labels[where]
        finally:
            if rows is not None:
                rows.close()  # stops the prefetch thread, also when the consumer stops early

    def _event_rows(self, order: np.ndarray, starts: range) -> Iterator[torch.Tensor]:
        """The stored rows of each batch in turn; with ``prefetch``, the next batch's are read in a thread
        while the current one trains (reading a memory-mapped file and pinning release the GIL)."""
        frames = self.split.frames
        batches = (order[start:start + self.batch_size] for start in starts)
        if not self.prefetch:
            yield from (frames.read(index) for index in batches)
            return
        pin = self.device.type == "cuda"
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="snnbench-prefetch") as pool:
            pending = None
            for index in batches:
                ahead = pool.submit(frames.read, index, pin)
                if pending is not None:
                    yield pending.result()
                pending = ahead
            if pending is not None:
                yield pending.result()

    def _inputs(self, index: np.ndarray, where: torch.Tensor, raw: torch.Tensor | None,
                generator: torch.Generator) -> torch.Tensor:
        steps = self.cfg.steps
        if raw is not None:
            frames = self.split.frames.decode(raw, self.device)  # [B, T, C, H, W]
            if self.train:
                frames = augment(frames, self.cfg.augment, generator, time_axis=True)
            return frames.transpose(0, 1).contiguous()
        x = self.images[where].float()  # [B, C, H, W]
        if self.images.dtype == torch.uint8:
            x = x.div_(255)  # 8-bit images; generated datasets (Yin-Yang, Randman) hold float32 values in [0, 1]
        if self.train:
            x = augment(x, self.cfg.augment, generator, time_axis=False)
        if self.cfg.encoding == "latency":
            return latency_encode(x, steps)
        if self.cfg.encoding == "rate":
            probs = x.clamp(0, 1).unsqueeze(0).expand(steps, *x.shape)
            return torch.bernoulli(probs, generator=generator)
        if self.cfg.encoding.startswith("strsbp"):
            return strsbp_encode(x, steps, generator, frozen_key=(index, self.cfg.seed, self.seed_offset)
                                 if self.cfg.encoding == "strsbp-frozen" else None)
        x = (x - self.mean) / self.std
        return x.unsqueeze(0).expand(steps, *x.shape)


def latency_encode(x: torch.Tensor, steps: int) -> torch.Tensor:
    """One spike per input value v in [0, 1] at step ⌊v·T⌋ (clipped to T − 1): the value is the spike's time,
    the later the larger (Yin-Yang's time-to-first-spike coding t = v·t_max, Göltz et al. 2021; Randman's
    spike times, ``data[:, :, 0] *= nb_steps`` then ⌊·⌋). ``x`` ``[B, ...]`` → ``[T, B, ...]``."""
    when = (x.clamp(0, 1) * steps).long().clamp_(max=steps - 1)
    time = torch.arange(steps, device=x.device).view(steps, *([1] * x.dim()))
    return (time == when.unsqueeze(0)).to(x.dtype)


REFERENCE_SWAPS = 5000


def swap_order(n: int, epoch: int, seed: int) -> np.ndarray:
    """The ST-RSBP code's training order at ``epoch`` (0-based): starting from the data's order, each epoch
    applies 5000 random transpositions to the previous epoch's order (drawn per (seed, epoch), so a
    resumed run sees the same order)."""
    order = np.arange(n)
    for e in range(epoch + 1):
        rng = np.random.default_rng([seed, e, 5000])
        pairs = rng.integers(0, n, size=(REFERENCE_SWAPS, 2)) if n else np.zeros((0, 2), dtype=np.int64)
        for a, b in pairs:
            order[a], order[b] = order[b], order[a]
    return order


STRSBP_RATE_DIVISOR = 5.5  # readMnistData.cpp::generatePoissonSpikes: p = pixel/(5.5·255) per step


def strsbp_encode(x: torch.Tensor, steps: int, generator: torch.Generator,
                  frozen_key: tuple[np.ndarray, int, int] | None = None) -> torch.Tensor:
    """The ST-RSBP code's input trains ``[T, B, ...]`` for images ``x`` in [0, 1]: a Bernoulli spike with
    probability x/5.5 at each step 1..T−1, none at step 0. With ``frozen_key`` = (sample indices, seed,
    split offset) the uniforms come from a counter-based hash of (seed, split, sample, step, pixel), so a
    sample's train is drawn once and the same every epoch (the reference draws them at load time)."""
    probs = (x.clamp(0, 1) / STRSBP_RATE_DIVISOR).unsqueeze(0).expand(steps, *x.shape)
    if frozen_key is None:
        uniform = torch.rand(probs.shape, generator=generator, device=x.device)
    else:
        uniform = _hashed_uniform(probs.shape, *frozen_key, device=x.device)
    spikes = (uniform < probs).to(x.dtype)
    spikes[0] = 0
    return spikes


def _hashed_uniform(shape: torch.Size, index: np.ndarray, seed: int, offset: int, device: torch.device
                    ) -> torch.Tensor:
    """Uniforms in [0, 1) from a splitmix-style hash of (seed, offset, sample index, step, element)."""
    steps, batch = shape[0], shape[1]
    per_sample = int(np.prod(shape[2:]))
    if device.type == "cpu" and HASH_NUMBA:  # the same hash in one compiled loop (10x less time and memory)
        return hashed_uniform_numba(steps, np.asarray(index), per_sample, seed, offset).view(shape)
    sample = torch.as_tensor(np.asarray(index, dtype=np.int64), device=device).view(1, batch, 1)
    step = torch.arange(steps, device=device, dtype=torch.int64).view(steps, 1, 1)
    element = torch.arange(per_sample, device=device, dtype=torch.int64).view(1, 1, per_sample)
    key = ((sample * 4096 + step) * per_sample + element) ^ ((seed * 1_000_003 + offset) << 40)
    mask = (1 << 62) - 1  # keep products inside int64 (wrapping multiplication is still a fine mix)
    key = (key * 0x5851F42D4C957F2D) & mask
    key = key ^ (key >> 29)
    key = (key * 0x14057B7EF767814F) & mask
    key = key ^ (key >> 32)
    return ((key & ((1 << 24) - 1)).to(torch.float32) / float(1 << 24)).view(shape)


def augment(x: torch.Tensor, kind: str, generator: torch.Generator, *, time_axis: bool) -> torch.Tensor:
    """Batch augmentation. ``x`` is ``[B, C, H, W]`` or, with ``time_axis``, ``[B, T, C, H, W]``
    (one draw per sample, shared by all its frames).

    - ``crop_flip``: random crop with 4-pixel zero padding and horizontal flip (p = 0.5);
    - ``flip_roll``: horizontal flip (p = 0.5), then a roll by integers in [-5, 5] on H and W (TET DVS);
    - ``jitter:N``: a random shift by integers in [-N, N] on H and W with zero fill (SLAYER N-MNIST);
    - ``elastic:S,R,D``: the ST-RSBP/HM2-BP CNN codes' distortion (:func:`elastic_distort`).
    """
    if kind == "none":
        return x
    if kind.startswith("elastic:"):
        scale, rotation, distortion = (float(v) for v in kind.split(":", 1)[1].split(","))
        return elastic_distort(x, scale, rotation, distortion, generator)
    batch = x.shape[0]
    device = x.device
    flips = torch.rand(batch, generator=generator, device=device) < 0.5
    if kind == "crop_flip":
        x = torch.where(flips.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
        return _shift(x, 4, generator, fill=True)
    if kind == "flip_roll":
        x = torch.where(flips.view(-1, *[1] * (x.dim() - 1)), x.flip(-1), x)
        return _shift(x, 5, generator, fill=False)
    if kind.startswith("jitter:"):
        return _shift(x, int(kind.split(":", 1)[1]), generator, fill=True)
    raise ConfigError(f"unknown augment {kind!r}; valid: none, crop_flip, flip_roll, jitter:N, elastic:S,R,D")


ELASTIC_SIGMA, ELASTIC_FIELD = 4.0, 21  # dataAugmentation/cuTransformation.cu: dElasticSigma, GAUSSIAN_FIELD_SIZE


def elastic_distort(x: torch.Tensor, scale: float, rotation: float, distortion: float,
                    generator: torch.Generator) -> torch.Tensor:
    """``cuApplyRandom`` + ``cuApplyDistortion`` of the ST-RSBP/HM2-BP CNN codes on ``[B, C, H, W]``
    images in [0, 1], one displacement field per sample shared by its channels:

    - elastic (``distortion`` ≥ 0.1): U(−1, 1) fields per pixel, correlated with a 21×21 Gaussian
      (σ = 4, normalised by 1/(2πσ) as the code does), times ``distortion``;
    - scaling: ``scale``/100 · r per axis about the centre, with r ~ U(−1, 1) clipped at 0 when the rotation
      is on (the code's clip: images only grow);
    - rotation: ``rotation``·r₁ degrees, r₁ the horizontal scale's number before its clip (the code reuses it);
    - sampling: pixel (row − dV, col − dH), bilinear on the C-truncated coordinates; a source outside the
      image gives the background (0), and a pixel with no displacement is copied.
    """
    batch, _, height, width = x.shape
    device = x.device
    fields = torch.rand(batch, 2, height, width, generator=generator, device=device) * 2 - 1
    r = torch.rand(batch, 2, generator=generator, device=device) * 2 - 1
    rows = torch.arange(height, device=device, dtype=torch.float32).view(1, -1, 1)
    cols = torch.arange(width, device=device, dtype=torch.float32).view(1, 1, -1)
    if distortion >= 0.1:
        mid = ELASTIC_FIELD // 2
        grid = torch.arange(ELASTIC_FIELD, device=device, dtype=torch.float32) - mid
        gauss = torch.exp(-(grid.view(-1, 1) ** 2 + grid.view(1, -1) ** 2) / (2 * ELASTIC_SIGMA ** 2))
        gauss = gauss / (ELASTIC_SIGMA * 2 * math.pi)
        smooth = torch.nn.functional.conv2d(fields.reshape(batch * 2, 1, height, width), gauss.view(1, 1, *gauss.shape),
                                            padding=mid).reshape(batch, 2, height, width)
        disp_h, disp_v = distortion * smooth[:, 0], distortion * smooth[:, 1]
    else:
        disp_h = disp_v = torch.zeros(batch, height, width, device=device)
    r1, r2 = r[:, 0].view(-1, 1, 1), r[:, 1].view(-1, 1, 1)
    angle = (rotation * r1) * math.pi / 180.0
    if abs(rotation) >= 0.01:
        r1, r2 = r1.clamp(min=0), r2.clamp(min=0)
    yy, xx = cols - width // 2, rows - height // 2  # the code's names: yy runs along columns
    disp_h = disp_h + scale / 100.0 * r1 * yy + (yy - yy * torch.cos(angle) - xx * torch.sin(angle))
    disp_v = disp_v + scale / 100.0 * r2 * xx + (xx - xx * torch.cos(angle) + yy * torch.sin(angle))
    source_row, source_col = rows - disp_v, cols - disp_h
    base_row, base_col = torch.trunc(source_row), torch.trunc(source_col)
    frac_row, frac_col = source_row - base_row, source_col - base_col
    inside = (base_row >= 0) & (base_row + 1 < height) & (base_col >= 0) & (base_col + 1 < width)
    r0, c0 = base_row.clamp(0, height - 2).long(), base_col.clamp(0, width - 2).long()
    flat = x.reshape(batch, x.shape[1], height * width)

    def at(row: torch.Tensor, col: torch.Tensor) -> torch.Tensor:
        index = (row * width + col).reshape(batch, 1, -1).expand(-1, x.shape[1], -1)
        return torch.gather(flat, 2, index).reshape(x.shape)

    fr, fc = frac_row.unsqueeze(1), frac_col.unsqueeze(1)
    value = ((1 - fr) * (1 - fc) * at(r0, c0) + (1 - fr) * fc * at(r0, c0 + 1) + fr * (1 - fc) * at(r0 + 1, c0)
             + fr * fc * at(r0 + 1, c0 + 1))
    value = torch.where(inside.unsqueeze(1), value, torch.zeros_like(value))
    still = ((disp_v.abs() < 1e-9) & (disp_h.abs() < 1e-9)).unsqueeze(1)
    return torch.where(still, x, value)


def _shift(x: torch.Tensor, amount: int, generator: torch.Generator, *, fill: bool) -> torch.Tensor:
    """Shift each sample by its own (dy, dx) in [-amount, amount]; zero fill, or roll when not ``fill``."""
    batch, height, width = x.shape[0], x.shape[-2], x.shape[-1]
    device = x.device
    dy = torch.randint(-amount, amount + 1, (batch,), generator=generator, device=device)
    dx = torch.randint(-amount, amount + 1, (batch,), generator=generator, device=device)
    rows = torch.arange(height, device=device).view(1, -1) - dy.view(-1, 1)  # source row per output row
    cols = torch.arange(width, device=device).view(1, -1) - dx.view(-1, 1)
    if not fill:
        rows, cols = rows % height, cols % width
    valid = ((rows >= 0) & (rows < height)).unsqueeze(-1) & ((cols >= 0) & (cols < width)).unsqueeze(-2)
    rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    lead = [1] * (x.dim() - 3)
    index_rows = rows.view(batch, *lead, height, 1).expand(*x.shape[:-2], height, width)
    gathered = torch.gather(x, -2, index_rows)
    index_cols = cols.view(batch, *lead, 1, width).expand(*x.shape[:-2], height, width)
    gathered = torch.gather(gathered, -1, index_cols)
    mask = valid.view(batch, *lead, height, width)
    return gathered * mask.to(x.dtype)


def normalization_of(cfg: RunConfig, dataset: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) that normalise ``dataset``'s images under ``cfg.normalize``."""
    if cfg.normalize == "mnist":
        from snnbench.datasets.mnist import MNIST

        return MNIST.mean * len(dataset.mean), MNIST.std * len(dataset.std)
    return dataset.mean, dataset.std


def input_shape_of(cfg: RunConfig, dataset: Any) -> tuple[int, ...]:
    """The shape of one input frame ``[C, H, W]`` that ``cfg`` gives ``dataset`` (no data is read)."""
    return tuple(dataset.input_shape_for(cfg.binning()) if dataset.kind == "events" else dataset.input_shape)


def prepare_data(cfg: RunConfig, dataset: Any, ctx: DataContext, device: torch.device,
                 eval_batch_size: int = 0) -> DataBundle:
    """Load (from cache or files) and split the data of ``cfg.dataset``; build the three loaders
    (validation and test in batches of ``eval_batch_size`` when a method sets one, else the run's)."""
    if dataset.kind == "events":
        binning = cfg.binning()

        def load(split: str) -> Any:
            return dataset.load(split, ctx, cfg.steps, binning)

        train_split, test_split = load("train"), load("test")
        encoding: dict[str, Any] = {"kind": "event frames", "steps": cfg.steps, **binning.as_dict()}
        input_shape = dataset.input_shape_for(binning)
    else:
        def load(split: str) -> Any:
            return dataset.load(split, ctx)

        train_split, test_split = load("train"), load("test")
        mean, std = normalization_of(cfg, dataset)
        encoding = {"kind": cfg.encoding, "steps": cfg.steps, "normalize": cfg.encoding == "direct",
                    "stats": cfg.normalize, "mean": list(mean), "std": list(std)}
        input_shape = dataset.input_shape
    n_full = len(train_split)
    official_val = "valid" in dataset.splits and cfg.val_fraction > 0  # SSC: its own validation split
    if official_val:
        val_split = load("valid")
        train_index = np.random.default_rng(VALIDATION_SEED).permutation(n_full)
        val_index = np.arange(len(val_split))
        if cfg.max_train_samples:
            keep = max(1, int(round(cfg.val_fraction * cfg.max_train_samples)))
            val_index = np.sort(np.random.default_rng(VALIDATION_SEED + 2).permutation(len(val_index))[:keep])
    else:
        val_split = train_split
        order = np.random.default_rng(VALIDATION_SEED).permutation(n_full)
        n_carved = int(round(cfg.val_fraction * n_full))
        if cfg.max_train_samples:
            n_carved = min(n_carved, max(1, int(round(cfg.val_fraction * cfg.max_train_samples))) if n_carved else 0)
        val_index, train_index = order[:n_carved], order[n_carved:]
    n_val = len(val_index)
    if cfg.max_train_samples:
        train_index = train_index[: cfg.max_train_samples]
    test_index = np.arange(len(test_split))
    if cfg.max_test_samples and cfg.max_test_samples < len(test_index):
        chosen = np.random.default_rng(VALIDATION_SEED + 1).permutation(len(test_index))[: cfg.max_test_samples]
        test_index = np.sort(chosen)
    train = BatchLoader(train_split, train_index, cfg, dataset, train=True, device=device)
    val = None
    if n_val:
        val = BatchLoader(val_split, val_index, cfg, dataset, train=False, device=device, seed_offset=1,
                          batch_size=eval_batch_size)
    test = BatchLoader(test_split, test_index, cfg, dataset, train=False, device=device, seed_offset=2,
                       batch_size=eval_batch_size)
    info = {**dataset.info(), "encoding": encoding, "augment": cfg.augment,
            "sizes": {"train": len(train_index), "val": int(n_val), "test": len(test_index)},
            "validation": "the dataset's valid split" if official_val else f"{cfg.val_fraction:g} of train",
            "validation_seed": VALIDATION_SEED}
    return DataBundle(train, val, test, tuple(input_shape), info)
