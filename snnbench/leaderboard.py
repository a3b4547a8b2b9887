"""``snnbench leaderboard``: aggregate run records into the table a researcher reads.

One row per setting: dataset (its variant named, e.g. ``nmnist-1k``, ``cifar10-jpeg``), method, what
differs from the recipe (``loss=sdt``, ``exact_reset=True``, ``augment=jitter:8``), architecture, T,
epochs, recipe or tuned, and the device (GPU name, else ``cpu``). Runs that differ only in their seed
share a row; anything else (another GPU, another dataset variant, any other config field) never does.

Per row: test accuracy at the best-validation epoch, mean ± std over seeds (n shown) and best, and
the reference codes' convention (the maximum test accuracy over epochs) beside it, labelled as such;
training time per run and per epoch; ms per step; peak GPU memory; parameters; activation sparsity
(1 − the spike rate over all spiking neurons and steps on the test set); the training time to
reach accuracy thresholds (MLPerf-style, from the per-epoch test curve; the mean over the seeds that
reached it, with their count); NeuroBench's effective ACs and MACs per sample and the energy estimate
(:mod:`snnbench.metrics`; records made before it have none); and the published number for the same
method, dataset, network and T (``snnbench/published.json``, shipped with the package, each with its
source). A difference to it is given only when the recipe (including a TIT stage) and options match
and every seed trained at least the published epochs; otherwise the number is context ("budget
differs"). Repeat runs of one seed count once (the latest).

Records that fail the schema or cannot be read are reported with their path and reason and left
out; one bad record never stops the leaderboard. Names from records are checked before they touch
the file system, CSV cells cannot start formulas, and Markdown/HTML output escapes markup.
"""

from __future__ import annotations

import csv
import functools
import html
import importlib.resources
import io
import json
import math
import re
import shlex
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snnbench.config import config_digest, hashed_config, resolve_config, with_defaults
from snnbench.metrics import METRICS_CONVENTION, activation_sparsity
from snnbench.plots import pareto_front
from snnbench.records import read_record, validate_record

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

    def add(self, path: Path, record: dict, values: dict[str, Any]) -> None:
        """Add one run; a repeat of a seed already in the row replaces it if newer (seeds, not runs, count).
        The per-seed lists are derived from the kept run of each seed."""
        seed, finished = record["seed"], str(record.get("finished_at", ""))
        kept = self._by_seed.get(seed)
        if kept is not None and kept[0] >= finished:
            return
        self._by_seed[seed] = (finished, str(path), values)
        kept_runs = list(self._by_seed.items())
        self.seeds = [s for s, _ in kept_runs]
        self.finished = [f for _, (f, _, _) in kept_runs]
        self.runs = [p for _, (_, p, _) in kept_runs]
        entries = [v for _, (_, _, v) in kept_runs]
        for name in ("accuracy", "max_test", "train_time_s", "epoch_time_s"):
            setattr(self, "accuracies" if name == "accuracy" else name, [v[name] for v in entries])
        for name in ("ms_per_step", "peak_mib", "sparsity"):
            setattr(self, name, [v[name] for v in entries if v[name] is not None])
        self.samples = [v["samples"] for v in entries if v.get("samples") is not None]
        self.epoch_counts = [v["epochs_run"] for v in entries if "epochs_run" in v]
        self.cpu_s = [v["cpu_s"] for v in entries if v.get("cpu_s") is not None]
        self.marks = set().union(*(v.get("marks", set()) for v in entries))
        suites = {v.get("suite", "") for v in entries}
        self.suite = suites.pop() if len(suites) == 1 else ""
        ops = [v["ops"] for v in entries if v["ops"] is not None]
        self.acs, self.macs, self.energy_pj = ([o[i] for o in ops] for i in range(3))
        params = [v["params"] for v in entries if v["params"] is not None]
        self.params = params[-1] if params else self.params


def _mean(values: list[float], digits: int = 1) -> float | None:
    return round(statistics.fmean(values), digits) if values else None


