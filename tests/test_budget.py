"""Compute budgets (snnbench.budget): a run stops where its budget says, evaluates on the way, and resumes
with what it had spent."""

import pytest
import torch

from snnbench.budget import Budget, BudgetError, parse_budget
from snnbench.checkpoints import checkpoint_path
from snnbench.config import ConfigError
from snnbench.engine import train
from snnbench.kernels.denormals import set_flush_denormal
from tests.test_engine import digits_cfg, runtime


def test_parse_budget_accepts_the_four_kinds_and_names_the_valid_ones():
    assert parse_budget("") is None and parse_budget("none") is None
    assert parse_budget("cpu_s=600") == Budget("cpu_s", 600.0)
    assert parse_budget("samples=5000") == Budget("samples", 5000.0)
    for bad in ("cpu=10", "samples=1.5", "updates=0", "wall_s=-1", "cpu_s"):
        with pytest.raises(BudgetError, match="budget="):
            parse_budget(bad)
    with pytest.raises(ConfigError, match="cpu_s, wall_s, samples, updates"):
        digits_cfg(1, budget="gpu_s=3")


def test_fractions_are_log_spaced_and_end_at_the_budget():
    fractions = Budget("samples", 100).fractions()
    assert len(fractions) == 10 and fractions[0] == 0.01 and fractions[-1] == 1.0
    ratios = [b / a for a, b in zip(fractions, fractions[1:], strict=False)]
    assert max(ratios) - min(ratios) < 1e-3  # geometric


def test_updates_and_samples_budgets_stop_mid_epoch_exactly(tmp_path):
    # digits: 1437 train images, 10 % validation -> 1293 in batches of 64 = 21 steps per epoch
    record, _ = train(digits_cfg(5, budget="updates=30"), runtime(tmp_path, "u"))
    budget = record["budget"]
    assert budget["spent"]["updates"] == 30 and budget["stopped_by"] == "budget"
    assert record["epochs"] == 2  # 21 steps, then 9 of the second epoch
    assert budget["spent"]["samples"] == 1293 + 9 * 64  # the first epoch ends on a partial batch of 13
    record, _ = train(digits_cfg(5, budget="samples=100"), runtime(tmp_path, "s"))
    assert record["budget"]["spent"]["samples"] == 128 and record["budget"]["spent"]["updates"] == 2
    assert record["epochs"] == 1


def test_every_point_is_evaluated_and_the_last_carries_the_final_test(tmp_path):
    record, _ = train(digits_cfg(5, budget="updates=50"), runtime(tmp_path, "p"))
    points = record["budget"]["points"]
    assert [p["fraction"] for p in points] == Budget("updates", 50).fractions()
    assert [p["updates"] for p in points] == sorted(p["updates"] for p in points)
    assert all(p["updates"] >= p["fraction"] * 50 for p in points)
    assert all(p["val_acc"] is not None for p in points)
    assert points[-1]["test_acc"] == record["curves"][-1]["test_acc"] == record["results"]["test_acc_last"]
    assert all(p["test_acc"] is None for p in points[:-1])
    assert points[-1]["val_acc"] == record["curves"][-1]["val_acc"]


def test_a_cpu_time_budget_stops_within_one_step_of_it(tmp_path):
    record, _ = train(digits_cfg(500, budget="cpu_s=1.5"), runtime(tmp_path, "c", threads=1))
    spent = record["budget"]["spent"]
    step_s = max(record["cost"]["median_ms_per_step"] / 1000, 0.05)
    assert 1.5 <= spent["cpu_s"] < 1.5 + 4 * step_s
    assert record["budget"]["stopped_by"] == "budget" and record["epochs"] < 500
    assert record["environment"]["torch_threads"] == 1
    assert record["cost"]["train_time_s"] >= spent["wall_s"] * 0.9  # evaluation is not training time


def test_epochs_stay_the_upper_bound(tmp_path):
    record, _ = train(digits_cfg(1, budget="samples=100000"), runtime(tmp_path, "e"))
    assert record["budget"]["stopped_by"] == "epochs" and record["epochs"] == 1
    assert len(record["budget"]["points"]) < 10  # the points beyond one epoch were never reached


