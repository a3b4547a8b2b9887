"""Log lines: one stderr handler for snnbench's and Optuna's loggers, at the level ``-q``/``-v`` pick.

The command line calls :func:`setup_logging` once: one handler, on the ``snnbench`` and ``optuna`` loggers;
:func:`route_optuna_logging` (called where a study opens) removes Optuna's own stderr handler, so a batch
log holds one format.
"""

from __future__ import annotations

import logging
import sys

LEVELS = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}  # -q, default, -v, -vv
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def level_of(verbosity: int) -> int:
    """The logging level of a verbosity (−1 quiet … 2 debug; clamped)."""
    return LEVELS[max(-1, min(2, verbosity))]


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record (a test's capture, a redirected stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))

    @property  # type: ignore[override]
    def stream(self):  # noqa: D102
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def setup_logging(verbosity: int = 0) -> None:
    """Log ``snnbench.*`` and ``optuna.*`` records at ``verbosity`` to stderr in one plain format."""
    root = logging.getLogger("snnbench")
    root.setLevel(level_of(verbosity))
    if not any(isinstance(h, _Stderr) for h in root.handlers):
        handler = _Stderr()
        root.addHandler(handler)
        logging.getLogger("optuna").addHandler(handler)
    logging.getLogger("optuna").setLevel(level_of(verbosity))


def route_optuna_logging() -> None:
    """Optuna's records go through our handler (its own stderr handler, which prints INFO lines for every
    trial, is removed), at the level snnbench logs at."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.set_verbosity(logging.getLogger("snnbench").getEffectiveLevel())
    if not logging.getLogger("optuna").handlers:  # no CLI set up a handler: keep warnings visible
        optuna.logging.enable_propagation()