def load_records(folder: Path) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """Valid records under ``folder`` (recursively, checkpoints excluded) and ``(path, reason)`` for the rest."""
    good, bad = [], []
    for path in sorted(Path(folder).rglob("*.json")):
        if "checkpoints" in path.parts:
            continue
        try:
            record = read_record(path)
            problems = validate_record(record)
            if not problems:
                problems = _name_problems(record)
            if not problems and record.get("status") == "completed":
                problems = _range_problems(record)
            if not problems and record.get("status") == "completed" and record.get("curves"):
                record_values(record)  # every value the row needs reads cleanly
        except Exception as err:  # noqa: BLE001 -- one bad file never stops the leaderboard
            bad.append((path, f"unreadable: {type(err).__name__}: {str(err)[:200]}"))
            continue
        if problems:
            bad.append((path, "; ".join(problems[:3])))
        elif record.get("status") != "completed" or not record.get("curves"):
            bad.append((path, f"status {record.get('status')!r}{UNRANKED}"))
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


def _range_problems(record: dict) -> list[str]:
    """Values no real run produces: an accuracy outside [0, 100], a negative time or count, fewer than one epoch."""
    problems = []
    accuracies = [("results." + k, v) for k, v in record["results"].items() if k.endswith("acc") or "_acc_" in k]
    accuracies += [(f"curves[{i}].{k}", row.get(k)) for i, row in enumerate(record["curves"])
                   for k in ("train_acc", "val_acc", "test_acc")]
    problems += [f"{name} is {value} (an accuracy is in [0, 100])" for name, value in accuracies
                 if isinstance(value, (int, float)) and not 0 <= value <= 100]
    times = [("cost." + k, v) for k, v in record["cost"].items() if k.endswith("_s") or "ms_per_step" in k]
    times += [(f"curves[{i}].epoch_time_s", row.get("epoch_time_s")) for i, row in enumerate(record["curves"])]
    problems += [f"{name} is {value} (times are >= 0)" for name, value in times
                 if isinstance(value, (int, float)) and value < 0]
    if not isinstance(record["epochs"], int) or record["epochs"] < 1:
        problems.append(f"epochs is {record['epochs']!r} (a ranked run trained at least one epoch)")
    return problems


def _name_problems(record: dict) -> list[str]:
    return [f"{key} {record[key]!r} is not a valid name" for key in ("method", "dataset")
            if not SAFE_NAME.fullmatch(record[key])]


def record_values(record: dict) -> dict[str, Any]:
    """The numbers a row takes from one record (raises on a malformed record)."""
    cost, curves = record["cost"], record["curves"]
    accuracy = record["results"]["test_acc_at_best_val"]
    if accuracy is None:
        raise ValueError("no test accuracy at the best-validation epoch")
    tests = [float(row["test_acc"]) for row in curves]
    metrics = record.get("metrics") or {}
    ops = None  # counts made under an older operation-count convention are not comparable: left out
    if metrics.get("synaptic_operations") and metrics.get("convention") == METRICS_CONVENTION:
        syn = metrics["synaptic_operations"]
        ops = (float(syn["Effective_ACs"]), float(syn["Effective_MACs"]), float(metrics["energy_estimate_pj"]))
    values = {
        "accuracy": float(accuracy), "max_test": max(tests),
        "train_time_s": float(cost.get("total_train_time_s") or cost["train_time_s"]),
        "epoch_time_s": float(cost["train_time_s"]) / max(len(curves), 1),
        "ms_per_step": _opt_float(cost.get("median_ms_per_step")), "peak_mib": _opt_float(cost.get("peak_gpu_mem_mib")),
        "sparsity": activation_sparsity(record.get("firing") or {}), "ops": ops, "params": cost.get("params"),
        "samples": None, "cpu_s": None, "epochs_run": len(curves), "marks": record_marks(record),
        "suite": str((record.get("tags") or {}).get("suite") or ""),
    }
    budget = record.get("budget")
    if isinstance(budget, dict) and isinstance(budget.get("spent"), dict):
        values["samples"] = float(budget["spent"]["samples"])
        values["cpu_s"] = float(budget["spent"]["cpu_s"])
    if (record.get("execution") or {}).get("shared_device"):  # times of runs that shared a device mislead
        values["ms_per_step"] = values["peak_mib"] = None
    for key, value in values.items():
        numbers = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            raise ValueError(f"{key} is not a finite number")
    return values


