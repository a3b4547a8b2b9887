"""Checkpoints: where they live, what they hold, and how a run resumes or starts from one.

A checkpoint holds plain data only (tensors, numbers, strings, lists, dicts) and is loaded with
``torch.load(weights_only=True)``: a file that needs anything else is refused, never executed.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snnbench.config import ConfigError, RunConfig
from snnbench.files import atomic_write_bytes
from snnbench.records import read_record, record_checkpoint


def rng_state() -> dict[str, Any]:
    """Python's, NumPy's, torch's (and CUDA's) RNG states as plain data."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    state = {"python": random.getstate(), "numpy": [kind, torch.from_numpy(np.asarray(keys).copy()), pos,
                                                    has_gauss, gauss], "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states :func:`rng_state` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())  # RNG states are CPU byte tensors whatever the run's device
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def checkpoint_path(cfg: RunConfig, out: Path) -> Path:
    """Where a run's checkpoint lives: per method, dataset and lineage (epochs left out, so a longer run resumes it)."""
    return Path(out) / "checkpoints" / f"{cfg.method}-{cfg.dataset}-{cfg.lineage_hash()}.pt"


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint as plain data (``weights_only=True``); anything else is refused with a
    :class:`ConfigError` naming the file, and nothing in it runs."""
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any file torch cannot read as plain data (fuzzed files raise
        # IndexError, KeyError, TypeError, ... besides UnpicklingError): one refusal, never torch's advice
        lines = [line.strip() for line in str(err).splitlines() if line.strip() and "weights_only" not in line]
        fallback = lines[0] if lines else type(err).__name__
        first = next((line for line in lines if "Unsupported global" in line), fallback)
        raise ConfigError(f"refusing checkpoint {path}: it is not a plain-data snnbench checkpoint "
                          f"(tensors, numbers, strings, lists, dicts) ({type(err).__name__}: {first[:200]})") from None
    if not isinstance(blob, dict) or "model" not in blob:
        raise ConfigError(f"refusing checkpoint {path}: no model state in it")
    return blob


def resume_blob(cfg: RunConfig, ckpt: Path, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from (checked against ``cfg`` before any data loads), or None."""
    if not resume or not ckpt.is_file():
        return None
    blob = load_checkpoint(ckpt)
    done = int(blob.get("state", {}).get("epoch", 0))
    saved_epochs = blob.get("config", {}).get("epochs")
    if done > cfg.epochs:
        raise ConfigError(f"--resume: the checkpoint {ckpt} has already trained {done} epochs, more than "
                          f"--epochs {cfg.epochs}; ask for at least {done} epochs")
    if cfg.lr_schedule == "cosine" and saved_epochs is not None and saved_epochs != cfg.epochs and done:
        raise ConfigError(f"--resume: the cosine schedule depends on the number of epochs, and the checkpoint "
                          f"{ckpt} was trained for a {saved_epochs}-epoch run; resume with --epochs {saved_epochs}, "
                          f"or start a new run (without --resume)")
    return blob


def save_checkpoint(run: Any) -> None:
    """The run's model, optimiser, state, RNG states, lineage and config, written atomically."""
    buffer = io.BytesIO()
    torch.save({"model": run.model.state_dict(), "optimizer": run.optimizer.state_dict(),
                "state": run.state.as_dict(), "rng": rng_state(), "lineage": run.lineage,
                "config": run.cfg.as_dict()}, buffer)
    atomic_write_bytes(run.checkpoint, buffer.getvalue())


def init_from(source: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The lineage and checkpoint of a checkpoint (``.pt``) or run record (``.json``) to start from;
    checked before any data loads."""
    path = Path(source)
    if not path.is_file():
        raise ConfigError(f"init_from {source!r}: no such checkpoint or record file")
    if path.suffix == ".json":
        try:
            record = read_record(path)
        except ConfigError as err:
            raise ConfigError(f"init_from {source!r}: {err}") from None
        parent = record.lineage + [{
            "run_id": record.run_id, "config_hash": record.config_hash, "steps": record.steps,
            "epochs": record.epochs, "train_time_s": record.cost.train_time_s}]
        ckpt = record_checkpoint(record, path)
        if ckpt is None or not ckpt.is_file():
            raise ConfigError(f"init_from {source!r}: its checkpoint {record.checkpoint!r} is not there")
        return parent, load_checkpoint(ckpt)
    blob = load_checkpoint(path)
    config, state = blob.get("config", {}), blob.get("state", {})
    return blob.get("lineage", []) + [{
        "checkpoint": str(path), "config_hash": _config_hash(config), "steps": config.get("steps"),
        "epochs": state.get("epoch"), "train_time_s": state.get("train_time_s", 0.0)}], blob


def load_weights(model: torch.nn.Module, blob: dict[str, Any], source: str) -> None:
    """``blob``'s weights into ``model``; a network that does not match is refused naming ``source``."""
    try:
        model.load_state_dict(blob["model"])
    except RuntimeError as err:
        raise ConfigError(f"init_from {source!r}: its network does not match this run's ({err})") from err


def _config_hash(config: dict[str, Any]) -> str | None:
    try:
        return RunConfig(**config).hash()
    except (TypeError, ConfigError):  # a checkpoint from an older config schema
        return None


__all__ = ["checkpoint_path", "init_from", "load_checkpoint", "load_weights", "resume_blob", "rng_state",
           "save_checkpoint", "set_rng_state"]
