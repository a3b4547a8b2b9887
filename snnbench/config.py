"""One frozen run configuration: the method's recipe for the dataset, then the user's overrides.

Resolution order (later wins): :data:`BASE_DEFAULTS` → the method's ``default_recipe`` → the
method's recipe for the dataset (or its family, e.g. ``nmnist`` for ``nmnist-1k``; ``--recipe NAME``
picks another published one, stored as ``family:NAME``) → explicit CLI flags → ``--set key=value``
pairs. The resolved config is what is recorded and hashed.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import math
import re
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from snnbench.budget import parse_budget
from snnbench.events import BINNING_MODES, FRAME_VALUES, RESIZE_MODES, Binning

if TYPE_CHECKING:
    from snnbench.records import Record  # the records package imports this module


class ConfigError(ValueError):
    """A bad setting: unknown key, a value of the wrong type, a choice or a number out of range
    (CLI exit code 2). Raised while the config resolves, before any data loads."""


# ---- typed, validated fields ---------------------------------------------------------------------
_NOT_LATE = object()  # a field that existed when the first records were written


def _late(metadata: dict[str, Any], late: Any) -> dict[str, Any]:
    return metadata if late is _NOT_LATE else {**metadata, "late": late}


def num(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
        lt: float | None = None, late: Any = _NOT_LATE) -> Any:
    """A numeric dataclass field with its valid range (checked by :func:`validate_fields`); ``late``: see
    :func:`added`."""
    return field(default=default, metadata=_late({"range": (ge, gt, le, lt)}, late))


def choice(default: str, choices: tuple[str, ...], *, late: Any = _NOT_LATE) -> Any:
    """A string dataclass field that must be one of ``choices`` (module constants, listed in errors);
    ``late``: see :func:`added`."""
    return field(default=default, metadata=_late({"choices": tuple(choices)}, late))


def added(default: Any, late: Any) -> Any:
    """A field added after run records existed: ``late`` is the value that reproduces what a run made
    before it did (see :data:`LATE_FIELDS`). :func:`num` and :func:`choice` take ``late=`` the same way."""
    return field(default=default, metadata={"late": late})


def _range_text(ge: Any, gt: Any, le: Any, lt: Any) -> str:
    low = f">= {ge}" if ge is not None else f"> {gt}" if gt is not None else ""
    high = f"<= {le}" if le is not None else f"< {lt}" if lt is not None else ""
    return " and ".join(p for p in (low, high) if p)


def validate_fields(obj: Any, prefix: str = "") -> None:
    """Check (and coerce ints to floats for float fields of) a frozen dataclass in place: types from
    the annotations, ``Literal`` choices, :func:`choice` choices and :func:`num` ranges. Raises
    :class:`ConfigError` naming the field, the bad value and what would be valid."""
    hints = typing.get_type_hints(type(obj))
    for f in fields(obj):
        value, kind, name = getattr(obj, f.name), hints[f.name], prefix + f.name
        if get_origin(kind) is Literal:
            valid = get_args(kind)
            if value not in valid:
                raise ConfigError(f"{name}={value!r} is not valid; valid {name} values: "
                                  f"{', '.join(map(str, valid))}")
            continue
        if kind is bool and not isinstance(value, bool):
            raise ConfigError(f"{name}={value!r}: expected true or false")
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(f"{name}={value!r}: expected an integer")
        if kind is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}={value!r}: expected a number")
            if not math.isfinite(value):
                raise ConfigError(f"{name}={value!r}: expected a finite number")
            object.__setattr__(obj, f.name, float(value))
        if kind is str and not isinstance(value, str):
            raise ConfigError(f"{name}={value!r}: expected a string")
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise ConfigError(f"{name}={value!r} is not valid; valid {name} values: "
                              f"{', '.join(f.metadata['choices'])}")
        if "range" in f.metadata:
            ge, gt, le, lt = f.metadata["range"]
            if ((ge is not None and value < ge) or (gt is not None and value <= gt)
                    or (le is not None and value > le) or (lt is not None and value >= lt)):
                raise ConfigError(f"{name}={value!r} is out of range; it must be {_range_text(ge, gt, le, lt)}")


@dataclass(frozen=True)
class Options:
    """Base of each method's typed options: declare fields with :func:`num`, :func:`choice` or
    ``Literal`` types; :meth:`from_dict` validates a resolved options dict."""

    def __post_init__(self) -> None:
        validate_fields(self)
        self.check()

    def check(self) -> None:
        """Cross-field checks (override); raise :class:`ConfigError`."""

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}; valid options: "
                              f"{', '.join(f.name for f in fields(cls))}")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def typed_options(method: str, values: Mapping[str, Any] | None) -> Options:
    """``values`` as ``method``'s typed options (its registered ``options_type``): unknown names and bad values
    are refused naming them and the valid ones; missing names take the option's default."""
    from snnbench.registry import METHODS

    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"options must be a table of NAME = VALUE, got {type(values).__name__}")
    return METHODS.get(method).options_type.from_dict(dict(values or {}))


