"""``snnbench tune``: Optuna studies over a method's search space, resumable, prunable, shared by workers.

- **Storage**: a SQLite file ``<out>/tune/optuna.db`` by default (nothing to start); any RDB URL Optuna
  accepts (``postgresql://...`` for a cluster); ``journal:PATH`` for a journal file on a shared
  filesystem. RDB storages run a heartbeat, so a trial whose worker died is marked failed (not left
  running) when the next worker starts.
- **Study**: ``--study NAME`` (default ``<method>-<dataset>``) with the same storage resumes it; each
  call adds ``--trials`` trials. The study remembers its method, dataset and objective and refuses
  another. Workers (``--workers N``, or the same command in N shells or on N machines) share it.
- **Search space**: each method declares ``search_space`` beside its recipe (see
  :data:`snnbench.methods.base.Method.search_space`); ``--space name=low:high[:log|:int]`` overrides or
  adds a dimension; the first trial of a new study is the published recipe (``enqueue_trial``).
- **Objective**: ``accuracy`` maximises the best validation accuracy (never test) and prunes on it
  epoch by epoch; ``accuracy,time`` is multi-objective (validation accuracy up, training time down),
  with NSGA-II by default, no pruner, and reports the Pareto front.
- Every finished trial writes a normal run record tagged ``{"study", "trial"}``; ``--best N`` re-runs
  the best configuration with seeds 0..N−1 (tagged ``tuned``), which the leaderboard ranks.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from snnbench.config import TOP_LEVEL_KEYS, ConfigError, RunConfig, resolve_config
from snnbench.logs import route_optuna_logging
from snnbench.records import DEFAULT_RUNS
from snnbench.registry import create_dataset, create_method

SAMPLERS = ("tpe", "cmaes", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
PRUNE_FROM_EPOCH = 2  # no trial is pruned on its first report (slow starters are not judged on epoch 1)
IMPORTANCE_MIN_TRIALS = 5  # fANOVA importances from fewer complete trials are noise
OBJECTIVES = ("accuracy", "accuracy,time")
METRIC_NAMES = {"accuracy": ["val_acc"], "accuracy,time": ["val_acc", "train_time_s"]}
KINDS = ("float", "log", "int")
GRID_POINTS = 3  # grid sampler: points per continuous dimension


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a config field or a method option, in [low, high]."""

    name: str
    kind: str
    low: float
    high: float

    def suggest(self, trial: Any) -> Any:
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high))
        return trial.suggest_float(self.name, self.low, self.high, log=self.kind == "log")

    def grid(self) -> list[Any]:
        if self.kind == "int":
            steps = range(GRID_POINTS)
            return sorted({round(self.low + (self.high - self.low) * i / (GRID_POINTS - 1)) for i in steps})
        if self.kind == "log":
            return [self.low * (self.high / self.low) ** (i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]
        return [self.low + (self.high - self.low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]


def parse_space(method: Any, overrides: list[str]) -> list[Dimension]:
    """The method's ``search_space`` plus ``name=low:high[:kind]`` overrides; unknown names are errors."""
    space = {name: Dimension(name, *spec) for name, spec in method.search_space.items()}
    valid = set(TOP_LEVEL_KEYS) | set(method.option_defaults)
    for text in overrides:
        name, _, bounds = text.partition("=")
        parts = bounds.split(":")
        if name not in valid:
            raise ConfigError(f"unknown search-space parameter {name!r} for method {method.name}; "
                              f"valid names: {', '.join(sorted(valid))}")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in KINDS):
            raise ConfigError(f"search-space override {text!r}: expected NAME=LOW:HIGH[:{'|'.join(KINDS)}]")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError as err:
            raise ConfigError(f"search-space override {text!r}: bounds must be numbers") from err
        if not low < high or (len(parts) == 3 and parts[2] == "log" and low <= 0):
            raise ConfigError(f"search-space override {text!r}: need 0 < LOW < HIGH for log, LOW < HIGH otherwise")
        space[name] = Dimension(name, parts[2] if len(parts) == 3 else "float", low, high)
    for dim in space.values():
        if dim.name not in valid:
            raise ConfigError(f"method {method.name} declares an unknown search-space parameter {dim.name!r}")
    return list(space.values())


def open_storage(url: str, out: Path) -> Any:
    """The studies' Optuna storage (:func:`snnbench.storage.open_storage`; "" = SQLite ``optuna.db`` under ``out``)."""
    from snnbench.storage import open_storage as open_any

    return open_any(url, out)


def make_sampler(name: str, dims: list[Dimension], seed: int, multi: bool) -> Any:
    import optuna

    if name not in SAMPLERS:
        raise ConfigError(f"unknown sampler {name!r}; valid samplers: {', '.join(SAMPLERS)}")
    if name == "grid":
        return optuna.samplers.GridSampler({d.name: d.grid() for d in dims}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        if multi:
            raise ConfigError("the cmaes sampler is single-objective; use tpe, random or grid with accuracy,time")
        return optuna.samplers.CmaEsSampler(seed=seed)
    return optuna.samplers.NSGAIISampler(seed=seed) if multi else optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, multi: bool) -> Any:
    import optuna

    if name not in PRUNERS:
        raise ConfigError(f"unknown pruner {name!r}; valid pruners: {', '.join(PRUNERS)}")
    if multi or name == "none":
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=PRUNE_FROM_EPOCH)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=PRUNE_FROM_EPOCH)


