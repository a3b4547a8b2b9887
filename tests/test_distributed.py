"""`snnbench run` under torchrun: two CPU processes (gloo) train one DDP model; rank 0 writes one record."""

from __future__ import annotations

import json
import subprocess
import sys


def test_torchrun_two_processes_write_one_record(tmp_path):
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", "29517",
           "-m", "snnbench.cli", "run", "--method", "stbp", "--dataset", "digits", "--epochs", "2",
           "--device", "cpu", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    records = list(out.glob("*.json"))
    assert len(records) == 1  # only rank 0 writes
    record = json.loads(records[0].read_text())
    assert record["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert record["results"]["test_acc_last"] >= 70.0  # it learns (2 epochs on digits reach ~89%)
    assert len(record["curves"]) == 2 and record["metrics"]["synaptic_operations"]["Dense"] > 0
