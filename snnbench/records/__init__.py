"""Run records: the schema (:mod:`.schema`), its migrations (:mod:`.migrations`), the provenance of a run
(:mod:`.provenance`), and here the file operations (write, read, upgrade on disk, the checkpoint a record
names). The package re-exports the public names of its modules."""

from __future__ import annotations

import json
from pathlib import Path

from snnbench.config import ConfigError
from snnbench.files import atomic_write_bytes

from .migrations import _UPGRADES, LIF_RESET_NAMES, upgrade_record
from .provenance import environment, source_files, source_hash
from .schema import (
    DEFAULT_RUNS,
    SCHEMA,
    SCHEMA_VERSION,
    STATUSES,
    Cost,
    Curve,
    Execution,
    Number,
    Record,
    Results,
    validate_record,
)


def record_checkpoint(record: Record, path: Path) -> Path | None:
    """The checkpoint file of ``record`` read from ``path`` (its path is relative to the record's folder; one
    that leads outside that folder, ``../../etc/passwd``, is no checkpoint: None)."""
    checkpoint = record.checkpoint
    if not isinstance(checkpoint, str) or not checkpoint:
        return None
    folder = Path(path).parent.resolve()
    target = (folder / checkpoint).resolve()
    if not target.is_relative_to(folder):  # a record names only a checkpoint inside its own folder
        return None
    return target


def write_record(record: dict, directory: Path) -> Path:
    """Validate and write ``record`` atomically as ``<directory>/<run_id>.json``; never replaces an
    existing record (exclusive create: concurrent runs never lose one another's records)."""
    problems = validate_record(record)
    if problems:
        raise ValueError("refusing to write an invalid record: " + "; ".join(problems))
    path = Path(directory) / f"{record['run_id']}.json"
    atomic_write_bytes(path, record_text(record).encode(), exclusive=True)
    return path


class StaleRecordError(ConfigError):
    """A record in another schema than this snnbench's: upgraded once, on disk, by ``snnbench records
    upgrade`` (Optuna's ``storage upgrade`` model), never silently in memory by a reader. ``older``: its schema
    is one the upgrade rewrites (else a newer snnbench, or not a record, wrote it)."""

    def __init__(self, message: str, older: bool) -> None:
        super().__init__(message)
        self.older = older


class InvalidRecordError(ConfigError):
    """A file in the current schema whose content breaks it (``problems``: every reason, as
    :func:`validate_record` gives them)."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: not a valid run record ({'; '.join(problems[:3])})")
        self.problems = problems


def read_record(path: Path) -> Record:
    """Read the record at ``path``, typed (:class:`Record`, its curves, results, cost and execution
    dataclasses). One in an older schema is refused with the command that upgrades it
    (:class:`StaleRecordError`), so is one from a newer snnbench; one that breaks the schema is refused
    with its problems (:class:`InvalidRecordError`)."""
    raw = json.loads(Path(path).read_text())
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        if isinstance(version, int) and version in _UPGRADES:
            raise StaleRecordError(f"{path}: record schema {version} is older than this snnbench's "
                                   f"({SCHEMA_VERSION}); run `snnbench records upgrade {path}` once (it rewrites the "
                                   "file in the current schema, keeping its results and config hash)", older=True)
        raise StaleRecordError(f"{path}: record schema {version!r} is not one this snnbench reads "
                               f"({SCHEMA_VERSION}; it upgrades 1..{SCHEMA_VERSION - 1}): a newer snnbench wrote it?",
                               older=False)
    problems = validate_record(raw)
    if problems:
        raise InvalidRecordError(path, problems)
    return Record.from_dict(raw)


def record_text(record: dict) -> str:
    """The one on-disk form of a record (what :func:`write_record` and :func:`upgrade_file` write)."""
    return json.dumps(record, indent=1, sort_keys=False, allow_nan=False) + "\n"


def upgrade_file(path: Path, write: bool = True) -> int | None:
    """Rewrite the record at ``path`` in the current schema (atomically, validated first); returns the
    schema version it had, or None where it was current already. ``write=False`` only says so."""
    raw = json.loads(Path(path).read_text())
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if not isinstance(version, int) or version not in _UPGRADES:
        if version != SCHEMA_VERSION:
            raise ValueError(
                f"{path}: schema_version {version!r} is not one this snnbench upgrades (1..{SCHEMA_VERSION})"
            )
        return None
    if write:
        record = upgrade_record(raw, Path(path))
        problems = validate_record(record)
        if problems:
            raise ValueError(f"{path}: the upgraded record is invalid: " + "; ".join(problems[:3]))
        atomic_write_bytes(Path(path), record_text(record).encode())
    return version


__all__ = [
    "Cost",
    "Curve",
    "DEFAULT_RUNS",
    "Execution",
    "InvalidRecordError",
    "LIF_RESET_NAMES",
    "Number",
    "Record",
    "Results",
    "SCHEMA",
    "SCHEMA_VERSION",
    "STATUSES",
    "StaleRecordError",
    "environment",
    "read_record",
    "record_checkpoint",
    "record_text",
    "source_files", "source_hash",
    "upgrade_file",
    "upgrade_record",
    "validate_record",
    "write_record",
]
