"""Experiment trackers (issue 20): ``snnbench run --log tensorboard|mlflow`` sends the resolved config and
the per-epoch metrics; what they hold is read back with each tool's own reader and compared with the record."""

from __future__ import annotations

import json

import pytest

from snnbench.cli import main

RUN = ["run", "--epochs", "2", "--max-train-samples", "200", "--set", "threshold=0.6"]


def _record(out):
    (path,) = out.glob("*.json")
    return path, json.loads(path.read_text())


def test_tensorboard_holds_the_config_and_every_epoch(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard (pip install 'snnbench[tensorboard]') is missing")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert main([*RUN, "--out", str(tmp_path), "--log", "tensorboard"]) == 0
    _, record = _record(tmp_path)
    (folder,) = (tmp_path / "tensorboard").iterdir()
    events = EventAccumulator(str(folder), size_guidance={"tensors": 0, "scalars": 0})
    events.Reload()
    val = [(e.step, round(e.value, 4)) for e in events.Scalars("val/acc")]
    assert val == [(row["epoch"], round(row["val_acc"], 4)) for row in record["curves"]]
    assert [e.step for e in events.Scalars("train/loss")] == [1, 2]
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text.strip("`\n"))["options"]["threshold"] == 0.6


def test_mlflow_holds_params_metrics_and_the_record(tmp_path, monkeypatch):
    pytest.importorskip("mlflow", reason="mlflow (pip install 'snnbench[mlflow]') is missing")
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main([*RUN, "--out", str(tmp_path), "--log", "mlflow"]) == 0
    path, record = _record(tmp_path)
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")  # the local default store
    (run,) = client.search_runs([client.get_experiment_by_name("snnbench").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["options.threshold"] == "0.6" and run.data.params["epochs"] == "2"
    assert run.data.tags["snnbench.config_hash"] == record["config_hash"]
    assert run.data.tags["snnbench.run_id"] == record["run_id"]
    history = client.get_metric_history(run.info.run_id, "test_acc")
    assert [(m.step, round(m.value, 4)) for m in history] == [(r["epoch"], round(r["test_acc"], 4))
                                                              for r in record["curves"]]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.json", path.name}


def test_trackers_are_checked_first_and_never_stop_a_run(tmp_path, capsys, monkeypatch):
    assert main([*RUN, "--out", str(tmp_path), "--log", "wandb"]) == 2
    assert "invalid choice: 'wandb'" in capsys.readouterr().err
    import importlib.util

    from snnbench import trackers

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert main([*RUN, "--out", str(tmp_path), "--log", "mlflow"]) == 2
    assert "pip install 'snnbench[mlflow]'" in capsys.readouterr().err and not list(tmp_path.glob("*.json"))
    monkeypatch.undo()
    pytest.importorskip("tensorboard", reason="tensorboard (pip install 'snnbench[tensorboard]') is missing")

    def broken(self, epoch, row):
        raise OSError("disk full")

    monkeypatch.setattr(trackers.TensorBoard, "epoch", broken)
    assert main([*RUN, "--out", str(tmp_path), "--log", "tensorboard"]) == 0  # the run goes on
    assert _record(tmp_path)[1]["status"] == "completed"
