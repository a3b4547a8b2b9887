"""One frozen run configuration: the method's recipe for the dataset, then the user's overrides.

Resolution order (later wins): :data:`BASE_DEFAULTS` → the method's ``default_recipe`` → the
method's recipe for the dataset (or its family, e.g. ``nmnist`` for ``nmnist-1k``; ``--recipe NAME``
picks another published one, stored as ``family:NAME``) → explicit CLI flags → ``--set key=value``
pairs. The resolved config is what is recorded and hashed.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any


class ConfigError(ValueError):
    """A bad override: unknown key or a value of the wrong type (CLI exit code 2)."""


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result. Hashed into ``config_hash``."""

    method: str
    dataset: str
    arch: str
    recipe: str = ""  # which published recipe of the method for this dataset ("" = its first)
    steps: int = 5  # number of time steps T
    epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"  # adam | adamw | sgd | nadam
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_schedule: str = "none"  # none | cosine | step
    lr_step_epochs: int = 0
    lr_gamma: float = 0.1
    grad_clip: float = 0.0  # global gradient-norm clip, 0 = off
    seed: int = 0
    encoding: str = "direct"  # static images: direct (repeat) | rate (Bernoulli); events: frames
    augment: str = "none"  # none | crop_flip | flip_roll | jitter:N
    val_fraction: float = 0.1
    max_train_samples: int = 0  # 0 = all
    max_test_samples: int = 0
    amp: bool = False  # bfloat16 autocast
    event_binning: str = "n_time_bins"  # time_window | n_time_bins | n_event_bins
    event_window_us: int = 0
    event_values: str = "binary"  # binary | count | max_norm
    event_size: int = 0  # resize event frames to this H = W (0 = sensor size)
    init_from: str = ""  # checkpoint or record to start from (time-inheritance training)
    options: dict[str, Any] = field(default_factory=dict)  # method-specific settings

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Hash of the whole resolved config (16 hex digits)."""
        return _digest(self.as_dict())

    def lineage_hash(self) -> str:
        """Hash without ``epochs``: a run resumed with more epochs continues the same lineage."""
        data = self.as_dict()
        data.pop("epochs")
        return _digest(data)


BASE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunConfig)
                                 if f.default is not dataclasses.MISSING}
TOP_LEVEL_KEYS = tuple(f.name for f in fields(RunConfig) if f.name != "options")


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value: Python literals (numbers, True/False, lists), else the string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["lr=0.01", "options.threshold=1"]`` into a dict; a pair without ``=`` is an error."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set needs key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = parse_value(value)
    return out


def resolve_config(method: Any, dataset: Any, flags: dict[str, Any] | None = None,
                   sets: dict[str, Any] | None = None) -> RunConfig:
    """Resolve the frozen config of ``method`` on ``dataset``; see the module docstring for the order."""
    values: dict[str, Any] = dict(BASE_DEFAULTS)
    options: dict[str, Any] = dict(method.option_defaults)
    variant = (sets or {}).get("recipe") or (flags or {}).get("recipe") or ""
    for layer in (method.default_recipe, method.recipe_for(dataset, str(variant))):
        layer = dict(layer)
        options.update(layer.pop("options", {}))
        values.update(layer)
    for key, value in (flags or {}).items():
        if value is not None:
            values[key] = value
    for key, value in (sets or {}).items():
        name = key.removeprefix("options.")
        if key in TOP_LEVEL_KEYS and not key.startswith("options."):
            values[key] = _coerce(key, value, BASE_DEFAULTS.get(key, values.get(key)))
        elif name in options:
            options[name] = _coerce(key, value, options[name])
        else:
            valid = ", ".join(list(TOP_LEVEL_KEYS) + sorted(options))
            raise ConfigError(f"unknown --set key {key!r} for method {method.name}; valid keys: {valid}")
    values["options"] = options
    values["method"], values["dataset"] = method.name, dataset.name
    if not values.get("arch"):
        raise ConfigError(f"method {method.name} has no network for dataset {dataset.name}; pass --arch")
    return RunConfig(**values)


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check a --set value against the type of its default (ints may stand for floats)."""
    if value is None and isinstance(default, str):
        return "none"  # `--set augment=none` names the choice "none", not a missing value
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(default, str):
        return str(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(value)
    else:
        return value if type(value) is type(default) else _bad(key, value, default)
    return _bad(key, value, default)


def _bad(key: str, value: Any, default: Any) -> Any:
    raise ConfigError(f"--set {key}={value!r}: expected a {type(default).__name__} (like the default {default!r})")
