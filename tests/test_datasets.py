import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from snnbench.config import RunConfig
from snnbench.data import augment, prepare_data
from snnbench.datasets.cifar10_dvs import CIFAR10DVS, read_aedat2, split_members
from snnbench.datasets.nmnist import NMNISTBase
from snnbench.events import EVENT_DTYPE, Binning, bin_events
from snnbench.files import DataContext, DataFileError, RemoteFile, resolve
from snnbench.registry import create_dataset, list_datasets

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_registry_lists_every_dataset():
    assert list_datasets() == sorted(["cifar10", "cifar10-dvs", "cifar10-jpeg", "cifar100", "cifar100-coarse",
                                      "digits", "dvs-gesture", "fashion-mnist", "mnist", "nmnist", "nmnist-1k",
                                      "randman-10c-1d", "randman-10c-2d", "randman-10c-3d", "shd", "ssc",
                                      "yin-yang"])


def test_digits_split_is_fixed_and_disjoint(tmp_path):
    ctx = DataContext(tmp_path)
    digits = create_dataset("digits")
    train, test = digits.load("train", ctx), digits.load("test", ctx)
    assert train.images.shape == (1437, 1, 8, 8) and test.images.shape == (360, 1, 8, 8)
    assert train.images.dtype == torch.uint8 and int(train.images.max()) == 255
    assert sorted(set(test.labels.tolist())) == list(range(10))


def test_mnist_real_files(ctx):
    mnist = create_dataset("mnist")
    train, test = mnist.load("train", ctx), mnist.load("test", ctx)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS
    assert torch.bincount(test.labels).tolist() == MNIST_TEST_COUNTS
    again = mnist.load("test", ctx)  # from the decoded cache
    assert torch.equal(again.images, test.images)


def test_fashion_mnist_real_files(ctx):
    fashion = create_dataset("fashion-mnist")
    train, test = fashion.load("train", ctx), fashion.load("test", ctx)
    assert train.images.shape == (60000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    assert torch.bincount(test.labels).tolist() == [1000] * 10


def test_nmnist_1k_real_files(ctx):
    nmnist = create_dataset("nmnist-1k")
    binning = Binning(mode="time_window", window_us=3000, values="binary")
    train, test = nmnist.load("train", ctx, 30, binning), nmnist.load("test", ctx, 30, binning)
    assert len(train) == 1000 and len(test) == 100
    assert torch.bincount(test.labels, minlength=10)[8] == 2
    # labels agree with MNIST: the subset is MNIST train indices 1..1000
    mnist_train = create_dataset("mnist").load("train", ctx)
    assert torch.bincount(train.labels).tolist() == torch.bincount(mnist_train.labels[:1000]).tolist()
    frames = train.frames.get(np.arange(4))
    assert frames.shape == (4, 30, 2, 34, 34)
    assert set(frames.unique().tolist()) == {0.0, 1.0}
    assert frames.sum() > 1000  # ~90 ms of a recording holds thousands of events


@pytest.mark.slow
def test_cifar10_jpeg_real_files(ctx):
    cifar = create_dataset("cifar10-jpeg")
    train, test = cifar.load("train", ctx), cifar.load("test", ctx)
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert torch.bincount(train.labels).tolist() == [5000] * 10
    assert cifar.info()["variant"].startswith("jpeg") and not cifar.info()["exact"]


def _mirror_with(tmp_path: Path, subdir: str, name: str, payload: bytes) -> Path:
    folder = tmp_path / "mirror" / subdir
    folder.mkdir(parents=True)
    (folder / name).write_bytes(payload)
    return tmp_path / "mirror"


def test_corrupt_mirror_file_is_refused_and_named(tmp_path):
    mirror = _mirror_with(tmp_path, "MNIST", "t10k-labels-idx1-ubyte.gz", b"not the labels")
    ctx = DataContext(tmp_path / "cache", (mirror,), download=False)
    file = next(f for f in create_dataset("mnist").files if f.name == "t10k-labels-idx1-ubyte.gz")
    with pytest.raises(DataFileError) as err:
        resolve(file, ctx, "mnist")
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte.gz" in message and file.md5 in message
    assert "corrupt, refused" in message and str(mirror / "MNIST") in message
    assert "cache" in message and "downloads disabled" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*"))


def test_download_is_verified_and_leaves_nothing_partial(tmp_path):
    source = tmp_path / "server" / "blob.bin"
    source.parent.mkdir()
    source.write_bytes(b"payload")
    good = RemoteFile("blob.bin", hashlib.md5(b"payload").hexdigest(), source.as_uri(), "X")
    ctx = DataContext(tmp_path / "cache")
    path = resolve(good, ctx, "test")
    assert path.read_bytes() == b"payload" and path.is_relative_to(tmp_path / "cache")
    bad = RemoteFile("other.bin", "0" * 32, source.as_uri(), "X")
    with pytest.raises(DataFileError, match="does not match"):
        resolve(bad, ctx, "test")
    kept = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file() and not p.name.endswith(".lock"))
    assert kept == ["blob.bin"]  # no .part left of the corrupt one


