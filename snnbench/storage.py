"""The one opener of Optuna storages, for ``tune`` (its studies) and ``suite`` (its queue).

``url`` is an Optuna storage URL (``sqlite:///…``, ``postgresql://…``), ``journal:PATH`` (a journal file,
for file systems without locks that SQLite trusts), or "" for SQLite in ``out/<filename>``. RDB storages
beat a heartbeat (a worker that stops beating for ``grace_s`` has its trial failed by the next one;
``max_retry`` puts such a trial back in the queue). Workers that start together on a new database all try
to create Optuna's schema; the ones that lose that race open it once it exists (:func:`first_start`).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from snnbench.config import ConfigError

SCHEMA_RACE = ("already exists", "duplicate key", "uniqueviolation", "duplicatetable", "integrityerror")


def open_storage(url: str, out: Path, *, filename: str = "optuna.db", heartbeat_s: int = 20, grace_s: int = 60,
                 max_retry: int | None = None, what: str = "storage") -> Any:
    """An Optuna storage for ``url`` (see the module docs); a bad or unreachable one raises
    :class:`ConfigError` naming it (``what`` says which: "storage", "suite queue")."""
    import optuna

    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url.removeprefix("journal:"))
            path.parent.mkdir(parents=True, exist_ok=True)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if not url:
            Path(out).mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{(Path(out) / filename).resolve()}"
        with warnings.catch_warnings():  # the heartbeat is "experimental" in Optuna's words
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return first_start(lambda: optuna.storages.RDBStorage(
                url, heartbeat_interval=heartbeat_s, grace_period=grace_s, engine_kwargs={"pool_pre_ping": True},
                **_retry(optuna, max_retry)))
    except Exception as err:  # sqlalchemy's errors for a bad or unreachable URL, a missing driver, a bad path
        raise ConfigError(f"cannot open the {what} at {url!r}: {type(err).__name__}: {err}") from None


def _retry(optuna: Any, max_retry: int | None) -> dict[str, Any]:
    if max_retry is None:
        return {}
    if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # Optuna >= 4.9
        return {"heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)}


def first_start(open_rdb: Any, attempts: int = 8) -> Any:
    """``open_rdb()``, again when it lost the race to create the schema: workers started together on a new
    database all try to create Optuna's tables, and all but one get a duplicate-table or unique-key error from
    the server; once the winner has created them, opening just reads them."""
    for attempt in range(1, attempts + 1):
        try:
            return open_rdb()
        except Exception as err:  # noqa: BLE001 - only the schema race is retried, everything else raises
            text = f"{type(err).__name__} {err} {type(getattr(err, 'orig', None)).__name__}".lower()
            if attempt == attempts or not any(word in text for word in SCHEMA_RACE):
                raise
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")
