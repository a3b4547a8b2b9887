"""Configs that reproduce: ``--print-config``, ``--config FILE`` between the recipe and the flags, and
``--from-record`` re-running a record's resolved configuration (same config hash, origin tagged)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True, timeout=600)


def test_print_config_and_a_config_file_between_recipe_and_flags(tmp_path):
    base = json.loads(_cli("run", "--print-config").stdout)
    assert base["method"] == "stbp" and base["dataset"] == "digits"
    path = tmp_path / "exp.toml"
    path.write_text('epochs = 7\nlr = 0.02\n[options]\nthreshold = 0.7\n')
    from_file = json.loads(_cli("run", "--config", str(path), "--print-config").stdout)
    assert (from_file["epochs"], from_file["lr"], from_file["options"]["threshold"]) == (7, 0.02, 0.7)
    flags_win = json.loads(_cli("run", "--config", str(path), "--epochs", "2", "--set", "threshold=0.9",
                                "--print-config").stdout)
    assert (flags_win["epochs"], flags_win["lr"], flags_win["options"]["threshold"]) == (2, 0.02, 0.9)
    path.write_text('epochs = "many"\n')
    bad = _cli("run", "--config", str(path), "--print-config")
    assert bad.returncode == 2 and "epochs" in bad.stderr


def test_from_record_reruns_the_same_configuration(tmp_path):
    out = tmp_path / "runs"
    first = _cli("run", "--epochs", "1", "--max-train-samples", "200", "--set", "threshold=0.6", "--out", str(out))
    assert first.returncode == 0, first.stderr[-1000:]
    (record_path,) = out.glob("*.json")
    record = json.loads(record_path.read_text())
    shown = json.loads(_cli("run", "--from-record", str(record_path), "--print-config").stdout)
    from snnbench.config import config_digest

    assert config_digest(shown) == record["config_hash"]
    assert _cli("run", "--from-record", str(record_path), "--epochs", "3").returncode == 2  # as it is, or not
    again = _cli("run", "--from-record", str(record_path), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-1000:]
    (new_path,) = (tmp_path / "again").glob("*.json")
    new = json.loads(new_path.read_text())
    assert new["config_hash"] == record["config_hash"] and new["tags"]["from_record"] == record["run_id"]
    assert new["results"]["test_acc_last"] == pytest.approx(record["results"]["test_acc_last"])  # deterministic


def test_bare_snnbench_prints_help_and_version_exists():
    bare = _cli()
    assert bare.returncode == 0 and "usage: snnbench" in bare.stdout and "suite" in bare.stdout
    from snnbench import __version__

    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"snnbench {__version__}"


def test_list_shows_suites_and_bench_cases():
    out = _cli("list", "suites").stdout + _cli("list", "cases").stdout
    assert "smoke" in out and "equal-budget" in out and "mnist-strsbp" in out
    recipes = _cli("list", "recipes", "--method", "st-rsbp").stdout
    assert "st-rsbp" in recipes and "tsslbp" not in recipes
