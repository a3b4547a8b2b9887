"""Yin-Yang and Randman are generated here; their samples equal the reference generators'.

The pinned values were printed by the reference code itself (lkriener/yin_yang_data_set ``dataset.py``
at HEAD: ``YinYangDataset(size=1000, seed=40)``; fzenke/randman's ``make_spiking_dataset`` from its
"Spiking dataset generation example" notebook with ``TorchRandman``: ``nb_classes=10, nb_units=100,
nb_steps=100, dim_manifold=D, seed=42``, times ``data[i, :, 0]``), run side by side with this module:
every sample and label of both datasets were equal (``np.array_equal``)."""

import numpy as np
import pytest
import torch

from snnbench.data import latency_encode
from snnbench.datasets.randman import make_spiking_dataset
from snnbench.datasets.yin_yang import yin_yang
from snnbench.files import DataContext
from snnbench.registry import create_dataset


def test_yin_yang_test_split_starts_with_the_reference_samples():
    values, labels = yin_yang(1000, 40)
    reference = np.array([[0.23409665, 0.40172498, 0.76590335, 0.59827502],
                          [0.75132902, 0.46824252, 0.24867098, 0.53175748],
                          [0.13832531, 0.57095397, 0.86167469, 0.42904603]])
    np.testing.assert_allclose(values[:3], reference, atol=5e-9)
    assert labels[:10].tolist() == [2, 2, 1, 1, 1, 2, 2, 0, 2, 2]
    assert np.bincount(labels).tolist() == [350, 316, 334]  # the reference's class counts for seed 40


def test_yin_yang_splits_sizes_and_points_lie_in_the_disc(tmp_path):
    dataset = create_dataset("yin-yang")
    ctx = DataContext.from_options(str(tmp_path), None, False)
    sizes = {split: len(dataset.load(split, ctx)) for split in ("train", "valid", "test")}
    assert sizes == {"train": 5000, "valid": 1000, "test": 1000}
    train = dataset.load("train", ctx)
    x, y = train.images[:, 0, 0, 0].double(), train.images[:, 1, 0, 0].double()
    assert bool(((x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25 + 1e-6).all())
    torch.testing.assert_close(train.images[:, 2], 1 - train.images[:, 0])
    assert np.bincount(yin_yang(5000, 42)[1]).tolist() == [1681, 1702, 1617]


@pytest.mark.parametrize(("dim", "first", "labels"), [
    (1, [86.98459268, 13.72704506, 79.04513478, 12.73906529], [7, 6, 4, 3, 3]),
    (3, [37.60728836, 49.77719784, 48.3178407, 39.51651156], [4, 2, 0, 8, 3]),
])
def test_randman_equals_the_reference_generator(dim, first, labels):
    times, target = make_spiking_dataset(10, 100, dim, 1000, 2.0, 42)
    assert times.shape == (10000, 100) and target.shape == (10000,)
    np.testing.assert_allclose(times[0, :4] * 100, first, atol=1e-6)
    assert target[:5].tolist() == labels
    assert np.bincount(target).tolist() == [1000] * 10
    assert times.min() >= 0 and times.max() < 1  # standardised per unit and class to [0, 1)


def test_randman_generation_leaves_the_global_rng_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    make_spiking_dataset(2, 5, 1, 10, 2.0, 42)
    assert torch.equal(torch.rand(3), expected)


def test_latency_puts_one_spike_per_value_at_its_time():
    x = torch.tensor([[0.0, 0.25, 0.999, 1.0]])
    spikes = latency_encode(x, 100)
    assert spikes.shape == (100, 1, 4) and spikes.sum().item() == 4
    assert spikes.argmax(0).tolist() == [[0, 25, 99, 99]]


def test_randman_at_t100_gives_the_reference_bins(tmp_path):
    dataset = create_dataset("randman-10c-1d")
    split = dataset.load("train", DataContext.from_options(str(tmp_path), None, False))
    assert len(split) == 8000 and dataset.num_classes == 10
    times, _ = make_spiking_dataset(10, 100, 1, 1000, 2.0, 42)
    spikes = latency_encode(split.images[:16, :, 0, 0].float(), 100)
    assert spikes.argmax(0).tolist() == np.floor(times[:16] * 100).astype(int).tolist()