OPTIMIZERS = ("adam", "adamw", "sgd", "nadam", "slayer-nadam")
LR_SCHEDULES = ("none", "cosine", "step", "inverse_sqrt")
# static images: direct (repeat the normalised image), rate (Bernoulli p = pixel at every step), strsbp (the
# ST-RSBP code's Bernoulli p = pixel/5.5 at steps 1..T−1), strsbp-frozen (the same, drawn once per sample and
# reused every epoch, as the reference does without distortion)
# reused every epoch, as the reference does without distortion), latency (one spike per value v at step ⌊v·T⌋:
# Yin-Yang's time-to-first-spike coding, Randman's spike times)
ENCODINGS = ("direct", "rate", "strsbp", "strsbp-frozen", "latency")
AUGMENTS = ("none", "crop_flip", "flip_roll", "jitter:N", "elastic:SCALE,ROTATION,DISTORTION")
NORMALIZE_STATS = ("dataset", "mnist")
# training order per epoch: a fresh permutation, or the ST-RSBP code's 5000 random transpositions applied to the
# previous epoch's order (cuMatrixVector::shuffle; at most 10,000 positions move per epoch)
SHUFFLES = ("permutation", "reference_swaps")  # whose mean/std normalise static images (TSSL-BP: MNIST's)


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's result. Hashed into ``config_hash``."""

    method: str
    dataset: str
    arch: str
    recipe: str = added("", late="")  # which published recipe of the method for this dataset ("" = its first)
    steps: int = num(5, ge=1)  # number of time steps T
    epochs: int = num(1, ge=1)
    batch_size: int = num(64, ge=1)
    lr: float = num(1e-3, gt=0)
    optimizer: str = choice("adam", OPTIMIZERS)
    weight_decay: float = num(0.0, ge=0)
    momentum: float = num(0.9, ge=0, le=1)
    lr_schedule: str = choice("none", LR_SCHEDULES)
    lr_step_epochs: int = num(0, ge=0)
    lr_gamma: float = num(0.1, gt=0)
    grad_clip: float = num(0.0, ge=0)  # global gradient-norm clip, 0 = off
    seed: int = num(0, ge=0, le=2**32 - 1)  # numpy's seeds are 32-bit
    encoding: str = choice("direct", ENCODINGS)  # static images (see ENCODINGS)
    normalize: str = choice("dataset", NORMALIZE_STATS, late="dataset")  # direct encoding: whose mean/std
    augment: str = "none"  # none | crop_flip | flip_roll | jitter:N | elastic:SCALE,ROTATION,DISTORTION
    shuffle: str = choice("permutation", SHUFFLES, late="permutation")
    val_fraction: float = num(0.1, ge=0, lt=1)
    max_train_samples: int = num(0, ge=0)  # 0 = all
    max_test_samples: int = num(0, ge=0)
    amp: bool = False  # bfloat16 autocast
    event_binning: str = choice("n_time_bins", BINNING_MODES)
    event_window_us: int = num(0, ge=0)
    event_values: str = choice("binary", FRAME_VALUES)
    event_size: int = num(0, ge=0)  # resize event frames to this H = W (0 = sensor size)
    # pil: TET's 8-bit PIL path; antialias | bilinear: float
    event_resize: str = choice("pil", RESIZE_MODES, late="pil")
    event_stabilize: bool = added(False, late=False)  # remove saccade motion before binning (N-MNIST; TSSL-BP, ST-RSBP)
    init_from: str = ""  # checkpoint or record to start from (time-inheritance training)
    # a compute budget KIND=VALUE (cpu_s, wall_s, samples, updates; see snnbench.budget); "" = epochs
    budget: str = added("", late="")
    # flush denormal floats to zero on the CPU (torch.set_flush_denormal): Intel cores pay ~100 cycles per
    # denormal operand, so a rule whose gradients underflow (SLAYER's CNN: 7 % of the values reaching its conv
    # backward) runs ~4x slower per CPU second there than on cores that do not; changes results below 1.2e-38
    flush_denormal: bool = added(False, late=False)
    # the method's typed options (an instance of its ``options_type``, validated); a mapping given here is
    # typed on construction (missing names take the option's default)
    options: Options = field(default_factory=dict)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        validate_fields(self)
        if not isinstance(self.options, Options):
            object.__setattr__(self, "options", typed_options(self.method, self.options))
        number = r"\d+(?:\.\d+)?"
        if not re.fullmatch(rf"none|crop_flip|flip_roll|jitter:\d+|elastic:{number},{number},{number}", self.augment):
            raise ConfigError(f"augment={self.augment!r} is not valid; valid augment values: {', '.join(AUGMENTS)}")
        try:
            self.binning()  # the event settings' own rules live with Binning
            parse_budget(self.budget)
        except ValueError as err:
            raise ConfigError(str(err)) from None

    def binning(self) -> Binning:
        """How event recordings become frames under this config (unused for static datasets)."""
        return Binning(mode=self.event_binning, window_us=self.event_window_us, values=self.event_values,
                       size=self.event_size or None, resize=self.event_resize, stabilize=self.event_stabilize)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Hash of the whole resolved config (16 hex digits; fields added late count only off their
        :data:`LATE_FIELDS` value)."""
        return config_digest(hashed_config(self.as_dict()))

    def lineage_hash(self) -> str:
        """Hash without ``epochs``: a run resumed with more epochs continues the same lineage."""
        return config_digest(hashed_config(self.as_dict()), exclude=("epochs",))

    def setting_hash(self) -> str:
        """Hash without ``seed``: runs that differ only in their seed are one leaderboard setting."""
        return config_digest(hashed_config(self.as_dict()), exclude=("seed",))


BASE_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(RunConfig)
                                 if f.default is not dataclasses.MISSING}
EVENT_FIELDS = ("event_binning", "event_window_us", "event_values", "event_size", "event_resize", "event_stabilize")
TOP_LEVEL_KEYS = tuple(f.name for f in fields(RunConfig) if f.name != "options")

class _LateFields(Mapping[str, Any]):
    """Config fields and method options added after run records existed, each with the value that
    reproduces what a run made before it did (declared on the field: ``late=`` of :func:`num`,
    :func:`choice`, :func:`added`). At that value a field is left out of the config hash, so a record's
    ``config_hash`` keeps naming its configuration as fields are added (``snnbench run --from-record``
    reproduces it), and :func:`with_defaults` fills these values into the older records. Keys are the
    RunConfig field names and ``options.NAME`` over every registered method (one late value per name;
    two methods that disagree are refused). Collected on first use, when the registry is loaded."""

    @functools.cached_property
    def _values(self) -> dict[str, Any]:
        from snnbench.registry import METHODS, list_methods

        values = {f.name: f.metadata["late"] for f in fields(RunConfig) if "late" in f.metadata}
        owners: dict[str, str] = {}
        for name in list_methods():
            for option in fields(METHODS.get(name).options_type):
                if "late" not in option.metadata:
                    continue
                key, late = f"options.{option.name}", option.metadata["late"]
                if key in values and not _same(values[key], late):
                    raise RuntimeError(f"methods {owners[key]!r} and {name!r} declare different late values of "
                                       f"{key} ({values[key]!r}, {late!r}): one late value per option name")
                values[key] = late
                owners.setdefault(key, name)
        return values

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


LATE_FIELDS: Mapping[str, Any] = _LateFields()


def hashed_config(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` without the :data:`LATE_FIELDS` that are at their late value (what the hash covers)."""
    out = {k: v for k, v in config.items() if not (k in LATE_FIELDS and _same(v, LATE_FIELDS[k]))}
    if isinstance(config.get("options"), dict):
        out["options"] = {k: v for k, v in config["options"].items()
                          if not (f"options.{k}" in LATE_FIELDS and _same(v, LATE_FIELDS[f"options.{k}"]))}
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def with_defaults(config: dict[str, Any], option_defaults: dict[str, Any]) -> dict[str, Any]:
    """A recorded config completed with the fields and options added since it was recorded: the
    :data:`LATE_FIELDS` value where there is one (what the record ran with), else today's default."""
    late = {k: v for k, v in LATE_FIELDS.items() if not k.startswith("options.")}
    late_options = {k[len("options."):]: v for k, v in LATE_FIELDS.items()
                    if k.startswith("options.") and k[len("options."):] in option_defaults}
    out = {**BASE_DEFAULTS, **late, **config}
    out["options"] = {**option_defaults, **late_options, **(config.get("options") or {})}
    return out


