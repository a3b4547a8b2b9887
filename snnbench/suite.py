"""Benchmark suites: a declared matrix of runs (TOML in ``suites/``), executed end to end, resumably, by
any number of workers on one machine or many, and read back as one report.

A suite file has ``name``, ``description``, ``seeds``, ``[thresholds]`` (dataset → accuracies for
time-to-accuracy) and one or more ``[[matrix]]`` tables: ``methods`` × ``datasets`` with ``epochs``,
optional ``recipe``, ``seeds`` (overriding the file's), ``flags`` (config fields: ``max_train_samples``,
``arch``, ...), ``budget`` (a compute budget, ``"cpu_s=120"``: the epochs are then its upper bound), ``set``
(method options or config fields, as ``--set``; ``"<rule>.<option>"`` for one rule of the matrix only) and
``optional = true``: its cells
run only where their dataset's files are already here (cache or mirror; ``snnbench data fetch`` first),
and are otherwise reported as ``no data`` by ``suite status`` and skipped by ``suite run``. Every cell is resolved when
the file loads, so a bad name or value stops the suite before any cell starts.

**The queue** is an Optuna study (one trial per cell, enqueued once by whichever worker creates the
study; a worker that finds the queue idle enqueues the cells whose record is missing again, so start
one launcher first after deleting records): SQLite by default, PostgreSQL/MySQL for a cluster,
``journal:PATH`` on a shared filesystem.
Workers pop waiting trials (a row lock in the RDB storages), beat a heartbeat while a cell trains, and
fail the stale trials of workers that died; a failed cell is enqueued again (at most ``MAX_RETRY``
times). A cell whose completed record (same resolved config, seed included) is already in the records
folder is not trained again, so a killed suite continues where it stopped and a finished one runs
nothing. Records carry the tags ``suite``, ``cell`` and ``shared_device`` (set when more than one worker
ran on this machine: the leaderboard then uses the record's accuracy, never its times).
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snnbench.config import ConfigError, RunConfig, resolve_config
from snnbench.files import DataContext, missing_files
from snnbench.logs import route_optuna_logging
from snnbench.registry import UnknownNameError, create_dataset, create_method

if TYPE_CHECKING:
    from snnbench.records import Record

MATRIX_KEYS = {"methods", "datasets", "epochs", "budget", "recipe", "seeds", "flags", "set", "optional"}
TOP_KEYS = {"name", "description", "seeds", "thresholds", "matrix"}
MAX_RETRY = 3
# a worker beats every HEARTBEAT_S seconds; one silent for GRACE_S has its cell failed and enqueued again
HEARTBEAT_S = int(os.environ.get("SNNBENCH_SUITE_HEARTBEAT_S", "5"))
GRACE_S = int(os.environ.get("SNNBENCH_SUITE_GRACE_S", "20"))


@dataclass(frozen=True)
class Cell:
    """One run of a suite: a resolved config (its hash, seed included, identifies the cell)."""

    key: str
    config: RunConfig
    optional: bool = False  # runs only where the data is here (see the module docs)
    sets: tuple[tuple[str, Any], ...] = ()  # the matrix's ``set`` as this rule got it (the bench builds with it)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    source: str
    cells: tuple[Cell, ...]
    thresholds: dict[str, tuple[float, ...]] = field(default_factory=dict)

    def digest(self) -> str:
        """Identifies the cell list: the queue of an edited suite is a new study."""
        from snnbench.config import config_digest

        return config_digest({"cells": [c.config.hash() for c in self.cells]})[:10]


def suite_names() -> list[str]:
    """The suites shipped with snnbench."""
    folder = importlib.resources.files("snnbench.suites")
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path: str) -> Suite:
    """Read and resolve a suite by shipped name or file path; errors name the file (and line)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ConfigError(f"suite file {path} does not exist")
        text, source = path.read_text(), str(path)
    else:
        resource = importlib.resources.files("snnbench.suites") / f"{name_or_path}.toml"
        if not resource.is_file():
            raise UnknownNameError("suite", name_or_path, suite_names())
        text, source = resource.read_text(), f"suites/{name_or_path}.toml"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"suite file {source}: {err}") from None
    return _resolve(data, source)