MARKS = {"shared": "times from a shared device", "uncommitted": "made from an uncommitted tree",
         "earlier code": "made by earlier code than this board's", "tuned": "tuned hyperparameters"}


def record_marks(record: dict) -> set[str]:
    """What a reader must know about a record before trusting its numbers (see :data:`MARKS`): its
    device was shared (``execution.shared_device``, or ``tags.overlapped`` found by
    :func:`mark_overlaps`), its tree had uncommitted changes, earlier code made it (another source hash),
    its hyperparameters were tuned."""
    env, tags = record.get("environment") or {}, record.get("tags") or {}
    marks = set()
    if (record.get("execution") or {}).get("shared_device") or tags.get("overlapped"):
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


def mark_overlaps(records: list[tuple[Path, dict]]) -> None:
    """Tag records whose training overlapped another run's on the same host (``tags.overlapped``): their
    wall times were shared, whatever they declared. Inferred from ``started_at``/``finished_at`` and the
    hostname, so it also finds the overlaps of records made before runs declared sharing."""
    spans = []
    for _path, record in records:
        env = record.get("environment") or {}
        try:
            start, end = _when(record["started_at"]), _when(record["finished_at"])
        except (KeyError, ValueError, TypeError):
            continue
        spans.append((env.get("hostname"), str(env.get("gpu") or env.get("device")), start, end, record))
    spans.sort(key=lambda s: (str(s[0]), s[1], s[2]))
    for i, (host, device, _start, end, record) in enumerate(spans):
        for other in spans[i + 1:]:
            if (other[0], other[1]) != (host, device) or other[2] >= end:
                break
            for overlapping in (record, other[4]):
                overlapping.setdefault("tags", {})["overlapped"] = True


