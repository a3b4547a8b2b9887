import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnbench.checkpoints import checkpoint_path
from snnbench.config import ConfigError, parse_sets, resolve_config
from snnbench.engine import RuntimeOptions, train
from snnbench.records import SCHEMA_VERSION, validate_record, write_record
from snnbench.registry import create_dataset, create_method


def digits_cfg(epochs: int, **sets):
    return resolve_config(create_method("stbp"), create_dataset("digits"), {"epochs": epochs},
                          {"steps": 4, "batch_size": 64, **sets})


def runtime(tmp_path: Path, out: str, **kw) -> RuntimeOptions:
    return RuntimeOptions(device="cpu", data_dir=str(tmp_path / "cache"), out=tmp_path / out, **kw)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    straight, _ = train(digits_cfg(2), runtime(tmp_path, "a"))
    first, _ = train(digits_cfg(1), runtime(tmp_path, "b"))
    resumed, _ = train(digits_cfg(2), runtime(tmp_path, "b", resume=True))
    a = torch.load(checkpoint_path(digits_cfg(2), tmp_path / "a"), weights_only=False)
    b = torch.load(checkpoint_path(digits_cfg(2), tmp_path / "b"), weights_only=False)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert [r["test_acc"] for r in resumed["curves"]] == [r["test_acc"] for r in straight["curves"]]
    assert resumed["curves"][0] == first["curves"][0]
    assert resumed["epochs"] == 2


