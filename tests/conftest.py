from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Triton kernels run natively on a GPU and in Triton's interpreter on CPU tensors. The interpreter is
# chosen when a kernel is defined, so this must happen before any snnbench Triton module is imported.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from snnbench.events import EVENT_DTYPE  # noqa: E402
from snnbench.files import DataContext  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


MIRROR_FILES = ("MNIST/train-images-idx3-ubyte.gz", "FashionMNIST/train-images-idx3-ubyte.gz",
                "NMNIST-1k/nmnist-1k.zip", "CIFAR10-jpeg/cifar10-jpeg.tar.gz")


def mirror_dir() -> Path | None:
    """The local data mirror: $SNNBENCH_MIRROR, else ../shared/data beside the repository."""
    candidate = Path(os.environ.get("SNNBENCH_MIRROR") or REPO.parent / "shared" / "data")
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_dir()
    if path is None:
        if os.environ.get("SNNBENCH_REQUIRE_MIRROR"):
            pytest.fail("SNNBENCH_REQUIRE_MIRROR is set but no data mirror was found")
        looked = os.environ.get("SNNBENCH_MIRROR") or REPO.parent / "shared" / "data"
        pytest.skip(f"no data mirror at {looked} (set SNNBENCH_MIRROR): this test reads real files, e.g. "
                    f"{', '.join(MIRROR_FILES)} (`snnbench data list` shows what is where)")
    return path


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One decoded-data cache for the whole test session (decoding is done once)."""
    return Path(os.environ.get("SNNBENCH_TEST_CACHE") or tmp_path_factory.mktemp("snnbench-cache"))


@pytest.fixture(scope="session")
def ctx(mirror: Path, data_cache: Path) -> DataContext:
    return DataContext(data_cache, (mirror,), download=False)


@pytest.fixture(scope="session")
def kernel_device() -> str:
    """Where Triton kernels are tested: the GPU when there is one, else the CPU under the interpreter (a test
    that asks for it skips, naming the package, where triton is not installed)."""
    pytest.importorskip("triton", reason="triton is not installed (pip install -e '.[triton]')")
    return "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture
def short_run(tmp_path, data_cache):
    """Train ``method`` on ``dataset`` (real files from the mirror when ``mirror`` is given) on the CPU
    with the recipe plus ``flags`` (and ``sets``, as ``--set`` gives them); returns the run record."""
    from snnbench.config import resolve_config
    from snnbench.engine import RuntimeOptions, train
    from snnbench.registry import create_dataset, create_method

    def run(method: str, dataset: str, mirror: Path | None = None, sets: dict | None = None, **flags):
        cfg = resolve_config(create_method(method), create_dataset(dataset), flags, sets)
        runtime = RuntimeOptions(device="cpu", mirror=str(mirror) if mirror else None, data_dir=str(data_cache),
                                 out=tmp_path / "runs")
        return train(cfg, runtime)[0]

    return run


def random_recording(rng, count: int, side: int, duration_us: int = 10_000, low: int = 0):
    """A random event recording (``snnbench.events.EVENT_DTYPE``): ``count`` events on a ``side``² sensor
    (coordinates in [low, side)), sorted times in [0, duration_us), two polarities."""
    import numpy as np

    events = np.zeros(count, dtype=EVENT_DTYPE)
    events["x"], events["y"] = rng.integers(low, side, count), rng.integers(low, side, count)
    events["t"], events["p"] = np.sort(rng.integers(0, duration_us, count)), rng.integers(0, 2, count)
    return events


@pytest.fixture
def make_recording():
    """:func:`random_recording`, for tests that build synthetic event datasets."""
    return random_recording


@pytest.fixture(autouse=True)
def _logging_level_restored():
    """A test that calls the CLI (``-q``, ``-v``) sets the ``snnbench`` logger's level; the next test gets
    the default back, so ``caplog`` sees its warnings whatever ran before."""
    import logging

    logger = logging.getLogger("snnbench")
    level = logger.level
    yield
    logger.setLevel(level)
