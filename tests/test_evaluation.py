"""``snnbench eval --steps``: a trained run at other T, without retraining, stored in its record."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from snnbench.records import read_record


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    proc = _cli("run", "--method", "stbp", "--dataset", "digits", "--epochs", "1", "--steps", "4", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-1500:]
    (path,) = out.glob("*.json")
    return path


def test_eval_at_other_steps_is_stored_and_reproduces_the_trained_T(trained):
    proc = _cli("eval", str(trained), "--steps", "2,4,8")
    assert proc.returncode == 0, proc.stderr[-1500:]
    record = read_record(trained)  # still a valid record (read_record refuses one that is not)
    curve = {row["steps"]: row["test_acc"] for row in record.time_scaling}
    assert sorted(curve) == [2, 4, 8]
    assert curve[4] == pytest.approx(record.results.test_acc_last)  # same T: the record's own number
    assert all(0 <= acc <= 100 for acc in curve.values())
    again = _cli("eval", str(trained), "--steps", "4", "--no-write")
    assert again.returncode == 0 and len(json.loads(trained.read_text())["time_scaling"]) == 3


def test_eval_refuses_bad_input_with_exit_2(trained, tmp_path):
    assert _cli("eval", str(trained), "--steps", "0,4").returncode == 2
    assert _cli("eval", str(trained), "--steps", "two").returncode == 2
    lonely = tmp_path / "lonely.json"
    lonely.write_text(trained.read_text())  # a record whose checkpoint is not beside it
    proc = _cli("eval", str(lonely), "--steps", "2")
    assert proc.returncode == 2 and "checkpoint" in proc.stderr
