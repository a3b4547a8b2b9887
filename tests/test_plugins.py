"""Plug-ins (issue 20): a package of its own registers a method and a dataset through the entry-point
groups ``snnbench.methods`` and ``snnbench.datasets``; pip really installs it (into a folder on
PYTHONPATH) and ``snnbench run`` trains the plug-in rule on the plug-in dataset."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

PYPROJECT = """\
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "snnbench-toy-plugin"
version = "0.0.1"

[project.entry-points."snnbench.methods"]
toy-rule = "snnbench_toy:ToyRule"
broken-rule = "snnbench_toy:NoSuchThing"

[project.entry-points."snnbench.datasets"]
toy-digits = "snnbench_toy:ToyDigits"
"""

MODULE = '''\
"""A rule and a dataset that live outside snnbench."""
from snnbench.datasets.digits import Digits
from snnbench.methods.stbp import STBP


class ToyRule(STBP):
    description = "STBP under another name, shipped by a paper's repository"
    recipes = {"toy-digits": {**STBP.recipes["digits"], "arch": "32", "epochs": 1}}


class ToyDigits(Digits):
    name = "toy-digits"
    recipe_family = "toy-digits"
    description = "the 8x8 digits, registered by a plug-in"
'''


def _install_plugin(tmp_path) -> dict:
    source = tmp_path / "plugin"
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "snnbench_toy.py").write_text(textwrap.dedent(MODULE))
    target = tmp_path / "site"
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *isolation, "--target", str(target),
                    str(source)], check=True, capture_output=True, timeout=300)
    assert list(target.glob("snnbench_toy_plugin-0.0.1.dist-info/entry_points.txt"))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}


def test_a_plugin_package_adds_a_method_and_a_dataset(tmp_path):
    env = _install_plugin(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True,
                              env={**env, "COLUMNS": "300"}, timeout=600)

    listed = cli("list", "methods")
    assert listed.returncode == 0 and "toy-rule" in listed.stdout and "shipped by a paper" in listed.stdout
    assert "broken-rule" in listed.stderr and "failed to load" in listed.stderr  # named, and skipped
    assert "toy-digits" in cli("list", "datasets").stdout
    out = tmp_path / "runs"
    run = cli("run", "--method", "toy-rule", "--dataset", "toy-digits", "--max-train-samples", "200",
              "--out", str(out))
    assert run.returncode == 0, run.stderr[-1500:]
    (path,) = out.glob("*.json")
    record = json.loads(path.read_text())
    assert (record["method"], record["dataset"], record["arch"], record["status"]) == (
        "toy-rule", "toy-digits", "32", "completed")
    assert record["results"]["test_acc_last"] > 20  # it learned (10 classes: chance is 10 %)
    assert "toy-rule" not in subprocess.run([sys.executable, "-m", "snnbench.cli", "list", "methods"],
                                            capture_output=True, text=True, timeout=300).stdout  # not installed


def load_method_plugin(name: str, value: str) -> list[str]:
    """Load one entry point ``name = value`` of the methods group as if it were installed; the names added."""
    from importlib import metadata

    from snnbench import registry

    point = metadata.EntryPoint(name=name, value=value, group="snnbench.methods")
    original = metadata.entry_points
    try:
        metadata.entry_points = lambda group=None: [point] if group == "snnbench.methods" else []
        registry.list_methods()
        return registry.load_plugins(registry.METHODS)
    finally:
        metadata.entry_points = original


def test_a_plugin_cannot_take_a_bundled_name(caplog):
    from snnbench import registry

    assert load_method_plugin("stbp", "snnbench.methods.tet:TET") == []
    assert "refused: the name is taken" in caplog.text
    assert registry.METHODS.get("stbp").__name__ == "STBP"