def _resolve(data: dict[str, Any], source: str) -> Suite:
    def fail(where: str, message: str) -> ConfigError:
        return ConfigError(f"suite file {source}: {where}: {message}")

    unknown = set(data) - TOP_KEYS
    if unknown:
        raise fail("top level", f"unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(TOP_KEYS))}")
    if not isinstance(data.get("name"), str) or not data.get("matrix"):
        raise fail("top level", "needs a name and at least one [[matrix]] table")
    cells: list[Cell] = []
    seen: set[str] = set()
    for number, matrix in enumerate(data["matrix"], start=1):
        where = f"[[matrix]] {number}"
        bad = set(matrix) - MATRIX_KEYS
        if bad:
            raise fail(where, f"unknown key(s) {', '.join(sorted(bad))}; valid: {', '.join(sorted(MATRIX_KEYS))}")
        seeds = matrix.get("seeds", data.get("seeds", [0]))
        if not matrix.get("methods") or not matrix.get("datasets") or not isinstance(matrix.get("epochs"), int):
            raise fail(where, "needs methods, datasets and an integer epochs")
        _check_matrix_types(matrix, seeds, lambda message, w=where: fail(w, message))
        # seed by seed across the matrix's rules: a drift of a shared machine's speed meets every rule alike
        for seed, method_name, dataset_name in itertools.product(seeds, matrix["methods"], matrix["datasets"]):
            try:
                method, dataset = create_method(method_name), create_dataset(dataset_name)
                flags = {**matrix.get("flags", {}), "epochs": matrix["epochs"], "seed": seed,
                         "recipe": matrix.get("recipe"), "budget": matrix.get("budget")}
                sets = sets_for(method_name, matrix.get("set", {}))
                cfg = resolve_config(method, dataset, flags, sets)  # checks the network
            except (ConfigError, UnknownNameError, ValueError) as err:
                raise fail(f"{where} ({method_name} on {dataset_name}, seed {seed})", str(err)) from None
            spend = f"/{cfg.budget}" if cfg.budget else ""
            key = f"{method_name}/{dataset_name}/{cfg.recipe or 'recipe'}/e{cfg.epochs}{spend}/s{seed}/{cfg.hash()[:8]}"
            if key not in seen:
                seen.add(key)
                cells.append(Cell(key, cfg, bool(matrix.get("optional", False)), tuple(sorted(sets.items()))))
    thresholds = {k: tuple(float(x) for x in v) for k, v in (data.get("thresholds") or {}).items()}
    return Suite(data["name"], str(data.get("description", "")), source, tuple(cells), thresholds)


def _check_matrix_types(matrix: dict[str, Any], seeds: Any, fail: Any) -> None:
    """The structure of one ``[[matrix]]`` table (before any name or value is resolved): lists of names, integer
    seeds, ``flags`` of config fields and ``set`` as tables, a string budget and recipe."""
    from snnbench.config import TOP_LEVEL_KEYS

    for key in ("methods", "datasets"):
        if not isinstance(matrix[key], list) or not all(isinstance(v, str) for v in matrix[key]):
            raise fail(f"{key} must be a list of names, got {matrix[key]!r}")
    if not isinstance(seeds, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in seeds):
        raise fail(f"seeds must be a list of integers, got {seeds!r}")
    for key in ("flags", "set"):
        if key in matrix and not isinstance(matrix[key], dict):
            raise fail(f"{key} must be a table (e.g. {key} = {{ max_train_samples = 600 }}), got {matrix[key]!r}")
    unknown = sorted(set(matrix.get("flags", {})) - set(TOP_LEVEL_KEYS) - {"options"})
    if unknown:
        raise fail(f"unknown flags key(s) {', '.join(unknown)}; valid: {', '.join(TOP_LEVEL_KEYS)} "
                   "(method options go in set = {...})")
    for key in ("budget", "recipe"):
        if key in matrix and not isinstance(matrix[key], str):
            raise fail(f"{key} must be a string, got {matrix[key]!r}")
    for key in matrix.get("set", {}):
        rule, _ = _set_key(key)
        if rule and rule not in matrix["methods"]:
            raise fail(f"set key {key!r} names the rule {rule!r}, which is not in this matrix's methods "
                       f"({', '.join(matrix['methods'])})")


def sets_for(method: str, sets: dict[str, Any]) -> dict[str, Any]:
    """A matrix's ``set`` as one rule gets it: the plain keys (every rule of the matrix), and the keys
    ``"<rule>.<option>"`` of this rule (e.g. ``"slayer.event_input" = true``; the other rules' are not its)."""
    out = {}
    for key, value in sets.items():
        rule, option = _set_key(key)
        if not rule:
            out[key] = value
        elif rule == method:
            out[option] = value
    return out


