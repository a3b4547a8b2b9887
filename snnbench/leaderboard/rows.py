"""Run records → leaderboard rows: one row per setting, its seeds pooled (see the package docstring)."""

from __future__ import annotations

import functools
import math
import re
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnbench.records import Curve, InvalidRecordError, Record, read_record
from snnbench.records.metrics import METRICS_CONVENTION, activation_sparsity

from .published import load_published, match_published

SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # method and dataset names as the registries spell them
# accuracy thresholds (%) for time-to-accuracy, per dataset family
THRESHOLDS: dict[str, tuple[float, ...]] = {
    "mnist": (99.0, 99.4), "fashion-mnist": (90.0, 92.0), "nmnist": (98.0, 99.0), "cifar10": (90.0, 94.0),
    "cifar10-dvs": (70.0, 80.0), "digits": (95.0, 98.0),
}


@dataclass
class Row:
    """One leaderboard row: a setting and what its seeds achieved."""

    dataset: str
    method: str
    options: str
    arch: str
    steps: int
    epochs: int
    recipe: str
    device: str
    budget: str = ""  # the compute budget of the row's runs ("" = epochs; then ``epochs`` is what ran)
    seeds: list[int] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    max_test: list[float] = field(default_factory=list)  # the reference codes' convention, per seed
    finished: list[str] = field(default_factory=list)
    train_time_s: list[float] = field(default_factory=list)
    epoch_time_s: list[float] = field(default_factory=list)
    ms_per_step: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    sparsity: list[float] = field(default_factory=list)
    acs: list[float] = field(default_factory=list)
    macs: list[float] = field(default_factory=list)
    energy_pj: list[float] = field(default_factory=list)
    params: int | None = None
    time_to: dict[str, list[float]] = field(default_factory=dict)
    published: dict[str, Any] | None = None
    runs: list[str] = field(default_factory=list)
    suite: str = ""  # the declared suite the runs came from (tags.suite), if all did
    samples: list[float] = field(default_factory=list)  # training samples seen per run
    cpu_s: list[float] = field(default_factory=list)  # CPU seconds in training steps per run (budget runs)
    marks: set[str] = field(default_factory=set)  # shared device, uncommitted tree, earlier code, tuned
    epoch_counts: list[int] = field(default_factory=list)  # epochs each run started (a budget stops mid-epoch)
    _by_seed: dict[int, tuple[str, str, dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def std(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    def summary(self) -> dict[str, Any]:
        """The row as plain values (what the csv / json / md / html writers print)."""
        pub = self.published or {}
        comparable = pub.get("mean") is not None and self.comparable(pub)
        diff = self.mean - pub["mean"] if comparable else None
        return {
            "dataset": self.dataset, "method": self.method, "options": self.options, "arch": self.arch,
            "T": self.steps, "epochs": self.epochs, "recipe": self.recipe, "device": self.device,
            "budget": self.budget, "suite": self.suite, "notes": ", ".join(sorted(self.marks)),
            "seeds": len(self.seeds), "acc_mean": round(self.mean, 2), "acc_std": round(self.std, 2),
            "acc_best": round(max(self.accuracies), 2),
            "max_test_mean": _mean(self.max_test, 2), "max_test_std": (round(statistics.stdev(self.max_test), 2)
                                                                       if len(self.max_test) > 1 else None),
            "train_time_s": _mean(self.train_time_s), "epoch_time_s": _mean(self.epoch_time_s),
            "ms_per_step": _mean(self.ms_per_step), "peak_gpu_mib": _mean(self.peak_mib),
            "params": self.params, "activation_sparsity": _mean(self.sparsity, 3),
            "effective_acs": _mean(self.acs, 0), "effective_macs": _mean(self.macs, 0),
            "energy_estimate_nj": _mean([e / 1000 for e in self.energy_pj], 1),
            "time_to_accuracy": {k: (f"{_mean(v)} s" if v else "not reached") + f" ({len(v)}/{len(self.seeds)})"
                                 for k, v in self.time_to.items()},
            "published": pub.get("text"), "published_source": pub.get("source"),
            "published_epochs": pub.get("epochs"),
            "diff_vs_published": round(diff, 2) if diff is not None else None,
            "diff_max_test_vs_published": (round(statistics.fmean(self.max_test) - pub["mean"], 2)
                                           if comparable and self.max_test else None),
            "published_note": None if not pub or comparable else "budget differs",
        }

    def reproduce(self) -> list[str]:
        """One command per seed that re-runs this row's configuration exactly (``run --from-record``)."""
        return [f"snnbench run --from-record {shlex.quote(run)}" for run in self.runs]

    def comparable(self, pub: dict) -> bool:
        """A published number gets a difference only for the same recipe (a TIT stage included), the
        recipe's own options, and at least its epochs (an unstated budget never compares)."""
        return (pub.get("epochs") is not None and self.epochs >= pub["epochs"] and not self.options
                and not self.budget
                and self.recipe.rsplit(":", 1)[-1] == (pub.get("recipe") or "recipe"))

    def add(self, path: Path, seed: int, finished: str, values: dict[str, Any]) -> None:
        """Add one run of ``seed`` (finished at ``finished``, ISO 8601); a repeat of a seed already in the row
        replaces it if newer (seeds, not runs, count). The per-seed lists are derived from the kept run of
        each seed."""
        kept = self._by_seed.get(seed)
        if kept is not None and kept[0] >= finished:
            return
        self._by_seed[seed] = (finished, str(path), values)
        kept_runs = list(self._by_seed.items())
        self.seeds = [s for s, _ in kept_runs]
        self.finished = [f for _, (f, _, _) in kept_runs]
        self.runs = [p for _, (_, p, _) in kept_runs]
        self._derive([v for _, (_, _, v) in kept_runs])

    # (attribute, value key, None kept): the per-seed lists derived from each seed's kept run
    _PER_SEED = (("accuracies", "accuracy", True), ("max_test", "max_test", True),
                 ("train_time_s", "train_time_s", True), ("epoch_time_s", "epoch_time_s", True),
                 ("ms_per_step", "ms_per_step", False), ("peak_mib", "peak_mib", False),
                 ("sparsity", "sparsity", False), ("samples", "samples", False), ("cpu_s", "cpu_s", False))

    def _derive(self, entries: list[dict[str, Any]]) -> None:
        for attribute, key, keep_none in self._PER_SEED:
            setattr(self, attribute, [v.get(key) for v in entries if keep_none or v.get(key) is not None])
        self.epoch_counts = [v["epochs_run"] for v in entries if "epochs_run" in v]
        self.marks = set().union(*(v.get("marks", set()) for v in entries))
        suites = {v.get("suite", "") for v in entries}
        self.suite = suites.pop() if len(suites) == 1 else ""
        ops = [v["ops"] for v in entries if v["ops"] is not None]
        self.acs, self.macs, self.energy_pj = ([o[i] for o in ops] for i in range(3))
        params = [v["params"] for v in entries if v["params"] is not None]
        self.params = params[-1] if params else self.params


def _mean(values: list[float], digits: int = 1) -> float | None:
    return round(statistics.fmean(values), digits) if values else None


def load_records(folder: Path) -> tuple[list[tuple[Path, Record]], list[tuple[Path, str]]]:
    """Valid records under ``folder`` (recursively, checkpoints excluded), typed, and ``(path, reason)`` for
    the rest."""
    good, bad = [], []
    for path in sorted(Path(folder).rglob("*.json")):
        if "checkpoints" in path.parts:
            continue
        try:
            record = read_record(path)  # refuses a file that breaks the schema, with its problems
            ranked = record.status == "completed" and bool(record.curves)
            problems = _name_problems(record)
            if not problems and record.status == "completed":
                problems = _range_problems(record)
            if not problems and ranked:
                record_values(record)  # every value the row needs reads cleanly
        except InvalidRecordError as err:
            bad.append((path, "; ".join(err.problems[:3])))
            continue
        except Exception as err:  # noqa: BLE001 -- one bad file never stops the leaderboard
            bad.append((path, f"unreadable: {type(err).__name__}: {str(err)[:200]}"))
            continue
        if problems:
            bad.append((path, "; ".join(problems[:3])))
        elif not ranked:
            bad.append((path, f"status {record.status!r}{UNRANKED}"))
        else:
            good.append((path, record))
    return good, bad


UNRANKED = ": only completed runs are ranked"


def unranked_status(reason: str) -> str | None:
    """The status of a record :func:`load_records` left out for not having completed (a pruned trial, a
    stopped or failed run), or None where it was left out for a problem in the file."""
    if reason.startswith("status ") and reason.endswith(UNRANKED):
        return reason.removeprefix("status ").removesuffix(UNRANKED).strip("'\"")
    return None


def _range_problems(record: Record) -> list[str]:
    """Values no real run produces: an accuracy outside [0, 100], a negative time or count, fewer than one epoch."""
    problems = []
    results, cost = vars(record.results), vars(record.cost)
    accuracies = [("results." + k, v) for k, v in results.items() if k.endswith("acc") or "_acc_" in k]
    accuracies += [(f"curves[{i}].{k}", getattr(row, k)) for i, row in enumerate(record.curves)
                   for k in ("train_acc", "val_acc", "test_acc")]
    problems += [f"{name} is {value} (an accuracy is in [0, 100])" for name, value in accuracies
                 if isinstance(value, (int, float)) and not 0 <= value <= 100]
    times = [("cost." + k, v) for k, v in cost.items() if k.endswith("_s") or "ms_per_step" in k]
    times += [(f"curves[{i}].epoch_time_s", row.epoch_time_s) for i, row in enumerate(record.curves)]
    problems += [f"{name} is {value} (times are >= 0)" for name, value in times
                 if isinstance(value, (int, float)) and value < 0]
    if record.epochs < 1:
        problems.append(f"epochs is {record.epochs!r} (a ranked run trained at least one epoch)")
    return problems


def _name_problems(record: Record) -> list[str]:
    return [f"{key} {getattr(record, key)!r} is not a valid name" for key in ("method", "dataset")
            if not SAFE_NAME.fullmatch(getattr(record, key))]


def record_values(record: Record) -> dict[str, Any]:
    """The numbers a row takes from one record (raises on a malformed record)."""
    cost, curves = record.cost, record.curves
    accuracy = record.results.test_acc_at_best_val
    if accuracy is None:
        raise ValueError("no test accuracy at the best-validation epoch")
    tests = [float(row.test_acc) for row in curves]
    metrics = record.metrics
    ops = None  # counts made under an older operation-count convention are not comparable: left out
    if metrics.get("synaptic_operations") and metrics.get("convention") == METRICS_CONVENTION:
        syn = metrics["synaptic_operations"]
        ops = (float(syn["Effective_ACs"]), float(syn["Effective_MACs"]), float(metrics["energy_estimate_pj"]))
    values = {
        "accuracy": float(accuracy), "max_test": max(tests),
        "train_time_s": float(cost.total_train_time_s or cost.train_time_s),
        "epoch_time_s": float(cost.train_time_s) / max(len(curves), 1),
        "ms_per_step": _opt_float(cost.median_ms_per_step), "peak_mib": _opt_float(cost.peak_gpu_mem_mib),
        "sparsity": activation_sparsity(record.firing), "ops": ops, "params": cost.params,
        "samples": None, "cpu_s": None, "epochs_run": len(curves), "marks": record_marks(record),
        "suite": str(record.tags.get("suite") or ""),
    }
    budget = record.budget
    if isinstance(budget, dict) and isinstance(budget.get("spent"), dict):
        values["samples"] = float(budget["spent"]["samples"])
        values["cpu_s"] = float(budget["spent"]["cpu_s"])
    if record.execution.shared_device:  # times of runs that shared a device mislead
        values["ms_per_step"] = values["peak_mib"] = None
    for key, value in values.items():
        numbers = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ValueError(f"{key} is not a finite number")
    return values


MARKS = {"shared": "times from a shared device", "uncommitted": "made from an uncommitted tree",
         "earlier code": "made by earlier code than this board's", "tuned": "tuned hyperparameters"}


def record_marks(record: Record) -> set[str]:
    """What a reader must know about a record before trusting its numbers (see :data:`MARKS`): its
    device was shared (``execution.shared_device``, or ``tags.overlapped`` found by
    :func:`mark_overlaps`), its tree had uncommitted changes, earlier code made it (another source hash),
    its hyperparameters were tuned."""
    env, tags = record.environment, record.tags
    marks = set()
    if record.execution.shared_device or tags.get("overlapped"):
        marks.add("shared")
    if env.get("git_dirty"):
        marks.add("uncommitted")
    if env.get("source_sha256") != _current_source():
        marks.add("earlier code")
    if tags.get("tuned"):
        marks.add("tuned")
    return marks


@functools.cache
def _current_source() -> str:
    from snnbench.records import source_hash

    return source_hash()


def mark_overlaps(records: list[tuple[Path, Record]]) -> None:
    """Tag records whose training overlapped another run's on the same host (``tags.overlapped``): their
    wall times were shared, whatever they declared. Inferred from ``started_at``/``finished_at`` and the
    hostname, so it also finds the overlaps of records made before runs declared sharing."""
    spans = []
    for _path, record in records:
        env = record.environment
        try:
            start, end = _when(record.started_at), _when(record.finished_at)
        except (ValueError, TypeError):
            continue
        spans.append((env.get("hostname"), str(env.get("gpu") or env.get("device")), start, end, record))
    spans.sort(key=lambda s: (str(s[0]), s[1], s[2]))
    for i, (host, device, _start, end, record) in enumerate(spans):
        for other in spans[i + 1:]:
            if (other[0], other[1]) != (host, device) or other[2] >= end:
                break
            for overlapping in (record, other[4]):
                overlapping.tags["overlapped"] = True


def _when(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(str(text)).timestamp()


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _options(record: Record) -> str:
    """What differs from the record's recipe (``augment=jitter:8``), as stored in the record."""
    return ",".join(f"{k}={v}" for k, v in sorted((record.overrides or {}).items()))


def budget_on(budget: str, env: dict, device: str) -> str:
    """A time budget with the machine it was spent on (``cpu_s=30 on AMD EPYC, family 25 model 17``): CPU
    seconds of two CPU classes, or of one thread and of several (``…, 2 threads``), or wall seconds of two
    GPUs, are different budgets and never share a row or a comparison. Records made before
    ``environment.cpu_class`` existed say so."""
    if budget.startswith("cpu_s="):
        threads = env.get("torch_threads")
        many = f", {threads} threads" if isinstance(threads, int) and threads > 1 else ""  # one thread: the unit
        cpu = env.get("cpu_class") or f"{env.get('cpu') or 'a CPU'} (CPU class not recorded)"
        return f"{budget} on {cpu}{many}"
    if budget.startswith("wall_s="):
        return f"{budget} on {device}"
    return budget


def _time_to(curves: list[Curve], threshold: float) -> float | None:
    elapsed = 0.0
    for row in curves:
        elapsed += float(row.epoch_time_s or 0.0)
        if row.test_acc is not None and row.test_acc >= threshold:
            return elapsed
    return None


def build_rows(records: Iterable[tuple[Path, Record]], dataset: str | None = None,
               thresholds: dict[str, tuple[float, ...]] | None = None,
               published: list[dict] | None = None) -> list[Row]:
    """Group records into rows (see the module docstring); sorted by dataset, then accuracy."""
    thresholds = THRESHOLDS if thresholds is None else thresholds
    published = load_published() if published is None else published
    rows: dict[tuple, Row] = {}
    by_path: dict[str, Record] = {}
    records = list(records)
    mark_overlaps(records)
    for path, record in records:
        tags = record.tags
        if (dataset and record.dataset != dataset) or (tags.get("trial") is not None and not tags.get("tuned")):
            continue  # another dataset, or one trial of a study (its best configuration is re-run as "tuned")
        cfg, env = record.config, record.environment
        device = env.get("gpu") or ("cpu" if str(env.get("device", "cpu")).startswith("cpu") else env.get("device"))
        recipe = "tuned" if tags.get("tuned") else (cfg.get("recipe") or "recipe")
        budget = budget_on(str(cfg.get("budget") or ""), env, device)
        epochs = int(cfg.get("epochs", record.epochs)) if budget else record.epochs  # budget: the upper bound
        key = (record.dataset, record.method, _options(record), record.arch, record.steps,
               epochs, recipe, device, budget)
        row = rows.get((*key, record.setting_hash))
        if row is None:
            row = rows[(*key, record.setting_hash)] = Row(*key)
            row.published = match_published(published, *key[:2], key[3], key[4])
        row.add(path, record.seed, record.finished_at, record_values(record))
        by_path[str(path)] = record
    for row in rows.values():  # after repeats of a seed were collapsed
        for run in row.runs:
            record = by_path[run]
            family = record.dataset_info.get("family", record.dataset)
            for level in thresholds.get(family, thresholds.get(record.dataset, ())):
                reached = _time_to(record.curves, level)
                bucket = row.time_to.setdefault(f"{level:g}%", [])
                if reached is not None:
                    bucket.append(reached)
    return sorted(rows.values(), key=lambda r: (r.dataset, -r.mean))


__all__ = ["MARKS", "THRESHOLDS", "Row", "build_rows", "load_records", "mark_overlaps", "record_marks",
           "record_values", "unranked_status"]
