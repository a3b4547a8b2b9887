"""Suites: files resolve up front (bad input exits 2 naming the file), the queue runs every cell once,
a second run trains nothing, status and report read the records, and three workers sharing a real
PostgreSQL queue finish every cell exactly once when one of them is killed mid-cell."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from snnbench import suite as suites
from snnbench.config import ConfigError

DIGITS_SUITE = """
name = "tiny"
description = "two rules on digits"
seeds = [0, 1]
[thresholds]
digits = [50]
[[matrix]]
methods = ["stbp", "tet"]
datasets = ["digits"]
epochs = {epochs}
flags = {{ max_train_samples = {samples} }}
"""


def _cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _write_suite(tmp_path: Path, epochs: int = 1, samples: int = 200) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(DIGITS_SUITE.format(epochs=epochs, samples=samples))
    return path


def test_shipped_suites_resolve_and_cover_every_rule():
    from snnbench.registry import list_methods

    assert {"smoke", "equal-budget", "paper"} <= set(suites.suite_names())
    smoke = suites.load_suite("smoke")
    assert {c.config.method for c in smoke.cells} == set(list_methods())
    assert {c.config.dataset for c in smoke.cells} == {"digits"}
    equal = suites.load_suite("equal-budget")
    per_dataset = {}
    for cell in equal.cells:
        per_dataset.setdefault(cell.config.dataset, set()).add(cell.config.epochs)
    assert all(len(epochs) == 1 for epochs in per_dataset.values())  # one budget per dataset
    assert {c.config.seed for c in equal.cells} == {0, 1, 2}


@pytest.mark.parametrize("text, message", [
    ('name = "x"\n[[matrix]]\nmethods = ["stbp"]\ndatasets = ["digits"]\nepochs = 1\nset = { bogus = 1 }\n',
     "[[matrix]] 1 (stbp on digits, seed 0)"),
    ('name = "x"\n[[matrix]]\nmethods = ["nope"]\ndatasets = ["digits"]\nepochs = 1\n', "nope"),
    ('name = "x"\n[[matrix]]\nmethods = ["stbp"]\nepochs = = 1\n', "line 4"),
    ('name = "x"\nmatrixx = 1\n', "unknown key"),
])
def test_bad_suite_files_exit_2_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    proc = _cli("suite", "run", str(path), "--out", str(tmp_path / "runs"))
    assert proc.returncode == 2, proc.stderr
    assert "bad.toml" in proc.stderr.replace("\n", "") and message in proc.stderr.replace("\n", "")
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*.json"))


def test_unreachable_storage_exits_2_before_any_cell(tmp_path):
    proc = _cli("suite", "run", str(_write_suite(tmp_path)), "--out", str(tmp_path / "runs"), "--storage",
                "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert proc.returncode == 2 and "127.0.0.1:1" in proc.stderr.replace("\n", "")
    assert not list((tmp_path / "runs").glob("*.json"))


def test_run_is_resumable_and_status_report_read_the_records(tmp_path):
    path, out = _write_suite(tmp_path), tmp_path / "runs"
    first = _cli("suite", "run", str(path), "--out", str(out))
    assert first.returncode == 0, first.stderr[-2000:]
    records = sorted(out.glob("*.json"))
    assert len(records) == 4 and "4/4 cells done" in first.stdout
    tags = [json.loads(p.read_text())["tags"] for p in records]
    assert {t["suite"] for t in tags} == {"tiny"} and not any(t.get("shared_device") for t in tags)
    second = _cli("suite", "run", str(path), "--out", str(out))
    assert second.returncode == 0 and "0 to run" in second.stdout
    assert sorted(out.glob("*.json")) == records  # nothing trained again
    status = _cli("suite", "status", str(path), "--out", str(out))
    assert status.returncode == 0 and "4 done, 0 running, 0 failed, 0 missing" in status.stdout
    records[0].unlink()  # a lost record is a missing cell, and the next run trains only that one
    assert "1 missing" in _cli("suite", "status", str(path), "--out", str(out)).stdout
    third = _cli("suite", "run", str(path), "--out", str(out))
    assert third.returncode == 0 and "1 to run" in third.stdout and len(list(out.glob("*.json"))) == 4
    report = _cli("suite", "report", str(path), "--out", str(out))
    assert report.returncode == 0 and "| digits | stbp" in report.stdout and "| digits | tet" in report.stdout
    assert "time budget (s)" in report.stdout  # the equal-time table


def test_equal_time_reads_the_curves():
    from types import SimpleNamespace

    from snnbench.leaderboard.suites import _within, equal_time_table
    from snnbench.records import Curve

    def curve(epoch: int, acc: float) -> Curve:
        return Curve(epoch=epoch, train_loss=1.0, train_acc=acc, val_acc=None, test_acc=acc, epoch_time_s=2.0, lr=0.1)

    def record(method: str, train_time_s: float, curves: list[Curve]) -> SimpleNamespace:  # what the table reads
        return SimpleNamespace(dataset="d", method=method, tags={}, cost=SimpleNamespace(train_time_s=train_time_s),
                               curves=curves)

    curves = [curve(1, 50.0), curve(2, 60.0)]
    assert _within(curves, 3.0) == (1, 50.0) and _within(curves, 4.0) == (2, 60.0) and _within(curves, 1.0) is None
    table = equal_time_table([record("a", 2.0, [curve(1, 40.0)]), record("b", 4.0, curves)])
    assert "| d | a | 2.0 | 1.0 | 40.00 |" in table and "| d | b | 2.0 | 1.0 | 50.00 |" in table


# ---- a real PostgreSQL queue, three workers, one killed ---------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A throw-away PostgreSQL 15 server on a loopback port (skipped where the binaries are absent)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    pytest.importorskip("psycopg", reason="the psycopg driver (pip install 'snnbench[postgres]') is not installed")
    folder = Path(tempfile.mkdtemp(prefix="snnbench-pg-"))  # under /tmp: the server's user must reach it
    data, port = folder / "data", _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    subprocess.run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"], check=True,
                   capture_output=True)
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(folder / "log"), "-w", "-o",
                    f"-p {port} -k {folder} -c listen_addresses=127.0.0.1", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def test_three_workers_on_postgres_finish_every_cell_once_when_one_is_killed(tmp_path, postgres):
    import optuna

    path, out = _write_suite(tmp_path, epochs=4, samples=600), tmp_path / "runs"
    env = {"SNNBENCH_SUITE_HEARTBEAT_S": "1", "SNNBENCH_SUITE_GRACE_S": "4"}
    command = [sys.executable, "-m", "snnbench.cli", "suite", "run", str(path), "--out", str(out), "--storage",
               postgres]
    workers = [subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for _ in range(3)]
    suite = suites.load_suite(str(path))
    os.environ.update(env)
    study = None
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:  # kill the worker of the first running cell
        time.sleep(0.5)
        study = study or suites._open_study(suite, postgres, out, create=False)
        if study is None:
            continue
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            pid = int(str(trial.user_attrs.get("worker", ":0")).rsplit(":", 1)[1])
            if pid in {w.pid for w in workers}:
                victim = next(w for w in workers if w.pid == pid)
                break
    assert victim is not None, "no cell started"
    victim.send_signal(signal.SIGKILL)
    for worker in workers:
        worker.wait(timeout=600)
    survivors = [w for w in workers if w is not victim]
    assert all(w.returncode == 0 for w in survivors), [(w.returncode, w.stdout.read().decode()[-800:],
                                                        w.stderr.read().decode()[-1500:]) for w in survivors]
    records = [json.loads(p.read_text()) for p in out.glob("*.json")]
    hashes = [r["config_hash"] for r in records]
    assert sorted(hashes) == sorted(c.config.hash() for c in suite.cells)  # every cell once, none lost
    trials = study.get_trials(deepcopy=False)
    complete = [t.user_attrs["cell"] for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(complete) == sorted(c.key for c in suite.cells)
    assert any(t.state == optuna.trial.TrialState.FAIL for t in trials)  # the killed worker's cell, retried


def test_a_record_made_before_a_config_field_existed_still_completes_its_cell(tmp_path):
    path, out = _write_suite(tmp_path), tmp_path / "runs"
    assert _cli("suite", "run", str(path), "--out", str(out)).returncode == 0
    for record_path in out.glob("*.json"):  # as if the records predate the `shuffle` field
        record = json.loads(record_path.read_text())
        del record["config"]["shuffle"]
        record_path.write_text(json.dumps(record))
    again = _cli("suite", "run", str(path), "--out", str(out))
    assert again.returncode == 0 and "0 to run" in again.stdout


def test_optional_cells_without_their_data_are_reported_not_failed(tmp_path):
    """The equal-budget suite's new datasets are optional cells: where the data is absent, `suite status`
    says "no data" and `suite run` trains the rest and exits 0; once the files are here, they count."""
    path = tmp_path / "mixed.toml"
    path.write_text(DIGITS_SUITE.format(epochs=1, samples=100).replace("seeds = [0, 1]", "seeds = [0]") + """