@dataclass
class TuneSpec:
    """Everything one ``snnbench tune`` call needs (the CLI fills it)."""

    method: str
    dataset: str
    trials: int = 10
    timeout: float | None = None
    storage: str = ""
    study: str = ""
    sampler: str = "tpe"
    pruner: str = "median"
    objective: str = "accuracy"
    budget_epochs: int = 0
    seed: int | None = None  # the sampler's seed; None: a fresh random seed per worker (recorded)
    worker: int = 0  # offsets an explicit seed, so workers do not propose the same points
    space: list[str] = field(default_factory=list)
    flags: dict[str, Any] = field(default_factory=dict)
    sets: dict[str, Any] = field(default_factory=dict)
    runtime: Any = None  # engine.RuntimeOptions for every trial

    def __post_init__(self) -> None:
        if self.trials < 0:
            raise ConfigError(f"--trials {self.trials}: need 0 (create the study only) or more")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigError(f"--timeout {self.timeout}: need a positive number of seconds")
        if self.budget_epochs < 0:
            raise ConfigError(f"--budget-epochs {self.budget_epochs}: need 0 (the recipe's) or more")
        if self.seed is not None and self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: need 0 or more")
        self.sampler_seed = (self.seed + self.worker if self.seed is not None
                             else int.from_bytes(os.urandom(4), "little"))

    @property
    def study_name(self) -> str:
        return self.study or f"{self.method}-{self.dataset}"

    @property
    def multi(self) -> bool:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"unknown objective {self.objective!r}; valid objectives: {', '.join(OBJECTIVES)}")
        return self.objective == "accuracy,time"


def trial_config(spec: TuneSpec, params: dict[str, Any]) -> RunConfig:
    """The run config of a trial: recipe, the run flags, ``--set``, then the trial's parameters."""
    flags = dict(spec.flags)
    if spec.budget_epochs:
        flags["epochs"] = spec.budget_epochs
    dataset = create_dataset(spec.dataset)
    sets = {**spec.sets, **params}
    if dataset.tune_val_fraction is not None and "val_fraction" not in {**flags, **sets}:
        sets["val_fraction"] = dataset.tune_val_fraction  # a split large enough to rank trials
    return resolve_config(create_method(spec.method), dataset, flags, sets)


def load_study(spec: TuneSpec, create: bool = True) -> Any:
    """Create or resume the study; refuse one made for another method, dataset or objective."""
    import optuna

    route_optuna_logging()
    method = create_method(spec.method)
    dims = parse_space(method, spec.space)
    create_dataset(spec.dataset)  # an unknown dataset fails here, before any storage is touched
    recipe = trial_config(spec, {})  # every setting validated before the storage is touched
    if recipe.val_fraction <= 0:
        raise ConfigError("tuning needs a validation split (val_fraction > 0): test accuracy is never tuned on")
    out = Path(spec.runtime.out if spec.runtime is not None else DEFAULT_RUNS) / "tune"
    storage = open_storage(spec.storage, out)
    try:
        existing = optuna.load_study(study_name=spec.study_name, storage=storage)
    except KeyError:
        existing = None
    if existing is not None:
        attrs = existing.user_attrs
        mine = {"method": spec.method, "dataset": spec.dataset, "objective": spec.objective}
        clash = {k: attrs.get(k) for k in mine if attrs.get(k) != mine[k]}
        if clash:
            raise ConfigError(f"study {spec.study_name!r} was created for {attrs}; this call asks for {mine} "
                              "(choose another --study name)")
    elif not create:
        raise ConfigError(f"no study {spec.study_name!r} in this storage")
    directions: list[Any] = ["maximize", "minimize"] if spec.multi else ["maximize"]
    study = optuna.create_study(
        storage=storage, study_name=spec.study_name, load_if_exists=True, directions=directions,
        sampler=make_sampler(spec.sampler, dims, spec.sampler_seed, spec.multi),
        pruner=make_pruner(spec.pruner, spec.multi))
    if existing is None:
        for key, value in {"method": spec.method, "dataset": spec.dataset, "objective": spec.objective}.items():
            study.set_user_attr(key, value)
        with warnings.catch_warnings():  # set_metric_names is marked experimental in Optuna 4
            warnings.simplefilter("ignore")
            study.set_metric_names(METRIC_NAMES[spec.objective])  # the dashboard's labels
        first = {d.name: _value(recipe, d.name) for d in dims}
        if all(d.low <= first[d.name] <= d.high for d in dims):
            study.enqueue_trial(first)  # the published recipe is the first trial
    return study