def record_config(record: Record, check: bool = False) -> RunConfig:
    """The config a run record ran with (:func:`recorded_config` of its method and config): ``snnbench run
    --from-record`` re-runs it; its hash is the record's ``config_hash``."""
    return recorded_config(record.method, record.config, check)


def recorded_config(method_name: str, config: dict[str, Any], check: bool = False) -> RunConfig:
    """The config ``method_name`` ran with as a record stores it (``config``), completed by
    :func:`with_defaults` and validated by the method's options. With ``check`` the network is built on the
    meta device for the dataset, as :func:`resolve_config` does: a re-run checks, a reader of configs
    already run does not. (The schema migrations call it on records not yet in the current schema.)"""
    from snnbench.registry import create_dataset, create_method

    method = create_method(method_name)
    values = with_defaults(config, method.option_defaults)
    values["options"] = method.options_type.from_dict(values["options"])
    cfg = RunConfig(**values)
    if check:
        method.check(cfg, create_dataset(cfg.dataset))
    return cfg


def config_digest(data: dict[str, Any], exclude: tuple[str, ...] = ()) -> str:
    """The one digest of settings (16 hex digits of SHA-256 over sorted JSON), without ``exclude``:
    run ids, lineage and checkpoint keys, leaderboard grouping and data-cache keys all use it."""
    kept = {k: v for k, v in data.items() if k not in exclude}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:16]


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
                   sets: dict[str, Any] | None = None, check: bool = True) -> RunConfig:
    """Resolve the frozen config of ``method`` on ``dataset``; see the module docstring for the order.
    ``check=False`` skips the method's network check (a build on the meta device; its first arithmetic
    there imports torch's compiler stack, ~3 s): for readers of configs already run, never for a new run."""
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
    _apply_sets(values, options, sets or {}, method.name)
    values["options"] = method.options_type.from_dict(options)  # typed, range-checked
    values["method"], values["dataset"] = method.name, dataset.name
    if not values.get("arch"):
        raise ConfigError(f"method {method.name} has no network for dataset {dataset.name}; pass --arch")
    cfg = RunConfig(**values)
    _check_for_dataset(cfg, dataset)
    if check:
        method.check(cfg, dataset)  # the network builds for this dataset's input (on the meta device)
    return cfg


