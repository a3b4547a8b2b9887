"""Reliability, round three (issue 34): one test per class of probe that got through before."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from snnbench import engine
from snnbench.checkpoints import load_checkpoint
from snnbench.cli import main
from snnbench.config import ConfigError, resolve_config
from snnbench.engine import RuntimeOptions, train
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


@pytest.mark.parametrize(("text", "says"), [
    ("options = 3\n", "options must be a table"),
    ("bogus = 1\n", "unknown key(s) bogus for method stbp"),
    ("[options]\nnope = 1\n", "unknown key(s) options.nope"),
    ("epochs = [1\n", "--config"),
])
def test_a_badly_structured_config_file_exits_2_naming_the_file_and_key(tmp_path, capsys, text, says):
    path = tmp_path / "exp.toml"
    path.write_text(text)
    assert main(["run", "--config", str(path), "--print-config"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and str(path) in err


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
    from types import SimpleNamespace

    record = SimpleNamespace(checkpoint="../../etc/passwd")  # what record_checkpoint reads of a Record
    assert record_checkpoint(record, tmp_path / "runs" / "r.json") is None
    assert record_checkpoint(SimpleNamespace(checkpoint="checkpoints/a.pt"), tmp_path / "r.json") == \
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
    assert row.budget.startswith("cpu_s=30 on ") and len(row.seeds) == 2 and row.epoch_counts == [3, 4]


def test_cpu_seconds_of_two_cpu_classes_are_two_budgets(tmp_path):
    """A CPU second of one CPU class is not one of another (the same 'AMD EPYC' VM was 2x faster per CPU
    second on family 25 than on the CPU of the earlier records): rows and standings never pool or compare
    them, and a record made before ``cpu_class`` existed says so."""
    from snnbench.leaderboard.standings import budget_text, standings_tables

    runs = tmp_path / "runs"
    runs.mkdir()
    classes = {"a": "AMD EPYC, family 25 model 17", "b": "AMD EPYC, family 23 model 49", "c": None}
    for name, cpu_class in classes.items():
        for method in ("stbp", "tet"):
            for seed in (0, 1):
                record = _a_record()
                record["method"], record["seed"] = method, seed
                record["config"].update(method=method, seed=seed, budget="cpu_s=30", epochs=1000)
                record["tags"] = {"suite": "cpu"}
                record["environment"] = {**record["environment"], "cpu": "AMD EPYC", "torch_threads": 1}
                if cpu_class:
                    record["environment"]["cpu_class"] = cpu_class
                (runs / f"{name}-{method}-{seed}.json").write_text(json.dumps(record))
    records, _ = load_records(runs)
    rows = build_rows(records, published=[])
    budgets = sorted({row.budget for row in rows})
    assert budgets == ["cpu_s=30 on AMD EPYC (CPU class not recorded)", "cpu_s=30 on AMD EPYC, family 23 model 49",
                       "cpu_s=30 on AMD EPYC, family 25 model 17"]
    assert all(len(row.seeds) == 2 for row in rows) and len(rows) == 6
    tables = standings_tables(rows)
    assert sorted(t.budget for t in tables) == budgets and all(len(t.entries) == 2 for t in tables)
    assert budget_text(budgets[2]) == ("budget 30 s of CPU time in training steps (one thread) on AMD EPYC, "
                                       "family 25 model 17")



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


# ---- 6. downloads without a size bound ------------------------------------------------------------------------
class _Oversized:
    """A loopback server that declares ``declared`` bytes (or no length) and streams ``sent`` bytes."""

    def __init__(self, declared: int | None, sent: int) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                if declared is not None:
                    self.send_header("Content-Length", str(declared))
                self.end_headers()
                try:
                    for _ in range(sent // 65536):
                        self.wfile.write(b"\0" * 65536)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/f.bin"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.mark.parametrize("declared, sent", [(50 << 30, 1 << 20), (None, 8 << 20)])
def test_a_response_larger_than_the_file_is_refused_and_leaves_nothing(tmp_path, declared, sent):
    from snnbench import files

    server = _Oversized(declared, sent)
    file = files.RemoteFile("train-labels-idx1-ubyte.gz", "0" * 32, server.url, "MNIST", size=28881)
    try:
        with pytest.raises(files.DataFileError, match="bound of 95861 bytes; refused"):
            files.download(file, tmp_path / file.name, backoff_s=0.01)
    finally:
        server.httpd.shutdown()
    assert list(tmp_path.iterdir()) == []  # no partial file of the 28 KB file, no lock


def test_every_downloadable_idx_file_declares_its_size():
    for name in ("mnist", "fashion-mnist"):
        for f in create_dataset(name).files:
            assert f.size is not None and f.size_bound() < 2 * f.size + (64 << 10)


# ---- 9. small ones: plug-ins that are not classes, event parsers that take NaN times and odd labels ----------
def test_a_plugin_entry_point_that_is_not_a_class_is_refused_with_its_name(caplog):
    from tests.test_plugins import load_method_plugin

    assert load_method_plugin("not-a-rule", "snnbench.budget:POINTS") == []
    assert "plug-in method 'not-a-rule' (snnbench.budget:POINTS) is refused: it loads a int, not a class" in caplog.text


@pytest.mark.parametrize("case", ["nan time", "negative time", "2-D labels", "float labels"])
def test_heidelberg_files_with_nan_times_or_odd_labels_are_refused(tmp_path, case):
    h5py = pytest.importorskip("h5py", reason="h5py (a dependency, through tonic) is missing")
    import zipfile

    from snnbench.datasets.shd import read_heidelberg
    from snnbench.files import DataFileError

    times = {"nan time": [0.1, np.nan], "negative time": [-0.5, 0.1]}.get(case, [0.1, 0.2])
    labels = {"2-D labels": np.zeros((2, 3), np.uint16), "float labels": np.array([0.5, 1.5])}.get(
        case, np.array([0, 1], np.uint16))
    h5_path = tmp_path / "shd_train.h5"
    with h5py.File(h5_path, "w") as f:
        t = f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float32))
        u = f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
        for i in range(2):
            t[i], u[i] = np.asarray(times, np.float32), np.asarray([1, 2], np.uint16)
        f["labels"] = labels
    archive = tmp_path / "shd_train.h5.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(h5_path, h5_path.name)
    says = "not finite and >= 0" if "time" in case else "labels must be one integer per sample"
    with pytest.raises(DataFileError, match=says):
        recordings, _ = read_heidelberg(archive, 20)
        list(recordings)


@pytest.mark.parametrize("case", ["event outside the sensor", "negative gesture start"])
def test_dvs_gesture_files_with_events_off_the_sensor_or_negative_times_are_refused(tmp_path, case):
    from snnbench.events import Binning
    from snnbench.files import DataFileError
    from tests.test_datasets_round4 import _aedat31, _ctx, _gesture_archive, _labels_csv

    kwargs = {"event outside the sensor": {"aedat_override": _aedat31([(10, 20, 1, 1500), (500, 20, 0, 2500)])},
              "negative gesture start": {"csv_override": _labels_csv([(3, -1000, 3000)])}}[case]
    Generated = _gesture_archive(tmp_path, **kwargs)
    says = "outside the 128x128 sensor" if "sensor" in case else "0 <= start < end"
    with pytest.raises(DataFileError, match=says):
        Generated().load("train", _ctx(tmp_path), 4, Binning("time_window", 1000, "count"))


def test_the_environment_names_the_cpu_class():
    """Every record names its CPU's family and model, not only the brand a VM reports."""
    from snnbench.records.provenance import cpu_class, environment

    info = Path("/proc/cpuinfo")
    if not info.exists() or "cpu family" not in info.read_text():
        pytest.skip("no /proc/cpuinfo with a cpu family on this machine")
    family = next(line for line in info.read_text().splitlines() if line.startswith("cpu family")).split(":")[1].strip()
    assert f"family {family} model " in cpu_class() and environment("cpu")["cpu_class"] == cpu_class()