def test_a_resumed_budget_run_equals_an_uninterrupted_one(tmp_path):
    straight, _ = train(digits_cfg(3, budget="updates=50"), runtime(tmp_path, "a"))
    train(digits_cfg(1, budget="updates=50"), runtime(tmp_path, "b"))  # one epoch: 21 of the 50 spent
    resumed, _ = train(digits_cfg(3, budget="updates=50"), runtime(tmp_path, "b", resume=True))
    assert resumed["budget"]["spent"]["updates"] == 50 and resumed["epochs"] == straight["epochs"] == 3
    a = torch.load(checkpoint_path(digits_cfg(3, budget="updates=50"), tmp_path / "a"), weights_only=False)
    b = torch.load(checkpoint_path(digits_cfg(3, budget="updates=50"), tmp_path / "b"), weights_only=False)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    keep = ("fraction", "epoch", "samples", "updates", "val_acc", "test_acc")
    assert ([{k: p[k] for k in keep} for p in resumed["budget"]["points"]]
            == [{k: p[k] for k in keep} for p in straight["budget"]["points"]])


def test_the_budget_is_hashed_and_older_hashes_do_not_move():
    assert digits_cfg(2).hash() != digits_cfg(2, budget="samples=100").hash()
    assert "budget" not in __import__("snnbench.config", fromlist=["hashed_config"]).hashed_config(
        digits_cfg(2).as_dict())


def test_the_projection_ends_where_the_budget_ends_first():
    from snnbench.budget import Spent, projected_train_s

    spent = Spent(cpu_s=10.0, wall_s=20.0, samples=640, updates=10)
    assert projected_train_s(None, spent, 0.5, 0.25, 64, 1000) == 500.0
    assert projected_train_s(Budget("wall_s", 100), spent, 0.5, 0.25, 64, 1000) == 80.0
    assert projected_train_s(Budget("cpu_s", 60), spent, 0.5, 0.25, 64, 1000) == 100.0  # 50 CPU-s at 2 wall/CPU
    assert projected_train_s(Budget("samples", 1000), spent, 0.5, 0.25, 64, 1000) == 3.0  # 360 left: 6 steps
    assert projected_train_s(Budget("updates", 20), spent, 0.5, 0.25, 64, 1000) == 5.0
    assert projected_train_s(Budget("updates", 20000), spent, 0.5, 0.25, 64, 4) == 2.0  # the epochs end first


def test_a_run_projected_to_take_long_logs_its_estimate_and_continues(tmp_path, caplog, monkeypatch):
    import snnbench.budget as budget

    monkeypatch.setattr(budget, "LONG_RUN_S", 0.0)  # every run is "long"
    with caplog.at_level("WARNING", logger="snnbench.engine"):
        record, _ = train(digits_cfg(2), runtime(tmp_path, "e"))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("estimate:")]
    assert len(lines) == 1 and "on cpu" in lines[0] and "2 epochs" in lines[0] and "--budget" in lines[0]
    assert record["status"] == "completed" and record["epochs"] == 2
    caplog.clear()
    monkeypatch.setattr(budget, "LONG_RUN_S", 3600.0)  # a digits run takes seconds: nothing to say
    with caplog.at_level("WARNING", logger="snnbench.engine"):
        train(digits_cfg(1), runtime(tmp_path, "f"))
    assert not [r for r in caplog.records if r.getMessage().startswith("estimate:")]


def test_flush_denormal_is_a_named_setting_the_run_applies(tmp_path):
    """flush_denormal (denormal floats flushed to zero on the CPU) is a config field: off by default and then
    out of the hash (older hashes do not move), hashed when on, and applied by the run's setup."""
    from snnbench.config import hashed_config

    base = digits_cfg(1)
    flushed = digits_cfg(1, flush_denormal=True)
    assert not base.flush_denormal and "flush_denormal" not in hashed_config(base.as_dict())
    assert hashed_config(flushed.as_dict())["flush_denormal"] is True and flushed.hash() != base.hash()
    try:
        record, _ = train(flushed, runtime(tmp_path, "f"))
        assert record["config"]["flush_denormal"] is True
        assert torch.tensor([1e-40]).mul(1.0).item() == 0.0  # the process now flushes denormals
        train(base, runtime(tmp_path, "b"))
        assert torch.tensor([1e-40]).mul(1.0).item() != 0.0  # and the next run's setup turns it off again
    finally:
        set_flush_denormal(False)


