"""Time scalability: a trained run evaluated at other numbers of time steps without retraining (the
question of TET's Fig. 3: does a network trained at T = 2 hold up at T = 8?). The inputs are encoded
at each T (event recordings re-binned into T frames), the saved weights are loaded as they are, and the
curve is stored in the record's ``time_scaling`` (one entry per T, replacing an earlier one at that T).

:func:`evaluate` (accuracy over a loader) and :func:`measured_test` (the test pass with firing monitors
and operation counters) are the evaluation every run uses."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from snnbench.checkpoints import load_checkpoint
from snnbench.config import ConfigError, RunConfig, record_config
from snnbench.data import DataBundle, prepare_data
from snnbench.files import DataContext, atomic_write_bytes
from snnbench.graphs import CapturedStep
from snnbench.metrics import attach_counters, detach_counters
from snnbench.monitor import attach_monitors, detach_monitors
from snnbench.records import read_record, record_checkpoint
from snnbench.registry import build_model, create_dataset, create_method

if TYPE_CHECKING:
    from snnbench.engine import RuntimeOptions


@torch.no_grad()
def evaluate(model, method, loader, cfg: RunConfig, graph: CapturedStep | None = None) -> float:
    """Test accuracy (%) over ``loader``; ``graph`` replays the forward (the measured pass, with its
    hooks, runs eagerly)."""
    model.eval()
    device = next(model.parameters()).device
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    for inputs, labels in loader:
        if graph is not None:
            (output,) = graph(inputs)
        else:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                output = model(inputs)
        correct += (method.scores(output.float(), cfg).argmax(1) == labels).sum()
        total += labels.shape[0]
    return 100.0 * int(correct) / max(total, 1)


def measured_test(model, method, data: DataBundle, cfg: RunConfig) -> tuple[float, dict, dict]:
    """The test pass with firing monitors and synaptic-operation counters attached."""
    monitors, counters = attach_monitors(model), attach_counters(model)
    try:
        return evaluate(model, method, data.test, cfg), monitors, counters
    finally:
        detach_monitors(model)
        detach_counters(counters)


def evaluate_at_steps(path: Path, steps: list[int], runtime: RuntimeOptions, write: bool = True
                      ) -> list[dict[str, Any]]:
    """Test accuracy (%) of the run recorded at ``path`` for each T in ``steps``; stored in the record
    unless ``write`` is false. Everything is checked before any data loads."""
    from snnbench.engine import resolve_device  # the engine imports this module

    if not steps or any(t < 1 for t in steps):
        raise ConfigError(f"--steps needs positive numbers of time steps, got {steps}")
    record = read_record(path)
    checkpoint = record_checkpoint(record, path)
    if checkpoint is None or not checkpoint.is_file():
        raise ConfigError(f"{path}: its checkpoint {record.checkpoint!r} is not there; "
                          "evaluating at other T needs the trained weights")
    base = record_config(record)
    method, dataset = create_method(base.method), create_dataset(base.dataset)
    configs = [dataclasses.replace(base, steps=t) for t in steps]
    for cfg in configs:
        method.check(cfg, dataset)  # the network builds at this T
    blob = load_checkpoint(checkpoint)
    device = resolve_device(runtime.device)
    ctx = DataContext.from_options(runtime.data_dir, runtime.mirror, runtime.download)
    curve = []
    for cfg in configs:
        data = prepare_data(cfg, dataset, ctx, device, method.eval_batch_size)
        model, _, _ = build_model(method, cfg, data.input_shape, dataset.num_classes, device, ctx.cache_dir,
                                  len(data.train.split.labels), training=False)  # its buffers
        model.load_state_dict(blob["model"])
        curve.append({"steps": cfg.steps, "test_acc": evaluate(model, method, data.test, cfg)})
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if write:
        raw = json.loads(Path(path).read_text())
        kept = [row for row in raw.get("time_scaling", []) if row.get("steps") not in set(steps)]
        raw["time_scaling"] = sorted(kept + curve, key=lambda row: row["steps"])
        atomic_write_bytes(Path(path), (json.dumps(raw, indent=1, allow_nan=False) + "\n").encode())
    return curve