def _value(cfg: RunConfig, name: str) -> Any:
    return getattr(cfg, name) if name in TOP_LEVEL_KEYS else getattr(cfg.options, name)


def objective_fn(spec: TuneSpec, dims: list[Dimension], report: Any = None) -> Any:
    """The Optuna objective: train the trial's config, report validation accuracy each epoch."""
    import optuna

    from snnbench.engine import RuntimeOptions, train

    def objective(trial: Any) -> Any:
        params = {d.name: d.suggest(trial) for d in dims}
        cfg = trial_config(spec, params)
        runtime = replace(spec.runtime or RuntimeOptions(), tags={"study": spec.study_name, "trial": trial.number})

        def on_epoch(epoch: int, row: dict[str, Any]) -> None:
            if report is not None:
                report(trial.number, epoch, cfg.epochs, row)
            if row.get("val_acc") is None:
                raise ConfigError("tuning needs a validation split (val_fraction > 0): test accuracy is never tuned on")
            if not spec.multi:
                trial.report(row["val_acc"], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}: val {row['val_acc']:.2f}%")

        trial.set_user_attr("sampler_seed", spec.sampler_seed)
        record, path = train(cfg, runtime, callback=on_epoch)
        trial.set_user_attr("record", str(path))
        best_val = float(record["results"]["best_val_acc"])
        if spec.multi:
            return best_val, float(record["cost"]["train_time_s"])
        return best_val

    return objective


def run_study(spec: TuneSpec, report: Any = None, on_trial: Any = None, study: Any = None) -> Any:
    """Add ``spec.trials`` trials (or until ``spec.timeout`` seconds) to ``study`` (default: open or create
    it from ``spec``); returns it."""
    import optuna

    route_optuna_logging()
    study = study if study is not None else load_study(spec)
    dims = parse_space(create_method(spec.method), spec.space)
    # only finished trials count (a dead worker's RUNNING trial never does; the heartbeat fails it)
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    done = len([t for t in study.trials if t.state in counted])
    callbacks = [optuna.study.MaxTrialsCallback(done + spec.trials, states=counted)]
    if on_trial is not None:
        callbacks.append(on_trial)
    study.optimize(objective_fn(spec, dims, report), n_trials=spec.trials, timeout=spec.timeout,
                   callbacks=callbacks, catch=(RuntimeError, FloatingPointError))  # never a ConfigError
    return study


def best_trial(study: Any) -> Any:
    """The best trial; for accuracy,time the most accurate one on the Pareto front."""
    if len(study.directions) > 1:
        front = study.best_trials
        if not front:
            raise ConfigError(f"study {study.study_name!r} has no completed trial yet")
        return max(front, key=lambda t: t.values[0])
    return study.best_trial


def rerun_best(spec: TuneSpec, seeds: int) -> list[Path]:
    """Re-run the best configuration with seeds 0..seeds−1; records tagged ``tuned``."""
    from snnbench.engine import RuntimeOptions, train

    study = load_study(spec, create=False)
    trial = best_trial(study)
    paths = []
    runtime = replace(spec.runtime or RuntimeOptions(),
                      tags={"study": spec.study_name, "tuned": "best", "best_trial": trial.number})
    for seed in range(seeds):
        paths.append(train(trial_config(spec, {**trial.params, "seed": seed}), runtime)[1])
    return paths


def study_report(study: Any, top: int = 5) -> dict[str, Any]:
    """Counts, best trials and (from :data:`IMPORTANCE_MIN_TRIALS` completed trials) parameter importances."""
    import optuna

    states = optuna.trial.TrialState
    counts = {s.name.lower(): len([t for t in study.trials if t.state == s])
              for s in (states.COMPLETE, states.PRUNED, states.FAIL, states.RUNNING)}
    complete = [t for t in study.trials if t.state == states.COMPLETE]
    if len(study.directions) > 1:
        best = sorted(study.best_trials, key=lambda t: -t.values[0])
    else:
        best = sorted(complete, key=lambda t: -t.value)[:top]
    importances: dict[str, float] = {}
    if len(complete) >= IMPORTANCE_MIN_TRIALS and len(study.directions) == 1:
        try:
            importances = optuna.importance.get_param_importances(study)
        except (RuntimeError, ValueError, ZeroDivisionError):
            importances = {}
    return {"study": study.study_name, "attrs": study.user_attrs, "counts": counts,
            "metric_names": list(study.metric_names or ["value"] * len(study.directions)),
            "best": [{"number": t.number, "values": t.values, "params": t.params,
                      "record": t.user_attrs.get("record")} for t in best],
            "importances": importances, "pareto": len(study.directions) > 1}


def elapsed(start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s" if seconds >= 60 else f"{seconds:.0f}s"


__all__ = ["OBJECTIVES", "PRUNERS", "SAMPLERS", "Dimension", "TuneSpec", "best_trial", "load_study", "parse_space",
           "rerun_best", "run_study", "study_report"]