class _Server:
    """A loopback HTTP server for one payload: honours Range (206) unless ``ranges`` is off, cuts the
    first ``cut`` responses off half-way, answers 404 for other paths; records each request's headers."""

    def __init__(self, payload: bytes, cut: int = 1, ranges: bool = True) -> None:
        import http.server
        import threading

        self.payload, self.cut, self.ranges, self.requests = payload, cut, ranges, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.requests.append(dict(self.headers))
                if self.path != "/blob.bin":
                    self.send_error(404)
                    return
                start = 0
                if server.ranges and self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut > 0:
                    server.cut -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-file
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


@pytest.mark.parametrize("ranges", [True, False])
def test_download_retries_and_resumes_a_dropped_connection(tmp_path, ranges):
    from snnbench.files import download

    payload = bytes(range(256)) * 4096  # 1 MiB
    server = _Server(payload, cut=1, ranges=ranges)
    try:
        file = RemoteFile("blob.bin", hashlib.md5(payload).hexdigest(), server.url + "/blob.bin", "X")
        seen: list[tuple[int, int | None]] = []
        path = download(file, tmp_path / "blob.bin", progress=lambda done, total: seen.append((done, total)),
                        backoff_s=0.01)
    finally:
        server.close()
    assert path.read_bytes() == payload
    assert len(server.requests) == 2 and all(r["User-Agent"].startswith("snnbench/") for r in server.requests)
    assert "Range" not in server.requests[0] and server.requests[1]["Range"] == f"bytes={len(payload) // 2}-"
    assert seen[-1] == (len(payload), len(payload))  # the progress ends at the whole file
    assert not list(tmp_path.glob(".blob.bin.part"))


def test_download_gives_up_on_404_at_once_and_points_at_data_fetch(tmp_path):
    server = _Server(b"x", cut=0)
    try:
        file = RemoteFile("missing.bin", "0" * 32, server.url + "/missing.bin", "X")
        with pytest.raises(DataFileError) as err:
            resolve(file, DataContext(tmp_path / "cache"), "toy")
    finally:
        server.close()
    assert len(server.requests) == 1  # a 404 is not retried
    assert "HTTP Error 404" in str(err.value)
    offline = DataContext(tmp_path / "cache", download=False)
    with pytest.raises(DataFileError, match="snnbench data fetch toy"):
        resolve(file, offline, "toy")


def test_mirror_is_never_written(ctx, mirror):
    before = {p: p.stat().st_mtime for p in mirror.rglob("*")}
    create_dataset("mnist").load("test", ctx)
    assert {p: p.stat().st_mtime for p in mirror.rglob("*")} == before


def _events(rows):
    return np.array(rows, dtype=EVENT_DTYPE)


def test_binning_by_time_window_count_and_norm():
    ev = _events([(0, 0, 100, 0), (0, 0, 200, 0), (1, 2, 3500, 1), (3, 1, 9000, 0), (3, 1, 12000, 0)])
    sensor = (4, 3, 2)
    binary = bin_events(ev, sensor, 3, Binning("time_window", 3000, "binary"))
    assert binary.shape == (3, 2, 3, 4)
    assert binary[0, 0, 0, 0] == 1 and binary[1, 1, 2, 1] == 1 and binary.sum() == 2  # t >= 9000 dropped
    count = bin_events(ev, sensor, 3, Binning("time_window", 3000, "count"))
    assert count[0, 0, 0, 0] == 2
    by_time = bin_events(ev, sensor, 2, Binning("n_time_bins", 0, "count"))
    assert by_time[0].sum() == 3 and by_time[1].sum() == 2
    by_count = bin_events(ev, sensor, 5, Binning("n_event_bins", 0, "max_norm"))
    assert by_count.reshape(5, -1).max(1).tolist() == [1, 1, 1, 1, 1]


def test_bad_binning_names_valid_values():
    with pytest.raises(ValueError, match="time_window, n_time_bins, n_event_bins"):
        Binning(mode="slices")


