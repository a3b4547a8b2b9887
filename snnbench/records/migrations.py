"""Run records, the migrations: one written-out step per schema version (like a storage migration),
applied by :func:`upgrade_record` in memory and by ``snnbench records upgrade`` on disk."""

from __future__ import annotations

from pathlib import Path


def upgrade_record(record: dict, path: Path | None = None) -> dict:
    """Bring a record to the current schema, one version step at a time (like a storage migration); a
    no-op for a current record. Each step is written out below. ``config_hash`` names the config that
    ran; it was re-derived once, in schema 5 (the hash rule that keeps it stable as fields are added)."""
    if not isinstance(record, dict):
        return record
    while isinstance(record.get("schema_version"), int) and record["schema_version"] in _UPGRADES:
        record = _UPGRADES[record["schema_version"]](record)
    return record


def _upgrade_1_to_2(record: dict) -> dict:
    """``results.max_test_acc``/``max_test_epoch`` from the curves; ``execution`` from what can be known
    (the backend ``auto`` resolved for the record's device, one parameter group); ``metrics`` and
    ``distributed`` defaults; ``cost.median_ms_per_step``/``total_train_time_s`` filled; the absolute
    ``checkpoint`` path becomes ``checkpoints/<name>`` relative to the record (where the engine writes
    it); the TSSL-BP option ``weight_scale`` (applied to every synapse in version 1) becomes
    ``weight_scale_conv`` and ``weight_scale_dense``."""
    out = dict(record)
    curves = [row for row in out.get("curves") or [] if isinstance(row, dict)]
    tests = [row.get("test_acc") for row in curves if isinstance(row.get("test_acc"), (int, float))]
    results = dict(out.get("results") or {})
    results.setdefault("max_test_acc", max(tests) if tests else None)
    results.setdefault("max_test_epoch", tests.index(max(tests)) + 1 if tests else None)
    out["results"] = results
    cost = dict(out.get("cost") or {})
    cost.setdefault("median_ms_per_step", cost.get("ms_per_step"))
    cost.setdefault("total_train_time_s", cost.get("train_time_s", 0.0))
    out["cost"] = cost
    config = dict(out.get("config") or {})
    options = dict(config.get("options") or {})
    if out.get("method") == "tsslbp" and "weight_scale" in options:
        scale = options.pop("weight_scale")
        options["weight_scale_conv"] = options["weight_scale_dense"] = scale
    config["options"] = options
    out["config"] = config
    device = str((out.get("environment") or {}).get("device") or "cpu")
    backend = options.get("backend", "auto")
    resolved = ("triton" if device.startswith("cuda") else "torch") if backend == "auto" else backend
    out.setdefault("execution", {"backends": [resolved] if "backend" in options else [],
                                 "param_groups": [{"name": "all", "lr_scale": 1.0,
                                                   "params": cost.get("params", 0)}],
                                 "shared_device": False})
    out.setdefault("metrics", {})
    out.setdefault("distributed", {"world_size": 1, "backend": None})
    checkpoint = out.get("checkpoint")
    out["checkpoint"] = f"checkpoints/{Path(checkpoint).name}" if isinstance(checkpoint, str) and checkpoint else ""
    out["schema_version"] = 2
    return out


LIF_RESET_NAMES = {"hard": "zero", "soft": "subtract"}  # schema 2's LIF names → the one reset vocabulary


def _upgrade_2_to_3(record: dict) -> dict:
    """``command`` (the command line that made the run; null when not known) and ``execution.method`` (what
    the rule prepared; empty before) enter the schema; the LIF
    option ``reset`` of STBP and TET takes the suite's one vocabulary (``hard`` → ``zero``, ``soft`` →
    ``subtract``), so an upgraded record groups with the runs made since."""
    out = dict(record)
    out.setdefault("command", None)
    out["execution"] = {**(out.get("execution") or {}), "method": (out.get("execution") or {}).get("method", {})}
    config = dict(out.get("config") or {})
    options = dict(config.get("options") or {})
    if options.get("reset") in LIF_RESET_NAMES and out.get("method") != "tsslbp":
        options["reset"] = LIF_RESET_NAMES[options["reset"]]
    config["options"] = options
    out["config"] = config
    out["schema_version"] = 3
    return out


def _upgrade_3_to_4(record: dict) -> dict:
    """``time_scaling`` (test accuracy at other evaluation T, from ``snnbench eval --steps``) enters the
    schema, empty for an older record."""
    return {**record, "time_scaling": record.get("time_scaling", []), "schema_version": 4}


def _upgrade_4_to_5(record: dict) -> dict:
    """``cost.feed_ratio`` enters the schema (null for an older record); ``config_hash`` under the hash rule
    of schema 5: the config completed with the fields added since
    the record (at the values it ran with, :data:`snnbench.config.LATE_FIELDS`) and hashed without the
    late fields at those values, so a re-run from the record has the same hash and later fields never
    change it again. The hash the run was made with stays in ``tags.config_hash_v4``. A record whose
    method this install lacks, or whose config no longer validates, keeps its hash."""
    from snnbench.config import ConfigError, recorded_config
    from snnbench.registry import UnknownNameError

    out = {**record, "schema_version": 5, "cost": {"feed_ratio": None, **(record.get("cost") or {})}}
    try:
        new = recorded_config(record["method"], record["config"]).hash()
    except (UnknownNameError, ConfigError, KeyError, TypeError):
        return out
    if new != record.get("config_hash"):
        out["tags"] = {**(record.get("tags") or {}), "config_hash_v4": record.get("config_hash")}
        out["config_hash"] = new
    return out


def _upgrade_5_to_6(record: dict) -> dict:
    """``execution.cuda_graph`` enters the schema: every older record's steps ran eagerly."""
    execution = {"cuda_graph": "off: before schema 6", **(record.get("execution") or {})}
    return {**record, "schema_version": 6, "execution": execution}


def _upgrade_6_to_7(record: dict) -> dict:
    """``budget`` enters the schema (compute budgets, :mod:`snnbench.budget`): null for an older record,
    which ran for its epochs."""
    return {**record, "budget": record.get("budget"), "schema_version": 7}


def _upgrade_7_to_8(record: dict) -> dict:
    """``setting_hash`` and ``overrides`` enter the schema (:mod:`snnbench.records.grouping`): how the board
    groups the record and what it changes from its recipe, decided here once with the method's code
    (relative to today's recipe, as the board showed it), so the board no longer needs that code."""
    from .grouping import grouping

    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    keys = grouping(str(record.get("method")), str(record.get("dataset")), config)
    return {**record, **keys, "schema_version": 8}


_UPGRADES = {1: _upgrade_1_to_2, 2: _upgrade_2_to_3, 3: _upgrade_3_to_4, 4: _upgrade_4_to_5, 5: _upgrade_5_to_6,
             6: _upgrade_6_to_7, 7: _upgrade_7_to_8}