def test_a_run_records_the_machines_speed_without_touching_the_random_streams(tmp_path):
    """A record's environment carries the GEMM rate as the run started (a shared host's speed drifts, and CPU
    seconds do not see it); measuring it draws no random numbers."""
    from snnbench.bench import gemm_gflops

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    rate = gemm_gflops(torch.device("cpu"), size=64)
    assert torch.equal(torch.rand(3), expected) and rate > 0
    assert main(["run", "--method", "stbp", "--dataset", "digits", "--epochs", "1", "-q", "--out",
                 str(tmp_path / "runs"), "--data-dir", str(tmp_path / "cache")]) == 0
    (record,) = (json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json"))
    assert isinstance(record["environment"]["gemm_gflops"], float) and record["environment"]["gemm_gflops"] > 0
    assert record["environment"]["gemm_gflops_cpu"] > 0  # per CPU second: what the budget's unit buys
    with pytest.raises(ValueError, match="clock must be"):
        gemm_gflops(torch.device("cpu"), size=8, clock="thread")
    # and the SIMD level its float32 kernels ran at (results are bit-reproducible within one level only)
    assert record["environment"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability() != ""


def test_cpu_seconds_on_several_threads_are_a_budget_of_their_own(tmp_path):
    """Two threads spend CPU seconds faster than they add samples: a cpu_s record made on 2 threads never
    pools with or is ranked against the one-thread cells (the CPU track's unit)."""
    from snnbench.leaderboard.standings import budget_text

    runs = tmp_path / "runs"
    runs.mkdir()
    for threads in (1, 2):
        for seed in (0, 1):
            record = _a_record()
            record["seed"] = seed
            record["config"].update(seed=seed, budget="cpu_s=30", epochs=1000)
            record["environment"] = {**record["environment"], "cpu_class": "Xeon, family 6 model 207",
                                     "torch_threads": threads}
            (runs / f"t{threads}-{seed}.json").write_text(json.dumps(record))
    rows = build_rows(load_records(runs)[0], published=[])
    assert sorted(row.budget for row in rows) == ["cpu_s=30 on Xeon, family 6 model 207",
                                                  "cpu_s=30 on Xeon, family 6 model 207, 2 threads"]
    assert budget_text(rows[0].budget if rows[0].budget.endswith("threads") else rows[1].budget) == (
        "budget 30 s of CPU time in training steps (2 threads) on Xeon, family 6 model 207")


def test_thread_defaults_a_user_gets_right():
    """Without --threads: one thread under a cpu_s budget on a CPU, torch's choice otherwise; suite workers
    sharing a machine take their share of the cores."""
    from snnbench.engine import default_threads
    from snnbench.suite import worker_threads

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert default_threads(0, "cpu_s=30", cpu) == 1 and default_threads(3, "cpu_s=30", cpu) == 3
    assert default_threads(0, "", cpu) == 0 and default_threads(0, "cpu_s=30", gpu) == 0
    assert default_threads(0, "samples=100", cpu) == 0
    with pytest.raises(ConfigError, match="--threads"):
        default_threads(-1, "", cpu)
    assert worker_threads(0, 2, cores=2) == 1 and worker_threads(0, 2, cores=16) == 8
    assert worker_threads(0, 4, cores=2) == 1 and worker_threads(3, 2, cores=16) == 3