def _nmnist_bytes(events):
    out = bytearray()
    for x, y, t, p in events:
        out += bytes([x, y, (p << 7) | ((t >> 16) & 0x7F), (t >> 8) & 0xFF, t & 0xFF])
    return bytes(out)


def test_generated_nmnist_zip_round_trip(tmp_path):
    archive = tmp_path / "mini.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Train/3/00001.bin", _nmnist_bytes([(1, 2, 10, 1), (5, 6, 4000, 0)]))
        zf.writestr("Train/7/00002.bin", _nmnist_bytes([(33, 33, 2999, 0)]))
        zf.writestr("Test/0/00003.bin", _nmnist_bytes([(0, 0, 0, 1)]))

    class Mini(NMNISTBase):
        name = "mini-nmnist"
        files = (RemoteFile("mini.zip", hashlib.md5(archive.read_bytes()).hexdigest(), "", "mini"),)

        def read_events(self, split, paths):
            from snnbench.datasets.nmnist import read_nmnist_zip

            return read_nmnist_zip(paths["mini.zip"], split)

    ctx = DataContext(tmp_path / "cache", (tmp_path,), download=False)
    (tmp_path / "mini").mkdir()
    (tmp_path / "mini" / "mini.zip").write_bytes(archive.read_bytes())
    split = Mini().load("train", ctx, 2, Binning("time_window", 3000, "binary"))
    assert split.labels.tolist() == [3, 7]
    frames = split.frames.get(np.array([0, 1]))
    assert frames[0, 0, 1, 2, 1] == 1 and frames[0, 1, 0, 6, 5] == 1 and frames[0].sum() == 2
    assert frames[1, 0, 0, 33, 33] == 1 and frames[1].sum() == 1


def _aedat(events):
    header = b"#!AER-DAT2.0\r\n# This is a raw AE data file\r\n"
    words = []
    for x, y, t, p in events:  # inverse of read_aedat2's decoding
        row, column = 127 - x, 127 - y
        words += [(row << 8) | (column << 1) | (1 - p), t]
    return header + np.array(words, dtype=">u4").tobytes()


def test_aedat2_decoding_round_trip():
    ev = read_aedat2(_aedat([(3, 100, 50, 1), (127, 0, 80, 0)]))
    assert ev["x"].tolist() == [3, 127] and ev["y"].tolist() == [100, 0]
    assert ev["p"].tolist() == [1, 0] and ev["t"].tolist() == [0, 30]


def test_cifar10_dvs_fixed_split_and_generated_files(tmp_path):
    names = [f"airplane/cifar10_airplane_{i}.aedat" for i in range(1000)]
    train, test = split_members(names, "train"), split_members(names, "test")
    assert len(train) == 900 and len(test) == 100
    assert test[0].endswith("_900.aedat") and train[-1].endswith("_899.aedat")

    folder = tmp_path / "mirror" / "CIFAR10-DVS"
    folder.mkdir(parents=True)
    files = []
    for label, cls in enumerate(CIFAR10DVS.files):
        name = cls.name
        path = folder / name
        with zipfile.ZipFile(path, "w") as zf:
            for i in range(3):  # tiny: 3 recordings per class; with 900 train each, all go to train
                zf.writestr(f"{name[:-4]}/cifar10_{name[:-4]}_{i}.aedat",
                            _aedat([(label, i, 0, 1), (label + 1, i, 1000 * (i + 1), 0)]))
        files.append(RemoteFile(name, hashlib.md5(path.read_bytes()).hexdigest(), "", "CIFAR10-DVS"))

    class Generated(CIFAR10DVS):
        pass

    Generated.files = tuple(files)
    ctx = DataContext(tmp_path / "cache", (tmp_path / "mirror",), download=False)
    split = Generated().load("train", ctx, 2, Binning("n_event_bins", 0, "max_norm", size=48, resize="antialias"))
    assert len(split) == 30 and split.labels.tolist() == sorted(list(range(10)) * 3)
    frames = split.frames.get(np.arange(30))
    assert frames.shape == (30, 2, 2, 48, 48)
    assert frames[:, 0].sum() > 0 and frames[:, 1].sum() > 0


def test_validation_split_is_fixed_disjoint_and_seed_independent(tmp_path):
    digits = create_dataset("digits")
    ctx = DataContext(tmp_path)
    bundles = [prepare_data(RunConfig("stbp", "digits", "128", seed=s, val_fraction=0.2), digits, ctx,
                            torch.device("cpu")) for s in (0, 1)]
    a, b = bundles
    assert np.array_equal(a.val.indices, b.val.indices)
    assert not set(a.val.indices) & set(a.train.indices)
    assert len(a.val.indices) + len(a.train.indices) == 1437
    assert a.info["sizes"] == {"train": 1150, "val": 287, "test": 360}