def _set_key(key: str) -> tuple[str, str]:
    """A ``set`` key as (the rule it names, its option), or ("", key) for a key of every rule of the matrix (a
    plain field or option, or ``options.<name>``)."""
    rule, _, option = key.rpartition(".")
    return ("", key) if rule in ("", "options") else (rule, option)


# ---- records ---------------------------------------------------------------------------------------------
def completed_records(out: Path, records: list[tuple[Path, Record]] | None = None) -> dict[str, Path]:
    """Config hash → record path of every completed record under ``out`` (or of ``records`` already read,
    as ``(path, record)``). The hash is of the record's config with the defaults of fields and options
    added since it was made, so a record still matches its cell after the config gained a field."""
    from snnbench.config import record_config
    from snnbench.records import StaleRecordError, read_record

    if records is None:
        paths = sorted(Path(out).rglob("*.json")) if Path(out).exists() else []
        records = [(path, None) for path in paths]
    done: dict[str, Path] = {}
    stale: list[Path] = []
    for path, record in records:
        try:
            record = record if record is not None else read_record(path)
            if record.status != "completed":
                continue
            done.setdefault(record_config(record).hash(), path)
        except StaleRecordError as err:
            if err.older:
                stale.append(path)
        except (OSError, ValueError, KeyError, TypeError, UnknownNameError):
            continue  # not a record of this suite's kind: never a match
    if stale:  # never re-trained as "missing": upgraded once, then matched
        raise ConfigError(f"{len(stale)} record(s) under {out} are in an older schema (e.g. {stale[0].name}); "
                          f"run `snnbench records upgrade {out}` once, then the suite again")
    return done


def missing_data(cell: Cell, ctx: DataContext) -> list[str]:
    """The files of ``cell``'s dataset found neither in the cache nor in a mirror (existence only: the md5s
    are checked when the cell runs)."""
    return missing_files(create_dataset(cell.config.dataset), ctx)


def cell_status(suite: Suite, out: Path, storage_url: str = "", ctx: DataContext | None = None) -> dict[str, str]:
    """done / running / failed / missing per cell key (running and failed need the queue); with ``ctx``,
    ``no data`` for an optional cell whose dataset is not here."""
    done = completed_records(out)
    states: dict[str, str] = {}
    running: set[str] = set()
    failed: set[str] = set()
    if storage_url is not None:
        study = _open_study(suite, storage_url, out, create=False)
        if study is not None:
            import optuna

            for trial in study.get_trials(deepcopy=False):
                key = trial.user_attrs.get("cell")
                if trial.state == optuna.trial.TrialState.RUNNING:
                    running.add(key)
                elif trial.state == optuna.trial.TrialState.FAIL:
                    failed.add(key)
    for cell in suite.cells:
        if cell.config.hash() in done:
            states[cell.key] = "done"
        elif cell.key in running:
            states[cell.key] = "running"
        elif cell.key in failed:
            states[cell.key] = "failed"
        elif cell.optional and ctx is not None and missing_data(cell, ctx):
            states[cell.key] = "no data"
        else:
            states[cell.key] = "missing"
    return states


# ---- the queue -------------------------------------------------------------------------------------------
def open_queue_storage(url: str, out: Path) -> Any:
    """The Optuna storage holding the queue (SQLite ``suites.db`` beside the records by default; a worker's
    stale cell goes back to the queue up to ``MAX_RETRY`` times)."""
    from snnbench.storage import open_storage

    return open_storage(url, out, filename="suites.db", heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S,
                        max_retry=MAX_RETRY, what="suite queue")


def _open_study(suite: Suite, url: str, out: Path, create: bool = True) -> Any:
    import optuna

    route_optuna_logging()
    storage = open_queue_storage(url, out)
    name = f"suite-{suite.name}-{suite.digest()}"
    if not create:
        try:
            return optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            return None
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage)
        _wait_until_enqueued(study)
        active = (optuna.trial.TrialState.WAITING, optuna.trial.TrialState.RUNNING)
        if not study.get_trials(deepcopy=False, states=active):  # an idle queue: cells whose record went
            _enqueue_missing(study, suite, out)  # missing (deleted, or another records folder) run again
        return study
    _enqueue_missing(study, suite, out)  # the creator fills the queue once
    study.set_user_attr("enqueued", True)
    return study


def _enqueue_missing(study: Any, suite: Suite, out: Path) -> None:
    done = completed_records(out)
    for cell in suite.cells:
        if cell.config.hash() not in done:
            study.enqueue_trial({"cell": cell.key}, user_attrs={"cell": cell.key})