def _when(text: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(str(text)).timestamp()


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _options(record: dict) -> str:
    """What differs from the current recipe: method options and config fields (``augment=jitter:8``)."""
    cfg = record["config"]
    recipe = _recipe_config(record["method"], record["dataset"], cfg.get("recipe", ""))
    if recipe is None:  # an unknown name or recipe: show nothing rather than guess
        return ""
    shown = {"seed", "epochs", "steps", "arch", "recipe", "options", "method", "dataset", "init_from", "budget"}
    changed = {k: v for k, v in cfg.items() if k not in shown and getattr(recipe, k, v) != v}
    changed |= {k: v for k, v in cfg.get("options", {}).items()
                if k != "backend" and recipe.options.get(k, v) != v}
    return ",".join(f"{k}={v}" for k, v in sorted(changed.items()))


@functools.lru_cache(maxsize=256)
def _recipe_config(method: str, dataset: str, recipe: str) -> Any:
    """The resolved recipe a record is compared with (once per method, dataset and recipe), or None."""
    from snnbench.registry import create_dataset, create_method

    try:
        return resolve_config(create_method(method), create_dataset(dataset), {"recipe": recipe}, check=False)
    except Exception:  # noqa: BLE001
        return None


def _setting(record: dict) -> str:
    """A digest of the whole config without the seed: runs that differ in anything else never share a row.
    A field a record predates counts at the value it ran with (:data:`snnbench.config.LATE_FIELDS`)."""
    config = with_defaults(record["config"], _option_defaults(record["method"]))
    return config_digest(hashed_config(config), exclude=("seed",))


@functools.lru_cache(maxsize=64)
def _option_defaults(method: str) -> dict[str, Any]:
    from snnbench.registry import create_method

    try:
        return dict(create_method(method).option_defaults)
    except Exception:  # noqa: BLE001 - a method this install does not have: compare its options as recorded
        return {}


def _time_to(curves: list[dict], threshold: float) -> float | None:
    elapsed = 0.0
    for row in curves:
        elapsed += float(row.get("epoch_time_s") or 0.0)
        if row.get("test_acc") is not None and row["test_acc"] >= threshold:
            return elapsed
    return None


def build_rows(records: Iterable[tuple[Path, dict]], dataset: str | None = None,
               thresholds: dict[str, tuple[float, ...]] | None = None,
               published: list[dict] | None = None) -> list[Row]:
    """Group records into rows (see the module docstring); sorted by dataset, then accuracy."""
    thresholds = THRESHOLDS if thresholds is None else thresholds
    published = load_published() if published is None else published
    rows: dict[tuple, Row] = {}
    by_path: dict[str, dict] = {}
    records = list(records)
    mark_overlaps(records)
    for path, record in records:
        tags = record.get("tags") or {}
        if (dataset and record["dataset"] != dataset) or (tags.get("trial") is not None and not tags.get("tuned")):
            continue  # another dataset, or one trial of a study (its best configuration is re-run as "tuned")
        cfg, env = record["config"], record["environment"]
        device = env.get("gpu") or ("cpu" if str(env.get("device", "cpu")).startswith("cpu") else env.get("device"))
        recipe = "tuned" if tags.get("tuned") else (cfg.get("recipe") or "recipe")
        budget = str(cfg.get("budget") or "")
        epochs = int(cfg.get("epochs", record["epochs"])) if budget else record["epochs"]  # budget: the upper bound
        key = (record["dataset"], record["method"], _options(record), record["arch"], record["steps"],
               epochs, recipe, device, budget)
        row = rows.get((*key, _setting(record)))
        if row is None:
            row = rows[(*key, _setting(record))] = Row(*key)
            row.published = match_published(published, *key[:2], key[3], key[4])
        row.add(path, record, record_values(record))
        by_path[str(path)] = record
    for row in rows.values():  # after repeats of a seed were collapsed
        for run in row.runs:
            record = by_path[run]
            family = record.get("dataset_info", {}).get("family", record["dataset"])
            for level in thresholds.get(family, thresholds.get(record["dataset"], ())):
                reached = _time_to(record["curves"], level)
                bucket = row.time_to.setdefault(f"{level:g}%", [])
                if reached is not None:
                    bucket.append(reached)
    return sorted(rows.values(), key=lambda r: (r.dataset, -r.mean))


@dataclass
class StandingsTable:
    """One comparison a researcher reads first: the rules of one declared suite on one dataset at one budget
    (a compute budget, or "N epochs"), one row per rule with its statistics (:mod:`snnbench.stats`)."""

    dataset: str
    suite: str
    budget: str
    entries: list[tuple[Any, Row]]  # (snnbench.stats.Standing, its row), best first


def standings_tables(rows: list[Row]) -> list[StandingsTable]:
    """Per dataset, suite and budget: the suite's rules ranked, each against the best (Welch, Holm). Only rows
    of a declared suite count (exploratory runs stay in "all runs"); a rule with several rows there keeps
    the one with the most seeds."""
    from snnbench.stats import standings

    groups: dict[tuple[str, str, str], dict[str, Row]] = {}
    for row in rows:
        if not row.suite or "tuned" in row.marks:
            continue
        label = row.budget or f"{row.epochs} epochs"
        chosen = groups.setdefault((row.dataset, row.suite, label), {})
        if row.method not in chosen or len(row.seeds) > len(chosen[row.method].seeds):
            chosen[row.method] = row
    tables = []
    for (dataset, suite, label), by_method in sorted(groups.items()):
        if sum(len(r.seeds) >= 2 for r in by_method.values()) < 2:
            continue  # a comparison needs at least two rules with two seeds (the smoke suite has one)
        ranked = standings({m: r.accuracies for m, r in by_method.items()})
        tables.append(StandingsTable(dataset, suite, label, [(s, by_method[s.name]) for s in ranked]))
    return tables


STANDINGS_COLUMNS = ("rank", "rule", "seeds", "test acc (mean ± 95% CI)", "vs best (Holm p)", "epochs",
                     "samples seen", "samples per CPU-s", "energy est. nJ", "notes")


def standings_cells(standing: Any, row: Row) -> list[str]:
    """The cells of one standings row (console, Markdown and page print these)."""
    ci = f" ± {standing.ci:.2f}" if standing.ci is not None else " (n=1)"
    if standing.best:
        versus = "best"
    elif standing.p_holm is None:
        versus = "not tested (n=1)"
    else:
        versus = ("≈ best" if standing.tied_with_best else "below") + f" (p={standing.p_holm:.3f})"
    samples = _mean(row.samples, 0)
    speed = (round(sum(row.samples) / sum(row.cpu_s)) if row.cpu_s and sum(row.cpu_s) > 0 else None)
    energy = _mean([e / 1000 for e in row.energy_pj], 1)
    notes = ", ".join(sorted(m for m in row.marks if m != "shared")) or "-"
    epochs = f"{_mean([float(e) for e in row.epoch_counts], 1)}" if row.epoch_counts else str(row.epochs)
    return [str(standing_rank(standing)), row.method, str(standing.n), f"{standing.mean:.2f}{ci}", versus, epochs,
            "-" if samples is None else f"{samples:,.0f}", "-" if speed is None else f"{speed:,}",
            "-" if energy is None else str(energy), notes]


def standing_rank(standing: Any) -> str:
    """``1`` for the best, ``=1`` for a rule tested and not distinguishable from it; nothing for the rest,
    and nothing for a rule with one seed (untested: its column says so; it is not ranked beside the best)."""
    if standing.best:
        return "1"
    return "=1" if standing.tied_with_best and standing.p_holm is not None else ""


def load_published(path: Path | None = None) -> list[dict]:
    """The table of paper results (``snnbench/published.json``, package data); each entry names its source."""
    if path is not None:
        return json.loads(Path(path).read_text())["results"]
    text = importlib.resources.files("snnbench").joinpath("published.json").read_text()
    return json.loads(text)["results"]


def load_context() -> list[dict]:
    """Published results on a dataset that are not one of snnbench's rules (e.g. Yin-Yang's ANN references)."""
    text = importlib.resources.files("snnbench").joinpath("published.json").read_text()
    return json.loads(text).get("context", [])


def match_published(published: list[dict], dataset: str, method: str, arch: str, steps: int) -> dict | None:
    """The published result for exactly this method, dataset (not a variant of it), network and T."""
    for entry in published:
        if (entry["method"], entry["dataset"], entry["arch"], entry["steps"]) == (method, dataset, arch, steps):
            mean, std = entry.get("mean"), entry.get("std")
            text = f"{mean:.2f}" + (f" ± {std:.2f}" if std is not None else "") if mean is not None else "-"
            return {**entry, "text": text}
    return None


# ---- writers -------------------------------------------------------------------------------------------
COLUMNS = ("dataset", "method", "options", "arch", "T", "epochs", "recipe", "device", "seeds", "accuracy",
           "best", "max test (ref. conv.)", "train time", "per epoch", "ms/step", "peak MiB", "params", "sparsity",
           "ACs/sample", "MACs/sample", "energy est. nJ", "time to accuracy", "published", "diff", "budget", "notes")


def table_cells(row: Row) -> list[str]:
    s = row.summary()

    def num(value: Any, unit: str = "") -> str:
        return "-" if value is None else f"{value}{unit}"

    accuracy = (f"{s['acc_mean']:.2f} ± {s['acc_std']:.2f}" if s["seeds"] > 1 else f"{s['acc_mean']:.2f} (n=1)")
    diff = num(s["diff_vs_published"]) if s["published_note"] is None else s["published_note"]
    return [s["dataset"], s["method"], s["options"] or "-", s["arch"], str(s["T"]), str(s["epochs"]), s["recipe"],
            str(s["device"]), str(s["seeds"]), accuracy, f"{s['acc_best']:.2f}", num(s["max_test_mean"]),
            num(s["train_time_s"], " s"), num(s["epoch_time_s"], " s"), num(s["ms_per_step"]),
            num(s["peak_gpu_mib"]), num(s["params"]), num(s["activation_sparsity"]), num(s["effective_acs"]),
            num(s["effective_macs"]), num(s["energy_estimate_nj"]),
            "; ".join(f"{k}: {v}" for k, v in s["time_to_accuracy"].items()) or "-",
            f"{s['published']} ({s['published_source']})" if s["published"] else "-", diff, row.budget or "-",
            ", ".join(sorted(row.marks)) or "-"]


MD_COLUMNS = ("method", "options", "arch", "T", "epochs", "budget", "device", "seeds", "accuracy",
              "max test (ref. conv.)", "train time", "ms/step", "published", "diff", "notes")


def to_markdown(rows: list[Row], skipped: list[tuple[Path, str]], figures: list[Any] | None = None,
                base: Path | None = None) -> str:
    """``LEADERBOARD.md``: the protocol in a paragraph, then per dataset its headline table (all columns
    are in the CSV, JSON and HTML page) and links to its figures."""
    lines = ["# snnbench leaderboard", "",
             "Generated by `snnbench leaderboard` from the run records in `leaderboards/runs/`. Accuracy: test "
             "accuracy (%) at the best-validation epoch, mean ± std over the seeds (n=1: a single seed); max test "
             "(ref. conv.): the reference codes' convention, the best test accuracy over epochs (no selection "
             "claim). A dataset variant (nmnist-1k, cifar10-jpeg) is not the published dataset and gets no "
             "published number; a published number is compared (diff) only at the same recipe, options and at "
             "least its epochs, else it is context (budget differs). Times compare only within one device. "
             "Every column, numbers only: `leaderboard.csv`, `leaderboard.json`; the page: `leaderboard.html`."]
    index = [COLUMNS.index(c) for c in MD_COLUMNS]
    tables = standings_tables(rows)
    datasets = sorted({r.dataset for r in rows}, key=lambda d: (not any(t.dataset == d for t in tables), d))
    lines += ["", "Datasets: " + ", ".join(f"[{_md(d)}](#{_anchor(d)})" for d in datasets)]
    for dataset in datasets:
        lines += ["", f"## {_md(dataset)}"]
        for standing in (t for t in tables if t.dataset == dataset):
            lines += ["", f"**Standings: suite `{_md(standing.suite)}`, {_md(budget_text(standing.budget))}.** "
                          "Rank 1 and =1: not distinguishable from the best (Welch's t-test, Holm-corrected, "
                          "p ≥ 0.05).", "", "| " + " | ".join(STANDINGS_COLUMNS) + " |",
                      "|" + "---|" * len(STANDINGS_COLUMNS)]
            lines += ["| " + " | ".join(_md(c) for c in standings_cells(st, row)) + " |"
                      for st, row in standing.entries]
        context = [c for c in load_context() if c["dataset"] == dataset]
        if context:
            lines += ["", "Reference results (not snnbench runs): " + "; ".join(
                _md(f"{c['what']}: {c['mean']:.1f} ± {c['std']:.1f} % ({c['source']})") for c in context)]
        lines += ["", "<details><summary>All runs on " + _md(dataset) + " (exploratory runs included: subsets, one "
                  "seed, tuned, earlier code; see notes)</summary>", "",
                  "| " + " | ".join(MD_COLUMNS) + " |", "|" + "---|" * len(MD_COLUMNS)]
        lines += ["| " + " | ".join(_md(table_cells(r)[i]) for i in index) + " |" for r in rows if r.dataset == dataset]
        lines += ["", "</details>"]
        links = [f for f in figures or [] if f.dataset == dataset]
        if links:
            lines += [""] + [f"- [{_md(f.caption)}]({_link(f.path, base)})" for f in links]
    if skipped:
        lines += ["", "## Records left out", ""] + [f"- {_md(str(p))}: {_md(why)}" for p, why in skipped]
    return "\n".join(lines) + "\n"


def budget_text(budget: str) -> str:
    """``cpu_s=30`` → "budget 30 s of CPU time per run"; ``40 epochs`` stays as it is."""
    kind, _, value = budget.partition("=")
    words = {"cpu_s": "{} s of CPU time in training steps (one thread)", "wall_s": "{} s of wall time",
             "samples": "{} training samples", "updates": "{} optimiser steps"}
    return f"budget {words[kind].format(value)}" if kind in words else budget


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", text.lower().replace(" ", "-"))


def _link(path: Path, base: Path | None) -> str:
    return (Path(path).relative_to(base).as_posix() if base is not None and Path(path).is_relative_to(base)
            else Path(path).name)


def _md(text: str) -> str:
    """Markdown text from a record: HTML escaped (GitHub renders raw HTML), pipes and newlines neutralised, and
    the characters that make links, images, emphasis and code (``[ ] ( ) ! * _ ` < >``) backslash-escaped, so a
    record can never plant a link."""
    text = html.escape(str(text)).replace("|", "/").replace("\n", " ").replace("\r", " ")
    return re.sub(r"([\\`*_\[\]()!#])", r"\\\1", text)


def _csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (OWASP: prefix =, +, -, @, tab, CR with ')."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def numeric_summary(row: Row) -> dict[str, Any]:
    """One setting as numbers (the CSV and JSON rows): accuracy mean, std (null for n=1), n, best;
    seconds, ms, MiB, counts; time to each accuracy threshold and how many seeds reached it."""
    s = row.summary()
    out = {k: v for k, v in s.items() if k not in ("time_to_accuracy", "published", "published_source")}
    out["acc_std"] = s["acc_std"] if s["seeds"] > 1 else None
    out["n"] = out.pop("seeds")
    pub = row.published or {}
    out.update({"published_mean": pub.get("mean"), "published_std": pub.get("std"),
                "published_source": pub.get("source")})
    for level, values in row.time_to.items():
        key = level.rstrip("%")
        out[f"time_to_{key}_s"] = _mean(values) if values else None
        out[f"reached_{key}"] = len(values)
    return out


def to_csv(rows: list[Row]) -> str:
    """Numeric columns, one row per setting (``pandas.read_csv`` gets numbers, not presentation text)."""
    summaries = [numeric_summary(r) for r in rows]
    columns: list[str] = []
    for summary in summaries:
        columns += [k for k in summary if k not in columns]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_csv_cell(s.get(c)) if s.get(c) is not None else "" for c in columns] for s in summaries)
    return out.getvalue()


