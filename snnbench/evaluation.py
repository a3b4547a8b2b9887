"""Time scalability: a trained run evaluated at other numbers of time steps without retraining (the
question of TET's Fig. 3: does a network trained at T = 2 hold up at T = 8?). The inputs are encoded
at each T (event recordings re-binned into T frames), the saved weights are loaded as they are, and the
curve is stored in the record's ``time_scaling`` (one entry per T, replacing an earlier one at that T)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, record_config
from snnbench.data import prepare_data
from snnbench.engine import RuntimeOptions, _evaluate, load_checkpoint, resolve_device
from snnbench.files import DataContext, atomic_write_bytes
from snnbench.kernels import bind_backends
from snnbench.records import read_record, record_checkpoint, validate_record
from snnbench.registry import create_dataset, create_method


def evaluate_at_steps(path: Path, steps: list[int], runtime: RuntimeOptions, write: bool = True
                      ) -> list[dict[str, Any]]:
    """Test accuracy (%) of the run recorded at ``path`` for each T in ``steps``; stored in the record
    unless ``write`` is false. Everything is checked before any data loads."""
    if not steps or any(t < 1 for t in steps):
        raise ConfigError(f"--steps needs positive numbers of time steps, got {steps}")
    record = read_record(path)
    problems = validate_record(record)
    if problems:
        raise ConfigError(f"{path} is not a valid run record ({problems[0]})")
    checkpoint = record_checkpoint(record, path)
    if checkpoint is None or not checkpoint.is_file():
        raise ConfigError(f"{path}: its checkpoint {record.get('checkpoint')!r} is not there; "
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
        model = method.build(parse_arch(cfg.arch), data.input_shape, dataset.num_classes, cfg).to(device)
        bind_backends(model, device)
        method.prepare(model, cfg, ctx.cache_dir, len(data.train.split.labels), training=False)  # its buffers
        model.load_state_dict(blob["model"])
        curve.append({"steps": cfg.steps, "test_acc": _evaluate(model, method, data.test, cfg)})
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if write:
        raw = json.loads(Path(path).read_text())
        kept = [row for row in raw.get("time_scaling", []) if row.get("steps") not in set(steps)]
        raw["time_scaling"] = sorted(kept + curve, key=lambda row: row["steps"])
        atomic_write_bytes(Path(path), (json.dumps(raw, indent=1, allow_nan=False) + "\n").encode())
    return curve