def test_record_is_valid_complete_and_atomic(tmp_path):
    record, path = train(digits_cfg(2), runtime(tmp_path, "runs"))
    assert validate_record(record) == []
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(record))
    assert on_disk["schema_version"] == SCHEMA_VERSION and on_disk["status"] == "completed"
    assert on_disk["config"]["steps"] == 4 and on_disk["config_hash"] == digits_cfg(2).hash()
    curves, results = on_disk["curves"], on_disk["results"]
    vals, tests = [row["val_acc"] for row in curves], [row["test_acc"] for row in curves]
    assert len(curves) == 2 and None not in vals
    best = vals.index(max(vals))  # computed here from the validation curve, not read back from the record
    assert results["best_val_epoch"] == best + 1 and results["best_val_acc"] == max(vals)
    assert results["test_acc_at_best_val"] == tests[best] and results["test_acc_last"] == tests[-1]
    assert results["max_test_acc"] == max(tests) and results["max_test_epoch"] == tests.index(max(tests)) + 1
    assert on_disk["cost"]["params"] == 8 * 8 * 128 + 128 + 128 * 10 + 10
    assert on_disk["cost"]["peak_gpu_mem_mib"] is None and on_disk["cost"]["ms_per_step"] > 0
    env = on_disk["environment"]
    assert env["torch"] == torch.__version__ and env["python"] and env["cpu"]
    assert {"git_commit", "git_dirty", "triton", "cuda", "gpu"} <= env.keys()
    firing = on_disk["firing"]
    assert len(firing) == 2  # hidden layer and output layer
    for stats in firing.values():
        assert 0 <= stats["mean_rate"] <= 1 and 0 <= stats["silent_fraction"] <= 1
        assert stats["share_zero"] + stats["share_once"] + stats["share_more"] == pytest.approx(1)
        assert sum(stats["count_histogram"]) == 360 * stats["neurons"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_invalid_records_are_rejected_with_reasons(tmp_path):
    record, _ = train(digits_cfg(1), runtime(tmp_path, "runs"))
    broken = dict(record)
    del broken["curves"]
    broken["status"] = "great"
    broken["cost"] = {**record["cost"], "params": "many"}
    problems = validate_record(broken)
    assert "missing field curves" in problems
    assert any("status 'great'" in p for p in problems)
    assert "field cost.params has type str" in problems
    with pytest.raises(ValueError, match="invalid record"):
        write_record(broken, tmp_path / "bad")
    assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def test_callback_can_stop_a_run_and_the_record_says_so(tmp_path):
    class Prune(Exception):
        pass

    seen = []

    def callback(epoch, row):
        seen.append((epoch, row["val_acc"]))
        if epoch == 2:
            raise Prune("val accuracy too low")

    with pytest.raises(Prune):
        train(digits_cfg(5), runtime(tmp_path, "runs"), callback=callback)
    assert [e for e, _ in seen] == [1, 2] and all(v is not None for _, v in seen)
    (path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "stopped" and "val accuracy too low" in record["stop_reason"]
    assert record["epochs"] == 2 and validate_record(record) == []


def test_set_overrides_and_rejects_unknown_keys():
    method, dataset = create_method("stbp"), create_dataset("digits")
    cfg = resolve_config(method, dataset, {"steps": 3}, parse_sets(["lr=0.01", "threshold=1", "options.vote=2"]))
    assert cfg.steps == 3 and cfg.lr == 0.01 and cfg.options.threshold == 1.0 and cfg.options.vote == 2
    with pytest.raises(ConfigError, match="unknown --set key 'thresh'.*valid keys: .*threshold"):
        resolve_config(method, dataset, {}, parse_sets(["thresh=1"]))
    with pytest.raises(ConfigError, match="expected a int"):
        resolve_config(method, dataset, {}, parse_sets(["epochs=many"]))
    with pytest.raises(ConfigError, match="key=value"):
        parse_sets(["lr"])
    # "none" is a choice for string fields (augment, lr_schedule), not Python's None
    cfg = resolve_config(create_method("tet"), dataset, {}, parse_sets(["augment=none", "lr_schedule=none"]))
    assert cfg.augment == "none" and cfg.lr_schedule == "none"


def test_recipes_are_selected_by_dataset_family():
    method = create_method("stbp")
    assert resolve_config(method, create_dataset("nmnist-1k")).arch == "800"
    assert resolve_config(method, create_dataset("cifar10-jpeg")).options.vote == 10
    mnist = resolve_config(method, create_dataset("mnist"))
    assert mnist.arch == "15C5-P2-40C5-P2-300" and mnist.steps == 5 and mnist.encoding == "direct"


def test_default_run_trains_digits_fast_and_well(tmp_path):
    """Acceptance: `snnbench run` with no options, on the CPU, under 90 s, >= 90% test accuracy."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "snnbench.cli", "run", "--out", str(tmp_path / "runs"),
                             "--data-dir", str(tmp_path / "cache"), "--device", "cpu"],
                            capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert elapsed < 90
    (path,) = (tmp_path / "runs").glob("*.json")
    record = json.loads(path.read_text())
    assert validate_record(record) == []
    assert record["method"] == "stbp" and record["dataset"] == "digits"
    assert record["results"]["test_acc_at_best_val"] >= 90.0
    assert str(path) in result.stdout.replace("\n", "")


def test_mixed_precision_and_rate_encoding_train(tmp_path):
    record, _ = train(digits_cfg(1, amp=True, encoding="rate"), runtime(tmp_path, "runs"))
    assert record["config"]["amp"] and record["dataset_info"]["encoding"]["kind"] == "rate"
    assert record["results"]["test_acc_last"] > 30.0  # one epoch, well above the 10% of chance


def test_headline_epoch_is_the_validation_argmax_never_the_test_one():
    from snnbench.records.build import best_epoch_index

    curves = [{"val_acc": 80.0, "test_acc": 95.0}, {"val_acc": 90.0, "test_acc": 85.0},
              {"val_acc": 90.0, "test_acc": 99.0}, {"val_acc": 70.0, "test_acc": 60.0}]
    assert best_epoch_index(curves) == 1  # highest validation, earliest tie; not test's argmax (2), not last
    assert best_epoch_index([{"val_acc": None, "test_acc": 1.0}] * 3) == 2  # no validation split: last
    assert best_epoch_index([]) is None


def test_the_record_says_how_much_the_input_pipeline_costs(tmp_path):
    """cost.feed_ratio = samples/s over 1000 × batch / ms_per_step (issue 19's pipeline target)."""
    from snnbench.records.build import feed_ratio

    assert feed_ratio(1000, 2.0, [1.0] * 10, 100) == 0.005  # 500 samples/s where the steps allow 100000
    assert feed_ratio(0, 1.0, [], 10) is None
    from snnbench.cli import main

    assert main(["run", "-q", "--epochs", "2", "--max-train-samples", "300", "--out", str(tmp_path)]) == 0
    import json

    (path,) = tmp_path.glob("*.json")
    cost = json.loads(path.read_text())["cost"]
    expected = cost["samples_per_s"] / (1000 * 32 / cost["ms_per_step"])
    assert 0 < cost["feed_ratio"] <= 1.05 and abs(cost["feed_ratio"] - expected) < 1e-3