[[matrix]]
methods = ["stbp"]
datasets = ["shd"]
epochs = 1
optional = true
""")
    out, empty = tmp_path / "runs", tmp_path / "no-mirror"
    empty.mkdir()
    where = ["--out", str(out), "--mirror", str(empty), "--data-dir", str(tmp_path / "cache")]
    status = _cli("suite", "status", str(path), *where, env={"COLUMNS": "200"})
    assert status.returncode == 0 and "no data" in status.stdout and "2 missing, 1 no data" in status.stdout
    run = _cli("suite", "run", str(path), *where, env={"COLUMNS": "200"})
    assert run.returncode == 0, run.stdout[-1500:] + run.stderr[-1500:]
    assert "2 to run" in run.stdout and "skipped stbp/shd" in run.stdout
    assert "2/3 cells done; 1 optional cell(s) without their data" in run.stdout
    assert len(list(out.glob("*.json"))) == 2
    suite = suites.load_suite(str(path))
    (shd_cell,) = [c for c in suite.cells if c.optional]
    from snnbench.files import DataContext

    for file in ("shd_train.h5.zip", "shd_test.h5.zip"):  # present (the md5 is checked only when it runs)
        (empty / "SHD").mkdir(exist_ok=True)
        (empty / "SHD" / file).write_bytes(b"")
    assert suites.missing_data(shd_cell, DataContext(tmp_path / "cache", (empty,))) == []
    assert suites.cell_status(suite, out, None, DataContext(tmp_path / "cache", (empty,)))[shd_cell.key] == "missing"


def test_three_workers_started_together_on_a_new_postgres_database_all_work(tmp_path, postgres):
    """The README's srun recipe: every worker starts at the same instant on a database with no tables yet;
    the ones that lose the race to create Optuna's schema open it once it exists, and all finish (exit 0)."""
    path, out = _write_suite(tmp_path, epochs=1, samples=200), tmp_path / "runs"
    command = [sys.executable, "-m", "snnbench.cli", "suite", "run", str(path), "--out", str(out), "--storage",
               postgres]
    go = tmp_path / "go"
    starter = ("import os, sys, time, runpy\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.001)\n"
               "sys.argv = ['snnbench'] + sys.argv[2:]\nfrom snnbench.cli import main\nsys.exit(main())\n")
    workers = [subprocess.Popen([sys.executable, "-c", starter, str(go), *command[3:]], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE) for _ in range(3)]
    time.sleep(3.0)  # every interpreter has imported and waits for the same instant
    go.write_text("")
    for worker in workers:
        worker.wait(timeout=600)
    assert [w.returncode for w in workers] == [0, 0, 0], [w.stderr.read().decode()[-1500:] for w in workers]
    suite = suites.load_suite(str(path))
    hashes = sorted(json.loads(p.read_text())["config_hash"] for p in out.glob("*.json"))
    assert hashes == sorted(c.config.hash() for c in suite.cells)