def _wait_until_enqueued(study: Any, timeout_s: float = 120) -> None:
    start = time.monotonic()
    while not study.user_attrs.get("enqueued"):
        if time.monotonic() - start > timeout_s:
            raise RuntimeError(f"study {study.study_name} was created but never filled (its creator died?)")
        time.sleep(0.5)


def work(suite: Suite, out: Path, storage_url: str = "", runtime_extra: dict[str, Any] | None = None,
         on_cell: Any = None) -> int:
    """One worker: pull cells from the queue until none is waiting or running; returns cells trained."""
    import optuna
    from optuna.storages import fail_stale_trials

    from snnbench.engine import RuntimeOptions, train

    study = _open_study(suite, storage_url, out)
    extra = dict(runtime_extra or {})
    ctx = DataContext.from_options(extra.get("data_dir"), extra.get("mirror"))
    tags = {"suite": suite.name, **extra.pop("tags", {})}
    by_key = {c.key: c for c in suite.cells}
    distribution = {"cell": optuna.distributions.CategoricalDistribution(sorted(by_key))}
    trained = 0
    while True:
        with warnings.catch_warnings():  # experimental in Optuna's words; meant for Study.optimize
            warnings.simplefilter("ignore")
            fail_stale_trials(study)  # a dead worker's cell goes back to the queue (the retry callback)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        if optuna.trial.TrialState.WAITING not in states:
            if optuna.trial.TrialState.RUNNING not in states:
                return trained
            time.sleep(1.0)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask(distribution)
        key = trial.params.get("cell")
        if trial.user_attrs.get("cell") != key or key not in by_key:  # not from the queue: another worker
            # took the last waiting cell and ask() made a fresh trial; it is dropped
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        cell = by_key[key]
        absent = missing_data(cell, ctx) if cell.optional else []
        if absent:  # an optional cell without its data: reported, never a failure
            trial.set_user_attr("skipped", f"no data: {', '.join(absent)}")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            if on_cell is not None:
                on_cell(key, None)
            continue
        beat = _Heartbeat(study, trial._trial_id)
        try:
            existing = completed_records(out).get(cell.config.hash())
            if existing is None:
                runtime = RuntimeOptions(out=Path(out), tags={**tags, "cell": key},
                                         command=f"snnbench suite run {suite.name}", **extra)
                record, existing = train(cell.config, runtime)
                trained += 1
            record = json.loads(Path(existing).read_text())
            trial.set_user_attr("record", str(Path(existing).name))
            beat.stop()
            study.tell(trial, float(record["results"].get("test_acc_last") or 0.0))
            if on_cell is not None:
                on_cell(key, existing)
        except Exception:
            beat.stop()
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            raise


def worker_threads(threads: int, jobs: int, cores: int | None = None) -> int:
    """Torch threads of each of ``jobs`` workers on one machine: ``threads`` when given, else the worker's share
    of the cores (at least one), so that workers never oversubscribe the machine."""
    return threads or max(1, (cores or os.cpu_count() or 1) // jobs)


def run_workers(suite: Suite, name: str, jobs: int, out: Path, storage_url: str = "", *, device: str = "auto",
                threads: int = 0, data_dir: str | None = None, mirror: str | None = None) -> list[int]:
    """``jobs`` worker processes on this machine pulling ``suite``'s cells (``name`` as given on the command
    line) from one queue, each ``snnbench suite run NAME --jobs 1 --shared-device``; waits for them and
    returns their exit codes. The queue is created and filled once, before any worker starts. ``threads`` 0:
    each worker gets its share of this machine's cores (no oversubscription; a ``cpu_s`` cell takes one)."""
    _open_study(suite, storage_url, out)
    threads = worker_threads(threads, jobs)
    command = [sys.executable, "-m", "snnbench.cli", "suite", "run", name, "--jobs", "1", "--shared-device",
               "--out", str(out), "--device", device, "--threads", str(threads)]
    for flag, value in (("--storage", storage_url), ("--data-dir", data_dir), ("--mirror", mirror)):
        if value:
            command += [flag, value]
    workers = [subprocess.Popen(command) for _ in range(jobs)]
    return [worker.wait() for worker in workers]


class _Heartbeat:
    """Records the trial's heartbeat every HEARTBEAT_S seconds while its cell trains."""

    def __init__(self, study: Any, trial_id: int) -> None:
        self.storage, self.trial_id = study._storage, trial_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.storage.record_heartbeat(trial_id)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(HEARTBEAT_S):
            self.storage.record_heartbeat(self.trial_id)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join()