_COMPILES_IN_A_STEP = """
import json, sys
from snnbench import engine
from snnbench.config import resolve_config
from snnbench.engine import RuntimeOptions, train
from snnbench.kernels import numba_jit
from snnbench.registry import create_dataset, create_method

out = sys.argv[1]
if sys.argv[2] == "cold":  # what a run was before the warm-up: compiled in its first steps
    numba_jit._warmed = True
before, grown, method = numba_jit.compiled_signatures(), {}, None
step = engine.train_step

def counted(*args, **kwargs):
    start = numba_jit.compiled_signatures()
    result = step(*args, **kwargs)
    grown[method] = grown.get(method, 0) + numba_jit.compiled_signatures() - start
    return result

engine.train_step = counted
for method, sets in [("stbp", {}), ("stbp-tdbn", {}), ("tet", {"arch": "4C3-P2-32"}), ("tsslbp", {}),
                     ("slayer", {}), ("st-rsbp", {"effect_trials": 8, "steps": 30}),
                     ("hm2-bp", {"effect_trials": 8, "steps": 30})]:
    cfg = resolve_config(create_method(method), create_dataset("digits"),
                         {"epochs": 1, "max_train_samples": 16, "max_test_samples": 8}, {"batch_size": 8, **sets})
    train(cfg, RuntimeOptions(device="cpu", data_dir=out + "/cache", out=out + "/" + method))
print(json.dumps({"before": before, "grown": grown}))
"""


def test_no_loop_is_compiled_inside_a_training_step(tmp_path):
    """Every compiled CPU loop is built when the network is built, before a budget's clock starts: in a fresh
    process, training steps of all seven rules (the pool of a CNN included) compile nothing; without the
    warm-up the same steps would (which is what the check can see)."""
    from snnbench.kernels.numba_jit import AVAILABLE

    if not AVAILABLE:
        pytest.skip("numba is not installed (or SNNBENCH_NUMBA=0): no compiled loops")
    import json
    import subprocess
    import sys

    def grown(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _COMPILES_IN_A_STEP, str(tmp_path / mode), mode],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["before"] == 0  # a fresh process: nothing compiled or loaded before the first build
        return result["grown"]

    assert grown("warm") == dict.fromkeys(["stbp", "stbp-tdbn", "tet", "tsslbp", "slayer", "st-rsbp", "hm2-bp"], 0)
    cold = grown("cold")
    assert cold["stbp"] > 0 and cold["tet"] > 0 and cold["tsslbp"] > 0 and cold["slayer"] > 0


_DENORMALS_IN_EVERY_THREAD = """
import json, torch
from snnbench.bench import BenchCase, method_step
from snnbench.kernels.denormals import set_flush_denormal
torch.set_num_threads(2)
x, a, eye = torch.full((1_000_000,), 1e-39), torch.full((256, 256), 1e-39), torch.eye(256)
def survivors():  # denormal results of a parallel elementwise op and of an MKL GEMM
    return [int((x * 1.0).ne(0).sum()), int((a @ eye).ne(0).sum())]
survivors()  # the OpenMP team exists before any mode is set, as in a run
torch.set_flush_denormal(True)
calling_only = survivors()
threads = set_flush_denormal(True)
every = survivors()
set_flush_denormal(False)
off = survivors()
case = BenchCase("yin-yang/stbp", "yin-yang", "120", 4, 8, (4, 1, 1), classes=3, flush_denormal=True)
method_step("stbp", case, case.steps, torch.device("cpu"))  # build_model applies the cell's setting
print(json.dumps({"calling_only": calling_only, "threads": threads, "every": every, "off": off,
                  "after_a_flushed_step": survivors()}))
"""


def test_flush_denormal_reaches_every_intra_op_thread():
    """torch.set_flush_denormal sets the calling thread's mode only: with two threads, half of a parallel op
    still computed on denormals (SLAYER's MNIST step ran 4x slower on two threads). set_flush_denormal (what
    build_model applies) sets it in each thread of torch's OpenMP team, and takes it off again."""
    import json
    import subprocess
    import sys

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode (torch.set_flush_denormal returns False)")
    done = subprocess.run([sys.executable, "-c", _DENORMALS_IN_EVERY_THREAD], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["calling_only"][0] > 0  # the worker thread's share was not flushed: what the check catches
    assert seen["threads"] == 2 and seen["every"] == [0, 0]
    assert seen["off"] == [1_000_000, 256 * 256]
    assert seen["after_a_flushed_step"] == [0, 0]