def test_the_cpu_suite_completes_one_dataset_for_all_rules_at_a_time():
    """A cpu-suite run cut short (it spans sessions, and a CPU second is a unit of one CPU class) leaves whole
    datasets compared: every dataset's budget cells for all seven rules are contiguous in the queue, and the
    convergence cells (epochs: machine-independent results) come after every budget cell."""
    from itertools import groupby

    from snnbench.suite import load_suite

    cells = load_suite("cpu").cells
    budgeted = [bool(c.config.budget) for c in cells]
    assert budgeted == sorted(budgeted, reverse=True)  # all budget cells first
    small = ("yin-yang", "randman-10c-3d")  # generated here, 30 CPU-s: one block of both
    blocks = [key for key, _ in groupby("small" if c.config.dataset in small else c.config.dataset
                                        for c in cells if c.config.budget)]
    assert blocks == ["small", "nmnist-1k", "mnist", "fashion-mnist"]
    for dataset in (*small, "nmnist-1k", "mnist", "fashion-mnist"):
        assert len({c.config.method for c in cells if c.config.dataset == dataset and c.config.budget}) == 7
        seeds = [c.config.seed for c in cells if c.config.dataset == dataset and c.config.budget]
        assert seeds == sorted(seeds)  # seed 0 of every rule, then seed 1...: a drifting host meets all alike


