"""Reliability, round three (issue 34): one test per class of probe that got through before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snnbench import engine
from snnbench.cli import main
from snnbench.config import ConfigError, resolve_config
from snnbench.engine import RuntimeOptions, load_checkpoint, train
from snnbench.leaderboard import build_rows, load_records, to_markdown
from snnbench.records import record_checkpoint
from snnbench.registry import create_dataset, create_method
from tests.test_reliability import _a_record

SMALL = {"stbp": {}, "stbp-tdbn": {}, "tet": {}, "tsslbp": {}, "slayer": {},
         "st-rsbp": {"effect_trials": 8, "steps": 30}, "hm2-bp": {"effect_trials": 8, "steps": 30}}


# ---- 2. files that pass a shape check and carry garbage; non-finite weights fail the run ---------------------
def test_an_effect_file_with_nan_or_inf_is_refused_before_training(tmp_path):
    table = np.ones((100, 5))
    table[7, 2] = np.nan
    path = tmp_path / "p_Tau_64_400-100.txt"
    np.savetxt(path, table)
    from snnbench.methods.st_rsbp import load_effect_file

    with pytest.raises(ConfigError, match=r"not finite.*row 8, column 3"):
        load_effect_file(path)


@pytest.mark.parametrize("method", sorted(SMALL))
def test_a_run_whose_weights_become_nan_fails_and_is_recorded_failed(tmp_path, monkeypatch, method):
    step = engine.train_step

    def poisoned(model, *args, **kwargs):
        out = step(model, *args, **kwargs)
        with torch.no_grad():
            next(p for p in model.parameters() if p.requires_grad).view(-1)[0] = float("nan")
        return out

    monkeypatch.setattr(engine, "train_step", poisoned)
    cfg = resolve_config(create_method(method), create_dataset("digits"), {"epochs": 2, "max_train_samples": 40,
                                                                             "max_test_samples": 20},
                         {"batch_size": 8, **SMALL[method]})
    with pytest.raises(engine.NonFiniteError, match="status failed"):
        train(cfg, RuntimeOptions(device="cpu", data_dir=str(tmp_path / "cache"), out=tmp_path / "runs"))
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    assert record["status"] == "failed" and "NaN" in record["stop_reason"]


# ---- 3. values the board believes ----------------------------------------------------------------------------
@pytest.mark.parametrize(("poison", "field"), [
    (lambda r: r["results"].update(test_acc_at_best_val=1e308), "results.test_acc_at_best_val"),
    (lambda r: r["results"].update(test_acc_at_best_val=500.0), "results.test_acc_at_best_val"),
    (lambda r: r["curves"][0].update(test_acc=-3.0), "curves[0].test_acc"),
    (lambda r: r.update(epochs=-1), "epochs"),
    (lambda r: r["cost"].update(train_time_s=-5.0), "cost.train_time_s"),
    (lambda r: r["curves"][0].update(epoch_time_s=-1.0), "curves[0].epoch_time_s"),
])
def test_out_of_range_values_leave_the_record_out_naming_the_field(tmp_path, poison, field):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "good.json").write_text(json.dumps(_a_record()))
    bad = _a_record()
    poison(bad)
    (runs / "bad.json").write_text(json.dumps(bad))
    records, skipped = load_records(runs)
    assert [p.name for p, _ in records] == ["good.json"]
    assert [p.name for p, _ in skipped] == ["bad.json"] and field in skipped[0][1]


# ---- 4. markdown links -------------------------------------------------------------------------------------
HOSTILE = "[click](javascript:alert(1)) ![img](http://x/y.png) <b>x</b> *e* `c`"


def test_hostile_strings_in_record_fields_never_make_links_in_markdown(tmp_path):
    record = _a_record()
    record["arch"] = HOSTILE
    record["config"]["augment"] = HOSTILE  # shown as an option
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "r.json").write_text(json.dumps(record))
    records, _ = load_records(runs)
    md = to_markdown(build_rows(records, published=[]), [(Path(HOSTILE + ".json"), HOSTILE)])
    assert "](javascript" not in md and "](http://x" not in md and "<b>" not in md
    assert "\\[click\\]\\(javascript:alert\\(1\\)\\)" in md  # shown, as text


# ---- 5. badly structured user files ----------------------------------------------------------------------------
SUITE = """name = "bad"
seeds = [0]
[[matrix]]
methods = ["stbp"]
datasets = ["digits"]
epochs = 1
"""


@pytest.mark.parametrize(("extra", "says"), [
    ("flags = {bogus = 1}", "unknown flags key(s) bogus"),
    ("flags = 3", "flags must be a table"),
    ("set = [1]", "set must be a table"),
    ("seeds = [\"a\"]", "seeds must be a list of integers"),
    ("budget = 3", "budget must be a string"),
])
def test_a_badly_structured_suite_file_exits_2_naming_the_key(tmp_path, capsys, extra, says):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE + extra + "\n")
    assert main(["suite", "status", str(path), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert says in " ".join(err.split()) and str(path) in " ".join(err.split())


@pytest.mark.parametrize("damage", [lambda r: r.update(config=[1, 2]), lambda r: r.update(config={"epochs": "x"}),
                                    lambda r: r.pop("method"), lambda r: r.update(results=None)])
def test_a_badly_structured_from_record_file_exits_2(tmp_path, capsys, damage):
    record = _a_record()
    damage(record)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    assert main(["run", "--from-record", str(path), "--out", str(tmp_path / "runs")]) == 2
    assert "--from-record" in capsys.readouterr().err


# ---- 7. torch loader errors ----------------------------------------------------------------------------------
def test_any_unreadable_checkpoint_is_one_clear_refusal(tmp_path):
    rng = np.random.default_rng(0)
    candidates = [Path("/etc/passwd")]
    good = tmp_path / "good.pt"
    torch.save({"model": {"w": torch.ones(3)}}, good)
    blob = good.read_bytes()
    for i in range(40):
        fuzzed = bytearray(blob)
        for at in rng.integers(0, len(fuzzed), size=8):
            fuzzed[at] = int(rng.integers(0, 256))
        path = tmp_path / f"f{i}.pt"
        path.write_bytes(bytes(fuzzed))
        candidates.append(path)
    refused = 0
    for path in candidates:
        try:
            load_checkpoint(path)
        except ConfigError as err:
            refused += 1
            assert "weights_only=False" not in str(err) and str(path) in str(err)
    assert refused >= 30  # most fuzzed files; the rest happened to stay loadable plain data


def test_a_record_checkpoint_path_stays_inside_its_folder(tmp_path):
    record = {"checkpoint": "../../etc/passwd"}
    assert record_checkpoint(record, tmp_path / "runs" / "r.json") is None
    assert record_checkpoint({"checkpoint": "checkpoints/a.pt"}, tmp_path / "r.json") == \
        (tmp_path / "checkpoints" / "a.pt").resolve()


# ---- 8. options that do nothing ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["--set", "event_binning=time_window", "--set", "event_window_us=1000"],
                                  ["--set", "event_stabilize=true"], ["--seed", str(2**32)]])
def test_do_nothing_options_and_huge_seeds_exit_2_before_data(tmp_path, capsys, argv):
    assert main(["run", *argv, "--out", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err
    assert ("event" in err or "seed" in err) and not (tmp_path / "cache").exists()


# ---- 9. small ones -------------------------------------------------------------------------------------------
def test_empty_out_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        from snnbench.cli import build_parser

        build_parser().parse_args(["run", "--out", ""])
    assert stop.value.code == 2 and main(["run", "--out", "", "--epochs", "1"]) == 2
    assert not any(p.suffix == ".json" for p in tmp_path.iterdir())


def test_error_messages_print_user_text_without_emoji_codes(tmp_path, capsys):
    assert main(["run", "--method", ":x:"]) == 2
    assert "':x:'" in capsys.readouterr().err


def test_budget_runs_are_grouped_by_budget_not_by_the_epochs_they_reached(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed, epochs in ((0, 3), (1, 4)):
        record = _a_record()
        record["seed"], record["epochs"] = seed, epochs
        record["config"].update(seed=seed, budget="cpu_s=30", epochs=1000)
        record["curves"] = (record["curves"] * 4)[:epochs]
        record["tags"] = {"suite": "cpu"}
        (runs / f"r{seed}.json").write_text(json.dumps(record))
    records, skipped = load_records(runs)
    assert not skipped
    (row,) = build_rows(records, published=[])
    assert row.budget == "cpu_s=30" and len(row.seeds) == 2 and row.epoch_counts == [3, 4]



def test_a_missing_dataset_names_what_is_missing_and_the_variant_that_is_here(tmp_path):
    from snnbench.files import DataContext, DataFileError, resolve

    mirror = tmp_path / "mirror"
    subset = create_dataset("nmnist-1k").files[0]
    (mirror / subset.mirror_subdir).mkdir(parents=True)
    (mirror / subset.mirror_subdir / subset.name).write_bytes(b"")  # present (its md5 is checked when used)
    ctx = DataContext.from_options(str(tmp_path / "cache"), str(mirror), False)
    with pytest.raises(DataFileError) as err:
        resolve(create_dataset("nmnist").files[0], ctx, "nmnist")
    first = str(err.value).splitlines()[0]
    assert first.startswith("nmnist is not on this machine") and "here instead: nmnist-1k" in first


def test_a_host_that_does_not_resolve_is_not_retried(tmp_path, monkeypatch):
    import socket
    import time
    import urllib.error

    from snnbench import files

    calls = []

    def unresolvable(*args, **kwargs):
        calls.append(1)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(files, "_fetch", unresolvable)
    start = time.perf_counter()
    with pytest.raises(urllib.error.URLError):
        files.download(files.RemoteFile("x.bin", "0" * 32, "https://no.such.host/x.bin", "X"), tmp_path / "x.bin")
    assert calls == [1] and time.perf_counter() - start < 1.0
    assert list(tmp_path.iterdir()) == []  # neither a partial file nor the lock is left