def _apply_sets(values: dict[str, Any], options: dict[str, Any], sets: dict[str, Any], method_name: str) -> None:
    """``--set`` pairs into ``values`` (top-level fields) and ``options`` (the method's), typed like their
    defaults; an unknown key is refused naming the valid ones."""
    for key, value in sets.items():
        if key in ("method", "dataset"):
            raise ConfigError(f"--set {key}=... is not how a run picks its {key}; use --{key} {value}")
        name = key.removeprefix("options.")
        if key in TOP_LEVEL_KEYS and not key.startswith("options."):
            values[key] = _coerce(key, value, BASE_DEFAULTS.get(key, values.get(key)))
        elif name in options:
            options[name] = _coerce(key, value, options[name])
        else:
            valid = ", ".join(list(TOP_LEVEL_KEYS) + sorted(options))
            raise ConfigError(f"unknown --set key {key!r} for method {method_name}; valid keys: {valid}")


def _check_for_dataset(cfg: RunConfig, dataset: Any) -> None:
    """Settings that would do nothing on ``dataset`` are refused: event options off event data, saccade
    stabilisation on recordings without saccades."""
    if dataset.kind != "events":
        unused = [k for k in EVENT_FIELDS if getattr(cfg, k) != BASE_DEFAULTS[k]]
        if unused:
            raise ConfigError(f"{', '.join(f'{k}={getattr(cfg, k)!r}' for k in unused)}: {dataset.name} is not an "
                              "event dataset, so event options do nothing there; drop them (valid for event datasets: "
                              "nmnist, nmnist-1k, cifar10-dvs, dvs-gesture, shd, ssc)")
    if cfg.event_stabilize and not getattr(dataset, "recorded_with_saccades", False):
        raise ConfigError(f"event_stabilize=True: {dataset.name} was not recorded with saccades "
                          "(valid for nmnist, nmnist-1k)")


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
    elif isinstance(default, str):  # `--set thresholds=5,2,10` arrives as a tuple: keep the text typed
        return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
    elif isinstance(default, (list, tuple)) and isinstance(value, (list, tuple)):
        return list(value)
    else:
        return value if type(value) is type(default) else _bad(key, value, default)
    return _bad(key, value, default)


def _bad(key: str, value: Any, default: Any) -> Any:
    raise ConfigError(f"--set {key}={value!r}: expected a {type(default).__name__} (like the default {default!r})")
