"""CIFAR-100, DVS128 Gesture, SHD and SSC (issue 21) on small files each test writes in the exact official
format (no network): decoding, labels, splits, binning, caching, bad files, and a short training run."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import struct
import tarfile
import zipfile

import numpy as np
import pytest

from snnbench.events import Binning
from snnbench.files import DataContext, DataFileError, RemoteFile

h5py = pytest.importorskip("h5py", reason="h5py (a dependency, through tonic) is missing")


def _remote(path, folder: str) -> RemoteFile:
    return RemoteFile(path.name, hashlib.md5(path.read_bytes()).hexdigest(), "", folder)


def _ctx(tmp_path) -> DataContext:
    return DataContext(tmp_path / "cache", (tmp_path / "mirror",), download=False)


def _run_on(tmp_path, monkeypatch, name: str, generated, *args: str) -> int:
    """``snnbench run -q ARGS`` with the generated dataset class registered as ``name`` (for this test only),
    reading the test's mirror and cache and writing records to ``tmp_path/runs``; returns the exit code."""
    from snnbench import registry
    from snnbench.cli import main

    registry.DATASETS.get("digits")  # the bundled datasets are registered before one is replaced
    monkeypatch.setitem(registry.DATASETS._items, name, generated)
    return main(["run", "-q", "--dataset", name, *args, "--mirror", str(tmp_path / "mirror"),
                 "--data-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "runs")])


def _only_record(tmp_path) -> dict:
    (path,) = (tmp_path / "runs").glob("*.json")
    return json.loads(path.read_text())


# ---- CIFAR-100 -------------------------------------------------------------------------------------
def _cifar100(tmp_path, rng):
    folder = tmp_path / "mirror" / "CIFAR100"
    folder.mkdir(parents=True)
    archive = folder / "cifar-100-python.tar.gz"
    batches = {}
    with tarfile.open(archive, "w:gz") as tar:
        for name, n in (("train", 6), ("test", 4), ("meta", 0)):
            batch = ({b"fine_label_names": [b"apple"]} if name == "meta" else
                     {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                      b"fine_labels": rng.integers(0, 100, n).tolist(),
                      b"coarse_labels": rng.integers(0, 20, n).tolist()})
            batches[name] = batch
            payload = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return archive, batches


def test_cifar100_fine_and_coarse_labels(tmp_path):
    from snnbench.datasets.cifar100 import CIFAR100, CIFAR100Coarse

    archive, batches = _cifar100(tmp_path, np.random.default_rng(0))

    class Fine(CIFAR100):
        files = (_remote(archive, "CIFAR100"),)

    class Coarse(CIFAR100Coarse):
        files = Fine.files

    train, test = Fine().load("train", _ctx(tmp_path)), Fine().load("test", _ctx(tmp_path))
    assert train.images.shape == (6, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert test.labels.tolist() == batches["test"][b"fine_labels"]
    assert np.array_equal(test.images.numpy().reshape(4, -1), batches["test"][b"data"])
    assert Coarse().load("test", _ctx(tmp_path)).labels.tolist() == batches["test"][b"coarse_labels"]
    assert (Fine.num_classes, Coarse.num_classes, Coarse().recipe_family) == (100, 20, "cifar100")


# ---- DVS128 Gesture ----------------------------------------------------------------------------------
def _aedat31(events, overflow=0, extra_packet=True, header=b"#!AER-DAT3.1\r\n#Format: RAW\r\n#!END-HEADER\r\n"):
    """An AEDAT 3.1 file: the header, a special-event packet (type 0, skipped), one polarity packet."""
    out = bytearray(header)
    if extra_packet:
        out += struct.pack("<HHIIIIII", 0, 1, 8, 4, 0, 1, 1, 1) + struct.pack("<II", 0, 0)
    body = b"".join(struct.pack("<II", (x << 17) | (y << 2) | (p << 1) | 1, t) for x, y, p, t in events)
    out += struct.pack("<HHIIIIII", 1, 1, 8, 4, overflow, len(events), len(events), len(events)) + body
    return bytes(out)


def _labels_csv(rows):
    return "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows)


def _gesture_archive(tmp_path, csv_override=None, aedat_override=None):
    folder = tmp_path / "mirror" / "DVSGesture"
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "DvsGesture.tar.gz"
    members = {}
    # user01 (train): gestures 3 at [1000, 3000) and 11 at [5000, 9000); user24 (test): gesture 1 at [0, 4000)
    members["DvsGesture/user01_fluorescent.aedat"] = aedat_override or _aedat31(
        [(10, 20, 1, 1500), (11, 20, 0, 2500), (12, 21, 1, 3000), (100, 5, 0, 6000), (101, 6, 1, 8999)])
    members["DvsGesture/user01_fluorescent_labels.csv"] = (csv_override or _labels_csv(
        [(3, 1000, 3000), (11, 5000, 9000)])).encode()
    members["DvsGesture/user24_led.aedat"] = _aedat31([(0, 0, 0, 100), (127, 127, 1, 3999)], overflow=1)
    members["DvsGesture/user24_led_labels.csv"] = _labels_csv([(1, 1 << 31, (1 << 31) + 4000)]).encode()
    members["DvsGesture/trials_to_train.txt"] = b"user01_fluorescent.aedat\n\n"
    members["DvsGesture/trials_to_test.txt"] = b"user24_led.aedat\n"
    with tarfile.open(archive, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    from snnbench.datasets.dvs_gesture import DVSGesture

    class Generated(DVSGesture):
        files = (_remote(archive, "DVSGesture"),)

    return Generated


def test_aedat31_decoding_bits_overflow_and_bad_headers():
    from snnbench.datasets.dvs_gesture import read_aedat31

    events = read_aedat31(_aedat31([(127, 3, 1, 10), (0, 127, 0, 20)], overflow=2))
    assert events["x"].tolist() == [127, 0] and events["y"].tolist() == [3, 127] and events["p"].tolist() == [1, 0]
    assert events["t"].tolist() == [10 + (2 << 31), 20 + (2 << 31)]  # the packet's timestamp overflow
    with pytest.raises(DataFileError, match="not an AEDAT 3"):
        read_aedat31(b"#!AER-DAT2.0\r\n" + b"\0" * 40, "bad.aedat")
    with pytest.raises(DataFileError, match="no #!END-HEADER"):
        read_aedat31(b"#!AER-DAT3.1\r\n#Format: RAW\r\n", "bad.aedat")
    with pytest.raises(DataFileError, match="past the end of the file"):
        read_aedat31(_aedat31([(1, 1, 1, 1)] * 4)[:-5], "cut.aedat")


def test_dvs_gesture_split_labels_times_and_cache(tmp_path, monkeypatch):
    Generated = _gesture_archive(tmp_path)
    binning = Binning("time_window", 1000, "count")
    train = Generated().load("train", _ctx(tmp_path), 4, binning)
    assert train.labels.tolist() == [2, 10]  # classes 3 and 11, zero-based; user01 only
    frames = train.frames.get(np.array([0, 1]))
    assert frames.shape == (2, 4, 2, 128, 128)
    # gesture 1 starts at 1000: t = 500 (bin 0) and 1500 (bin 1); the event at 3000 is past its end
    assert frames[0, 0, 1, 20, 10] == 1 and frames[0, 1, 0, 20, 11] == 1 and frames[0].sum() == 2
    # gesture 2 starts at 5000: 6000 → bin 1, 8999 → bin 3
    assert frames[1, 1, 0, 5, 100] == 1 and frames[1, 3, 1, 6, 101] == 1 and frames[1].sum() == 2
    test = Generated().load("test", _ctx(tmp_path), 4, binning)
    # its packet's timestamp overflow puts the events at 2^31 + 100 and 2^31 + 3999: bins 0 and 3 of the gesture
    test_frames = test.frames.get(np.array([0]))
    assert test.labels.tolist() == [0] and test_frames[0, 0, 0, 0, 0] == 1 and test_frames[0, 3, 1, 127, 127] == 1

    def no_reading(*args, **kwargs):
        raise AssertionError("the cached frames must be used")

    monkeypatch.setattr(Generated, "read_events", no_reading)
    again = Generated().load("train", _ctx(tmp_path), 4, binning)
    assert np.array_equal(again.frames.get(np.array([0, 1])), frames)


@pytest.mark.parametrize("case", ["labels after the recording", "bad csv header", "bad aedat header"])
def test_dvs_gesture_bad_files_name_the_file_and_cache_nothing(tmp_path, monkeypatch, case):
    kwargs = {"labels after the recording": {"csv_override": _labels_csv([(2, 10**9, 2 * 10**9)])},
              "bad csv header": {"csv_override": "label,start,end\n1,0,5\n"},
              "bad aedat header": {"aedat_override": b"#!AER-DAT3.1\r\nno end of header"}}[case]
    Generated = _gesture_archive(tmp_path, **kwargs)
    with pytest.raises(DataFileError, match="user01_fluorescent"):
        Generated().load("train", _ctx(tmp_path), 4, Binning("time_window", 1000, "count"))
    assert not (tmp_path / "cache" / "frames").exists() or not any((tmp_path / "cache" / "frames").iterdir())
    code = _run_on(tmp_path, monkeypatch, "dvs-gesture-bad", Generated, "--method", "stbp", "--arch", "P8-16",
                   "--steps", "4", "--epochs", "1", "--set", "event_binning=time_window",
                   "--set", "event_window_us=1000")
    assert code == 1  # a data error: exit 1


# ---- SHD and SSC ------------------------------------------------------------------------------------
def _heidelberg_zip(folder, stem, samples, labels, corrupt=False):
    folder.mkdir(parents=True, exist_ok=True)
    h5_path = folder / f"{stem}.h5"
    if corrupt:
        h5_path.write_bytes(b"this is not HDF5" * 8)
    else:
        with h5py.File(h5_path, "w") as f:
            times = f.create_dataset("spikes/times", (len(samples),), dtype=h5py.vlen_dtype(np.float32))
            units = f.create_dataset("spikes/units", (len(samples),), dtype=h5py.vlen_dtype(np.uint16))
            for i, (t, u) in enumerate(samples):
                times[i], units[i] = np.asarray(t, np.float32), np.asarray(u, np.uint16)
            f["labels"] = np.asarray(labels, np.uint16)
            f["extra/speaker"] = np.zeros(len(labels), np.uint16)
    archive = folder / f"{stem}.h5.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(h5_path, h5_path.name)
    h5_path.unlink()
    return archive


def _speech(n, classes, rng):
    samples = []
    for i in range(n):
        count = 40
        samples.append((np.sort(rng.uniform(0, 0.95, count)), rng.integers(0, 700, count)))
        samples[-1][1][:5] = 10 * (i % classes) + np.arange(5)  # a class-specific channel pattern
    return samples, [i % classes for i in range(n)]


def _generated_speech(tmp_path, name, rng, n_train=40, corrupt=False):
    from snnbench.datasets.shd import SHD
    from snnbench.datasets.ssc import SSC

    base = {"shd": SHD, "ssc": SSC}[name]
    folder = tmp_path / "mirror" / name.upper()
    files = []
    for split in base.splits:
        samples, labels = _speech(n_train if split == "train" else 10, base.num_classes, rng)
        files.append(_remote(_heidelberg_zip(folder, f"{name}_{split}", samples, labels,
                                             corrupt and split == "train"), name.upper()))

    class Generated(base):
        pass

    Generated.files = tuple(files)
    return Generated


def test_shd_events_bin_to_1d_frames_and_cache(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    folder = tmp_path / "mirror" / "SHD"
    samples = [([0.0005, 0.0125, 0.0126, 0.5], [3, 699, 699, 10]), ([0.001], [0])]
    from snnbench.datasets.shd import SHD

    class Generated(SHD):
        files = (_remote(_heidelberg_zip(folder, "shd_train", samples, [19, 0]), "SHD"),
                 _remote(_heidelberg_zip(folder, "shd_test", *_speech(3, 20, rng)), "SHD"))

    binning = Binning("time_window", 10000, "count")
    train = Generated().load("train", _ctx(tmp_path), 100, binning)
    assert train.labels.tolist() == [19, 0]
    frames = train.frames.get(np.array([0, 1]))
    assert frames.shape == (2, 100, 700)  # 1-D frames: [B, T, channels]
    assert frames[0, 0, 3] == 1 and frames[0, 1, 699] == 2 and frames[0, 50, 10] == 1 and frames[0].sum() == 4
    assert frames[1, 0, 0] == 1 and frames[1].sum() == 1
    monkeypatch.setattr(Generated, "read_events", lambda *a: (_ for _ in ()).throw(AssertionError("cached")))
    assert np.array_equal(Generated().load("train", _ctx(tmp_path), 100, binning).frames.get(np.array([0, 1])),
                          frames)


def test_a_corrupt_hdf5_file_is_named_exit_1_and_nothing_cached(tmp_path):
    from snnbench.datasets.shd import read_heidelberg

    Generated = _generated_speech(tmp_path, "shd", np.random.default_rng(2), corrupt=True)
    with pytest.raises(DataFileError, match=r"shd_train\.h5\.zip:shd_train\.h5: not a readable HDF5 file"):
        Generated().load("train", _ctx(tmp_path), 10, Binning("time_window", 10000, "binary"))
    assert not (tmp_path / "cache" / "frames").exists() or not any((tmp_path / "cache" / "frames").iterdir())
    bad = tmp_path / "labels.h5.zip"
    _heidelberg_zip(tmp_path / "x", "labels", [([0.1], [1])], [25])
    (tmp_path / "x" / "labels.h5.zip").rename(bad)
    with pytest.raises(DataFileError, match="labels 25..25 outside 0..19"):
        read_heidelberg(bad, 20)


def test_ssc_validates_on_its_own_valid_split(tmp_path):
    from snnbench.config import resolve_config
    from snnbench.data import prepare_data
    from snnbench.registry import create_method

    Generated = _generated_speech(tmp_path, "ssc", np.random.default_rng(3), n_train=70)
    cfg = resolve_config(create_method("stbp"), Generated(), {"steps": 20}, {})
    bundle = prepare_data(cfg, Generated(), _ctx(tmp_path), __import__("torch").device("cpu"))
    assert bundle.info["sizes"] == {"train": 70, "val": 10, "test": 10}  # nothing carved from train
    assert bundle.info["validation"] == "the dataset's valid split"
    inputs, labels = next(iter(bundle.val))
    assert inputs.shape[0] == 20 and inputs.shape[2:] == (700,)  # time-major [T, B, 700]


@pytest.mark.parametrize("name,method", [("shd", "stbp"), ("shd", "tsslbp"), ("ssc", "tet"), ("shd", "st-rsbp")])
def test_a_short_training_run_on_the_speech_datasets(tmp_path, monkeypatch, name, method):
    Generated = _generated_speech(tmp_path, name, np.random.default_rng(4), n_train=60)
    code = _run_on(tmp_path, monkeypatch, name, Generated, "--method", method, "--epochs", "1", "--arch", "32",
                   "--steps", "20", "--batch-size", "8")
    assert code == 0
    record = _only_record(tmp_path)
    assert record["status"] == "completed" and record["dataset_info"]["input_shape"] == [700]
    assert record["dataset_info"]["encoding"]["window_us"] == 10000  # the recipe's binning


def test_the_new_datasets_are_listed_and_checked_against_their_official_files(capsys, monkeypatch):
    from snnbench.cli import main

    monkeypatch.setenv("COLUMNS", "300")
    assert main(["list", "datasets"]) == 0
    listed = capsys.readouterr().out
    for name in ("cifar100", "cifar100-coarse", "dvs-gesture", "shd", "ssc"):
        assert f"│ {name} " in listed
    assert main(["data", "check", "shd", "--data-dir", "/nonexistent-cache", "--mirror", "/nonexistent"]) == 1
    out = capsys.readouterr().out
    assert "shd_train.h5.zip" in out and "f3252aeb598ac776c1b526422d90eecb" in out
    assert main(["run", "--method", "stbp", "--dataset", "shd", "--arch", "8C3-32", "--print-config"]) == 2
    assert "needs a feature map" in capsys.readouterr().err  # 1-D input: no convolutions


@pytest.mark.parametrize("name,method,arch", [("cifar100", "tet", "8C3-P4-32"), ("dvs-gesture", "slayer", "P8-16"),
                                              ("dvs-gesture", "stbp-tdbn", "P8-8C3-16")])
def test_a_short_training_run_on_cifar100_and_dvs_gesture(tmp_path, monkeypatch, name, method, arch):
    if name == "cifar100":
        from snnbench.datasets.cifar100 import CIFAR100

        archive, _ = _cifar100(tmp_path, np.random.default_rng(5))

        class Generated(CIFAR100):
            files = (_remote(archive, "CIFAR100"),)
    else:
        Generated = _gesture_archive(tmp_path)
    code = _run_on(tmp_path, monkeypatch, name, Generated, "--method", method, "--epochs", "1", "--arch", arch,
                   "--steps", "4", "--batch-size", "2", "--set", "val_fraction=0", "--set", "augment=none",
                   "--set", "event_size=0")
    assert code == 0
    record = _only_record(tmp_path)
    assert record["status"] == "completed" and record["dataset"] == name
    assert record["dataset_info"]["num_classes"] == {"cifar100": 100, "dvs-gesture": 11}[name]


def test_event_binning_reports_its_progress(tmp_path, caplog):
    Generated = _generated_speech(tmp_path, "shd", np.random.default_rng(5), n_train=30)
    with caplog.at_level("INFO", logger="snnbench.files"):
        Generated().load("train", _ctx(tmp_path), 10, Binning("time_window", 10000, "binary"))
    lines = [r.getMessage() for r in caplog.records if "binning events" in r.getMessage()]
    assert lines[0] == "shd train: binning events (T=10, once): 0 of 30 recordings"
    assert lines[-1].endswith(": 30 of 30 recordings") and 3 <= len(lines) <= 12  # about every 10 %
    caplog.clear()
    with caplog.at_level("INFO", logger="snnbench.files"):
        Generated().load("train", _ctx(tmp_path), 10, Binning("time_window", 10000, "binary"))
    assert not [r for r in caplog.records if "binning events" in r.getMessage()]  # cached: nothing to bin