def test_syncing_a_suites_records_supersedes_by_hash_and_prunes_what_is_no_longer_a_cell(tmp_path):
    """scripts/sync_suite_records.py: a run's record replaces the committed one of the same config hash
    (``git rm``), and ``--prune`` removes the committed records whose config is no cell of the suite any more."""
    import subprocess
    import sys

    from snnbench.suite import load_suite

    suite_file = tmp_path / "tiny.toml"
    suite_file.write_text('name = "tiny"\nseeds = [0]\n[[matrix]]\nmethods = ["stbp"]\ndatasets = ["yin-yang"]\n'
                          'epochs = 1\n')
    (cell,) = load_suite(str(suite_file)).cells
    committed, run = tmp_path / "repo" / "runs", tmp_path / "run"
    committed.mkdir(parents=True)
    run.mkdir()

    def record(folder: Path, name: str, config_hash: str) -> None:
        (folder / name).write_text(json.dumps({"status": "completed", "config_hash": config_hash,
                                               "tags": {"suite": "tiny"}}))

    record(committed, "old-cell.json", cell.config.hash())
    record(committed, "retired.json", "0" * 16)  # a cell of an earlier version of the suite file
    record(run, "new-cell.json", cell.config.hash())
    git = ["git", "-C", str(tmp_path / "repo")]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "records"], check=True)
    script = Path(__file__).resolve().parents[1] / "scripts" / "sync_suite_records.py"
    done = subprocess.run([sys.executable, str(script), str(run), str(committed), "--suite", str(suite_file),
                           "--prune"], capture_output=True, text=True, check=True)
    assert sorted(p.name for p in committed.glob("*.json")) == ["new-cell.json"]
    assert "added 1, removed 1 superseded, 1 no longer cells" in done.stdout


def test_a_matrix_sets_one_rules_option_with_its_name(tmp_path):
    """``set = { "slayer.event_input" = true }`` reaches that rule's cells only (an option the other rules of the
    matrix do not have); a prefix naming a rule outside the matrix is refused."""
    from snnbench.suite import load_suite

    path = tmp_path / "one.toml"
    path.write_text('name = "one"\n[[matrix]]\nmethods = ["slayer", "stbp"]\ndatasets = ["nmnist-1k"]\nepochs = 1\n'
                    'set = { "slayer.event_input" = true, lr = 0.005 }\n')
    cells = {c.config.method: c.config for c in load_suite(str(path)).cells}
    assert cells["slayer"].options.event_input is True and not hasattr(cells["stbp"].options, "event_input")
    assert cells["slayer"].lr == cells["stbp"].lr == 0.005
    path.write_text('name = "one"\n[[matrix]]\nmethods = ["stbp"]\ndatasets = ["nmnist-1k"]\nepochs = 1\n'
                    'set = { "slayer.event_input" = true }\n')
    with pytest.raises(ConfigError, match="names the rule 'slayer', which is not in this matrix's methods"):
        load_suite(str(path))