def to_json(rows: list[Row], skipped: list[tuple[Path, str]]) -> str:
    return json.dumps({"rows": [{**numeric_summary(r), "runs": r.runs, "seeds_list": r.seeds,
                                  "reproduce": r.reproduce()} for r in rows],
                       "skipped": [{"path": str(p), "reason": why} for p, why in skipped]}, indent=1)


def to_html(rows: list[Row], skipped: list[tuple[Path, str]], figures: list[Any] | None = None,
            page_path: Path = Path("leaderboard.html")) -> str:
    """The self-contained page (:mod:`snnbench.page`); ``figures`` are inlined, links relative to ``page_path``."""
    from snnbench import page

    return page.render(rows, skipped, figures or [], page_path)


def write_leaderboard(rows: list[Row], records: list[tuple[Path, dict]], skipped: list[tuple[Path, str]],
                      out: Path) -> dict[str, Path]:
    """Write ``LEADERBOARD.md``, the self-contained ``leaderboard.html`` (figures inlined; the PNGs also
    under ``plots/``), csv and json."""
    from snnbench.plots import plot_all

    out.mkdir(parents=True, exist_ok=True)
    figures = plot_all(rows, records, out / "plots")
    files = {"md": out / "LEADERBOARD.md", "html": out / "leaderboard.html", "csv": out / "leaderboard.csv",
             "json": out / "leaderboard.json"}
    files["md"].write_text(to_markdown(rows, skipped, figures, out))
    files["html"].write_text(to_html(rows, skipped, figures, files["html"]))
    files["csv"].write_text(to_csv(rows))
    files["json"].write_text(to_json(rows, skipped))
    stale = out / "plots" / "leaderboard.html"  # where the page was before it was self-contained
    if stale.exists():
        stale.unlink()
    return files


__all__ = ["Row", "StandingsTable", "build_rows", "load_published", "load_records", "match_published",
           "numeric_summary", "pareto_front", "standings_tables", "to_csv", "to_html", "to_json", "to_markdown",
           "write_leaderboard"]
