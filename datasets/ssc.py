"""Spiking Speech Commands (SSC; Cramer et al. 2020): Google Speech Commands through the same cochlear
model as SHD, 35 classes, 700 channels; the official HDF5 files, md5-checked (tonic's md5s).

Format: as :mod:`datasets.shd` (``ssc_train.h5.zip``, ``ssc_valid.h5.zip``, ``ssc_test.h5.zip``, each
one HDF5 file with ``spikes/times``, ``spikes/units``, ``labels``). SSC publishes a validation split:
runs validate on it (``val_fraction > 0``; its value then only sizes the validation subset of a
``max_train_samples`` run) instead of carving one from the training set.
"""

from __future__ import annotations

from snnbench.registry import register_dataset

from .shd import HeidelbergDataset, heidelberg_file


@register_dataset("ssc")
class SSC(HeidelbergDataset):
    name = "ssc"
    num_classes = 35
    splits = ("train", "valid", "test")
    description = "Spiking Speech Commands, exact (official HDF5), 35 classes, 700 channels, train/valid/test"
    files = (heidelberg_file("ssc_train", "d102be95e7144fcc0553d1f45ba94170", "SSC"),
             heidelberg_file("ssc_valid", "b4eee3516a4a90dd0c71a6ac23a8ae43", "SSC"),
             heidelberg_file("ssc_test", "a35ff1e9cffdd02a20eb850c17c37748", "SSC"))
