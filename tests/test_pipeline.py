"""The input pipeline (issue 19): event frames cross to the device compact and are decoded there, the next
batch is read ahead in a thread, and static batches are gathered on the device from a per-epoch order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnbench.config import resolve_config
from snnbench.data import prepare_data
from snnbench.datasets.base import FrameStore, unpack_bits
from snnbench.files import DataContext
from snnbench.registry import create_dataset, create_method


def _numpy_decode(rows: np.ndarray, storage: str, shape: tuple[int, ...]) -> np.ndarray:
    """The host decoding the store used before (np.unpackbits, float32, /255 for 8-bit levels)."""
    if storage == "bits":
        rows = np.unpackbits(rows, axis=1, count=int(np.prod(shape)))
    out = np.asarray(rows, dtype=np.float32).reshape(len(rows), *shape)
    return out / np.float32(255.0) if storage == "unorm8" else out


@pytest.mark.parametrize("storage", ["bits", "uint8", "unorm8", "float16"])
def test_frame_store_decodes_like_numpy(tmp_path, storage):
    """Every storage kind decodes to the same float32 frames as the numpy path, bit for bit; packed bits
    whose count is not a multiple of 8 keep only the real ones."""
    shape = (3, 2, 5, 7)  # 210 values: 26.25 bytes when packed
    rng = np.random.default_rng(0)
    n, row = 6, int(np.prod(shape))
    if storage == "bits":
        data = np.packbits(rng.random((n, row)) < 0.3, axis=1)
    elif storage == "float16":
        data = rng.random((n, row)).astype(np.float16)
    else:
        data = rng.integers(0, 256, (n, row), dtype=np.uint8)
    path = tmp_path / "frames.npy"
    np.save(path, data)
    store = FrameStore(path, {"shape": list(shape), "storage": storage})
    index = np.array([4, 0, 5, 2])
    expected = torch.from_numpy(_numpy_decode(data[index], storage, shape))
    got = store.get(index)
    assert got.dtype == torch.float32 and got.shape == (4, *shape)
    assert torch.equal(got, expected)
    assert store.read(index).dtype == torch.from_numpy(data).dtype  # what crosses is the stored form


def test_unpack_bits_is_numpys_unpackbits():
    """The GPU's decoding of bit-packed frames (here on the CPU tensor) against ``np.unpackbits``."""
    rows = np.random.default_rng(1).integers(0, 256, (5, 9), dtype=np.uint8)
    for count in (72, 70, 65):
        expected = np.unpackbits(rows, axis=1, count=count)
        assert np.array_equal(unpack_bits(torch.from_numpy(rows), count).numpy(), expected)


def _events_bundle(ctx: DataContext, **sets):
    cfg = resolve_config(create_method("tsslbp"), create_dataset("nmnist-1k"), {"batch_size": 64},
                         {"max_train_samples": 300, "augment": "jitter:2", **sets})
    return cfg, prepare_data(cfg, create_dataset("nmnist-1k"), ctx, torch.device("cpu"))


def test_prefetch_yields_the_same_batches_and_stops_with_its_consumer(ctx):
    """Reading the next batch ahead in a thread changes nothing in what the loader yields (augmentation
    included), and a consumer that stops early leaves no thread behind."""
    import threading

    _, bundle = _events_bundle(ctx)
    loader = bundle.train
    loader.set_epoch(1)
    loader.prefetch = False
    plain = [(x.clone(), y.clone()) for x, y in loader]
    loader.prefetch = True
    ahead = [(x.clone(), y.clone()) for x, y in loader]
    assert len(plain) == len(ahead) == len(loader) == 5
    for (xa, ya), (xb, yb) in zip(plain, ahead, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    for _ in zip(range(2), loader):  # stop after two batches
        pass
    assert not any(t.name.startswith("snnbench-prefetch") for t in threading.enumerate())


def test_static_batches_are_the_split_rows_of_the_epoch_order(ctx):
    """Images and labels gathered on the device from the per-epoch order are the split's rows at the batch's
    positions (``batch_index``): the labels match the images they came with."""
    cfg = resolve_config(create_method("stbp"), create_dataset("mnist"), {"batch_size": 100},
                         {"max_train_samples": 500, "encoding": "direct"})
    bundle = prepare_data(cfg, create_dataset("mnist"), ctx, torch.device("cpu"))
    loader = bundle.train
    split = loader.split
    seen = []
    for inputs, labels in loader:
        index = loader.batch_index
        assert torch.equal(labels, split.labels[index])
        x = split.images[torch.as_tensor(index)].float().div(255)
        expected = (x - loader.mean) / loader.std
        assert torch.equal(inputs[0], expected) and inputs.shape[0] == cfg.steps
        seen += list(index)
    assert sorted(seen) == sorted(loader.indices.tolist())


def test_prefetch_is_on_by_default_only_on_a_gpu(ctx):
    _, bundle = _events_bundle(ctx)
    assert bundle.train.prefetch is False  # a CPU run decodes in line (the cores are the step's)
