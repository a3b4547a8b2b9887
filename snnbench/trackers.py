"""Experiment trackers (optional): each run's resolved config and per-epoch metrics to TensorBoard or
MLflow, with ``snnbench run --log tensorboard|mlflow`` (off by default; the run record stays the
source of truth). TensorBoard writes event files under ``<out>/tensorboard/<run>``; MLflow writes to
``$MLFLOW_TRACKING_URI``, by default a local SQLite store ``<out>/mlflow.db`` with artifacts in
``<out>/mlruns`` (no server; ``mlflow ui --backend-store-uri sqlite:///<out>/mlflow.db`` shows it).

A tracker that fails logs a warning and stops tracking; it never stops the run.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from snnbench.config import ConfigError, RunConfig

log = logging.getLogger("snnbench.trackers")
TRACKERS = ("tensorboard", "mlflow")
EXTRAS = {"tensorboard": ("tensorboard", "tensorboard"), "mlflow": ("mlflow", "mlflow")}  # module, extra
METRICS = ("train_loss", "train_acc", "val_acc", "test_acc", "epoch_time_s", "lr")


def check_trackers(names: list[str]) -> None:
    """Refuse an unknown or uninstalled tracker before any work starts."""
    import importlib.util

    for name in names:
        if name not in TRACKERS:
            raise ConfigError(f"--log {name!r} is not a tracker; valid trackers: {', '.join(TRACKERS)}")
        module, extra = EXTRAS[name]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"--log {name} needs the {module!r} package: pip install 'snnbench[{extra}]'")


def flat_config(cfg: RunConfig) -> dict[str, Any]:
    """The config as one flat mapping (``options.threshold``), the form trackers' parameter tables take."""
    values = cfg.as_dict()
    options = values.pop("options")
    return {**values, **{f"options.{k}": v for k, v in options.items()}}


class TensorBoard:
    """Scalars per epoch (``train/loss``, ``val/acc``...), the config as text and as hyperparameters."""

    def __init__(self, cfg: RunConfig, out: Path, name: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.cfg = cfg
        self.writer = SummaryWriter(log_dir=str(Path(out) / "tensorboard" / name))
        self.writer.add_text("config", "```\n" + json.dumps(cfg.as_dict(), indent=1, sort_keys=True) + "\n```")

    def epoch(self, epoch: int, row: dict[str, Any]) -> None:
        for key in METRICS:
            if row.get(key) is not None:
                self.writer.add_scalar(key.replace("_", "/", 1), float(row[key]), epoch)
        self.writer.flush()

    def finish(self, record: dict[str, Any] | None, path: Path | None) -> None:
        if record is not None:
            params = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                      for k, v in flat_config(self.cfg).items()}
            results = {f"result/{k}": float(v) for k, v in record["results"].items()
                       if isinstance(v, (int, float)) and not isinstance(v, bool)}
            self.writer.add_hparams(params, results, run_name=".")
        self.writer.close()


class MLflow:
    """One MLflow run: the flat config as parameters, the config hash and run id as tags, metrics per
    epoch (step = epoch), the resolved config and the run record as artifacts."""

    def __init__(self, cfg: RunConfig, out: Path, name: str) -> None:
        import mlflow

        logging.getLogger("mlflow").setLevel(max(logging.getLogger("snnbench").getEffectiveLevel(), logging.WARNING))
        out = Path(out).resolve()
        out.mkdir(parents=True, exist_ok=True)
        uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{out / 'mlflow.db'}"
        self.client = mlflow.MlflowClient(uri)
        experiment = self.client.get_experiment_by_name("snnbench")
        experiment_id = (experiment.experiment_id if experiment is not None else self.client.create_experiment(
            "snnbench", artifact_location=(out / "mlruns").as_uri()))
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags={
            "snnbench.config_hash": cfg.hash(), "snnbench.method": cfg.method, "snnbench.dataset": cfg.dataset,
        }).info.run_id
        for key, value in flat_config(cfg).items():
            self.client.log_param(self.run_id, key, value)
        self.client.log_dict(self.run_id, cfg.as_dict(), "config.json")

    def epoch(self, epoch: int, row: dict[str, Any]) -> None:
        for key in METRICS:
            if row.get(key) is not None:
                self.client.log_metric(self.run_id, key, float(row[key]), step=epoch)

    def finish(self, record: dict[str, Any] | None, path: Path | None) -> None:
        if record is not None and path is not None:
            self.client.set_tag(self.run_id, "snnbench.run_id", record["run_id"])
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FINISHED" if record is not None else "FAILED")


class Trackers:
    """The trackers of one run; a failing one is dropped with a warning (the run goes on)."""

    def __init__(self, names: list[str], cfg: RunConfig, out: Path) -> None:
        check_trackers(names)
        name = f"{cfg.method}-{cfg.dataset}-T{cfg.steps}-{cfg.hash()[:8]}-s{cfg.seed}"
        kinds = {"tensorboard": TensorBoard, "mlflow": MLflow}
        self.active: list[Any] = []
        for tracker in names:
            self._guard(tracker, lambda t=tracker: self.active.append(kinds[t](cfg, out, name)))

    def watch(self, progress: Any) -> Any:
        """The engine's progress reporter ``progress`` (or none), also sending each finished epoch here."""
        return _Watched(progress, self)

    def epoch(self, epoch: int, row: dict[str, Any]) -> None:
        for tracker in list(self.active):
            self._guard(tracker, lambda t=tracker: t.epoch(epoch, row))

    def finish(self, record: dict[str, Any] | None = None, path: Path | None = None) -> None:
        for tracker in list(self.active):
            self._guard(tracker, lambda t=tracker: t.finish(record, path))

    def _guard(self, tracker: Any, action: Any) -> None:
        try:
            action()
        except Exception as err:  # noqa: BLE001 - a tracker never stops a run
            log.warning("tracker %s failed (%s: %s); the run goes on without it", tracker, type(err).__name__, err)
            if tracker in self.active:
                self.active.remove(tracker)


class _Watched:
    def __init__(self, inner: Any, trackers: Trackers) -> None:
        self.inner, self.trackers = inner, trackers

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        if self.inner is not None:
            self.inner.start_epoch(epoch, epochs, batches)

    def advance(self, loss: float, accuracy: float, samples_per_s: float) -> None:
        if self.inner is not None:
            self.inner.advance(loss, accuracy, samples_per_s)

    def end_epoch(self, row: dict[str, Any]) -> None:
        if self.inner is not None:
            self.inner.end_epoch(row)
        self.trackers.epoch(int(row["epoch"]), row)
