"""Fashion-MNIST (Xiao et al. 2017): the four original IDX files."""

from __future__ import annotations

from snnbench.registry import register_dataset

from .mnist import IdxDataset, idx_files

_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


@register_dataset("fashion-mnist")
class FashionMNIST(IdxDataset):
    name = "fashion-mnist"
    description = "Fashion-MNIST clothing images, 60000 train / 10000 test"
    # the dataset's own statistics; TSSL-BP's recipe uses MNIST's (normalize=mnist)
    mean = (0.2860,)
    std = (0.3530,)
    files = idx_files(_URL, "FashionMNIST", {
        "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", 26421880),
        "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", 29515),
        "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", 4422102),
        "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", 5148),
    })
