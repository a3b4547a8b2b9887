"""nox sessions. ``nox -l`` lists them; ``nox -s tests`` runs the README's test command.

Sessions reuse their virtual environments (``reuse_existing_virtualenvs``). ``nox --no-venv -s tests
bench`` runs them in the current environment instead (what ``.ci/run`` does after the README's install).
Sessions tagged ``gpu`` need a CUDA device: ``nox -t gpu``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]
ROOT = Path(__file__).resolve().parent
MIRROR = os.environ.get("SNNBENCH_MIRROR", str(ROOT.parent / "shared" / "data"))
SOURCES = ("snnbench", "methods", "datasets")
BASELINE = ROOT / "benchmarks" / "baseline"
# a benchmark fails when its median is this much slower than the committed baseline's
BENCH_FAIL = "median:75%"


def _install(session: nox.Session, *args: str) -> None:
    """Install into the session's venv; under ``--no-venv`` use the current environment as it is."""
    if session.venv_backend != "none":
        session.install(*args)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (real data from the mirror in $SNNBENCH_MIRROR, default ../shared/data)."""
    _install(session, "-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", *session.posargs, env={"SNNBENCH_MIRROR": MIRROR})


@nox.session(python=["3.11", "3.12", "3.13"], tags=["compat"])
def compat(session: nox.Session) -> None:
    """Install on each supported Python and run the quick tests (``-m 'not slow'``); an interpreter this
    machine lacks is skipped (``nox -s compat --error-on-missing-interpreters`` fails instead)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", "-m", "not slow", *session.posargs, env={"SNNBENCH_MIRROR": MIRROR})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, methods, datasets, tests, benchmarks and scripts."""
    _install(session, "ruff")
    session.run("ruff", "check", *SOURCES, "tests", "benchmarks", "scripts", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the package, methods and datasets (settings in pyproject.toml)."""
    _install(session, "-e", ".[dev]", "mypy")
    session.run("mypy", *SOURCES)


def _benchmark_args() -> list[str]:
    return ["python", "-m", "pytest", "benchmarks", "-q", f"--benchmark-storage=file://{BASELINE}",
            "--benchmark-columns=median,iqr,rounds", "--benchmark-sort=name"]


@nox.session
def bench(session: nox.Session) -> None:
    """pytest-benchmark: kernels and one training step per method, compared with the committed baseline
    of this machine class (benchmarks/baseline/<machine id>/); fails on a median slower by BENCH_FAIL."""
    _install(session, "-e", ".[dev]")
    session.run(*_benchmark_args(), "--benchmark-compare", f"--benchmark-compare-fail={BENCH_FAIL}",
                *session.posargs)


@nox.session(name="bench-baseline")
def bench_baseline(session: nox.Session) -> None:
    """Re-record the baseline of this machine class (see the README: only on an idle machine of the CI
    class, from a clean checkout, and commit it with the reason)."""
    _install(session, "-e", ".[dev]")
    probe = session.run("python", "-c", "from pytest_benchmark.utils import get_machine_id; print(get_machine_id())",
                        silent=True)
    machine = str(probe).strip().splitlines()[-1] if probe else ""
    if machine and (BASELINE / machine).is_dir():
        shutil.rmtree(BASELINE / machine)
    session.run(*_benchmark_args(), "--benchmark-save=baseline", *session.posargs)


@nox.session
def smoke(session: nox.Session) -> None:
    """Accuracy regression: every method trains on digits (CPU) and must reach its recorded floor."""
    _install(session, "-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", "benchmarks/smoke_accuracy.py", "-p", "no:benchmark",
                *session.posargs)


@nox.session(tags=["gpu"])
def gpu(session: nox.Session) -> None:
    """On a CUDA machine: the kernel and CUDA-graph tests natively and the side-by-side speed table (snnbench
    bench: eager and graphed, with the ANN floor)."""
    _install(session, "-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", "tests/test_lif.py", "tests/test_tsslbp_kernel.py",
                "tests/test_srm_kernel.py", "tests/test_batchnorm.py", "tests/test_st_rsbp_cnn.py",
                "tests/test_graphs.py")
    session.run("snnbench", "bench", "--methods", "tsslbp,stbp,tet,slayer", *session.posargs)
    # TET with the fused batch norm, against the same table's spikingjelly-bn and ANN rows
    session.run("snnbench", "bench", "--methods", "tet", "--set", "tet.bn_backend=triton",
                "--peers", "spikingjelly-bn,ann", *session.posargs)


@nox.session
def board(session: nox.Session) -> None:
    """Regenerate the committed board (leaderboards/LEADERBOARD.md, leaderboard.html, csv, json, plots/) from
    leaderboards/runs; ``snnbench leaderboard`` alone writes to ./leaderboard, never to the tracked files."""
    _install(session, "-e", ".[dev]")
    session.run("snnbench", "leaderboard", "--runs", "leaderboards/runs", "--out", "leaderboards")