def test_batches_are_time_major_with_direct_and_rate_encoding(tmp_path):
    digits = create_dataset("digits")
    ctx = DataContext(tmp_path)
    direct = prepare_data(RunConfig("stbp", "digits", "128", steps=4, batch_size=16), digits, ctx, torch.device("cpu"))
    x, y = next(iter(direct.train))
    assert x.shape == (4, 16, 1, 8, 8) and y.shape == (16,)
    assert torch.equal(x[0], x[3])
    rate = prepare_data(RunConfig("stbp", "digits", "128", steps=4, batch_size=16, encoding="rate"), digits, ctx,
                        torch.device("cpu"))
    x, _ = next(iter(rate.train))
    assert set(x.unique().tolist()) <= {0.0, 1.0} and not torch.equal(x[0], x[1])


def test_augmentations_keep_shape_and_shift_content():
    gen = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 2, 1, 10, 10)
    x[:, :, :, 5, 5] = 1
    rolled = augment(x, "flip_roll", gen, time_axis=True)
    assert rolled.shape == x.shape and torch.equal(rolled.sum((2, 3, 4)), x.sum((2, 3, 4)))
    assert torch.equal(rolled[:, 0], rolled[:, 1])  # one draw per sample, shared by its frames
    jittered = augment(torch.ones(8, 1, 10, 10), "jitter:3", gen, time_axis=False)
    assert (jittered.sum((1, 2, 3)) <= 100).all() and (jittered.sum((1, 2, 3)) >= 49).all()
    with pytest.raises(ValueError, match="valid: none, crop_flip, flip_roll, jitter:N"):
        augment(x, "mixup", gen, time_axis=True)


def test_cifar10_exact_reader_on_a_generated_archive(tmp_path):
    import pickle
    import tarfile

    from snnbench.datasets.cifar10 import CIFAR10

    folder = tmp_path / "mirror" / "CIFAR10"
    folder.mkdir(parents=True)
    archive = folder / "cifar-10-python.tar.gz"
    rng = np.random.default_rng(0)
    batches = {}
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
            batches[name] = batch
            payload = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))

    class Generated(CIFAR10):
        files = (RemoteFile(archive.name, hashlib.md5(archive.read_bytes()).hexdigest(), "", "CIFAR10"),)

    ctx = DataContext(tmp_path / "cache", (tmp_path / "mirror",), download=False)
    train, test = Generated().load("train", ctx), Generated().load("test", ctx)
    assert train.images.shape == (20, 3, 32, 32) and test.images.shape == (4, 3, 32, 32)
    assert test.labels.tolist() == [0, 1, 2, 9]
    assert np.array_equal(test.images.numpy().reshape(4, -1), batches["test_batch"][b"data"])


def test_data_list_shows_every_dataset_and_where_its_files_are(tmp_path, capsys, monkeypatch):
    from snnbench.cli import main
    from snnbench.registry import list_datasets

    monkeypatch.setenv("COLUMNS", "400")
    mirror = _mirror_with(tmp_path, "MNIST", "t10k-labels-idx1-ubyte.gz", b"a corrupt copy")
    cache = tmp_path / "cache"
    fashion = next(f for f in create_dataset("fashion-mnist").files if f.name == "t10k-labels-idx1-ubyte.gz")
    (cache / "raw" / "FashionMNIST").mkdir(parents=True)
    (cache / "raw" / "FashionMNIST" / fashion.name).write_bytes(b"12345")
    assert main(["data", "list", "--data-dir", str(cache), "--mirror", str(mirror)]) == 0
    rows = {tuple(c.strip() for c in line.split("│")[1:4]): line for line in capsys.readouterr().out.splitlines()
            if line.startswith("│")}
    assert {name for name, _, _ in rows} == set(list_datasets())
    assert "mirror" in rows[("mnist", "t10k-labels-idx1-ubyte.gz", "14 B")]
    assert "cache" in rows[("fashion-mnist", "t10k-labels-idx1-ubyte.gz", "5 B")]
    assert "snnbench data fetch nmnist" in rows[("nmnist", "train.zip", "-")]
    assert "bundled" in rows[("digits", "-", "-")]
    assert main(["data", "list", "--verify", "--data-dir", str(cache), "--mirror", str(mirror)]) == 0
    verified = capsys.readouterr().out
    assert "14 B" not in verified and "5 B" not in verified  # corrupt copies do not count
    assert main(["data", "check"]) == 2 and "valid datasets" in capsys.readouterr().err
