"""nox sessions. ``nox -l`` lists them; ``nox -s tests`` runs the README's test command."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests", "lint"]
MIRROR = os.environ.get("SNNBENCH_MIRROR", str(Path(__file__).resolve().parent.parent / "shared" / "data"))


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (real data from the mirror in $SNNBENCH_MIRROR, default ../shared/data)."""
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", *session.posargs, env={"SNNBENCH_MIRROR": MIRROR})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, methods, datasets and tests."""
    session.install("ruff")
    session.run("ruff", "check", "snnbench", "methods", "datasets", "tests", "noxfile.py")
