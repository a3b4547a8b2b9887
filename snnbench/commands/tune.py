"""``snnbench tune``: an Optuna study over a method's search space (resumable, prunable, shared)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from rich.console import Console

from snnbench.commands.common import add_run_options, run_flags, runtime_of
from snnbench.config import parse_sets
from snnbench.ui import TuneView, esc, print_study_report

HELP = "an Optuna study over a method's search space (resumable, prunable, shared)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from snnbench.tune import OBJECTIVES, PRUNERS, SAMPLERS

    add_run_options(p)
    p.add_argument("--trials", type=int, default=10, help="trials this call adds to the study")
    p.add_argument("--timeout", type=float, default=None, help="stop adding trials after this many seconds")
    p.add_argument("--storage", default="", help="Optuna storage URL (default sqlite under <out>/tune/), "
                   "e.g. postgresql://..., or journal:PATH for a journal file on a shared filesystem")
    p.add_argument("--study", default="", help="study name (default <method>-<dataset>); same name resumes")
    p.add_argument("--sampler", default="tpe", help=" | ".join(SAMPLERS))
    p.add_argument("--pruner", default="median", help=" | ".join(PRUNERS) + " (on validation accuracy)")
    p.add_argument("--objective", default="accuracy", help=" | ".join(OBJECTIVES) + " (accuracy,time: Pareto front)")
    p.add_argument("--budget-epochs", type=int, default=0, dest="budget_epochs", help="epochs per trial")
    p.add_argument("--space", action="append", default=[], metavar="NAME=LOW:HIGH[:log|int]",
                   help="override or add a search dimension")
    p.add_argument("--workers", type=int, default=1, help="processes on this machine joining the study")
    p.add_argument("--best", type=int, default=0, metavar="SEEDS",
                   help="instead of tuning, re-run the best configuration with this many seeds")
    p.add_argument("--report", action="store_true", help="instead of tuning, print the study's report")


def run(args: argparse.Namespace, console: Console) -> int:
    from snnbench import tune as tn

    spec = tn.TuneSpec(
        method=args.method, dataset=args.dataset, trials=args.trials, timeout=args.timeout, storage=args.storage,
        study=args.study, sampler=args.sampler, pruner=args.pruner, objective=args.objective,
        budget_epochs=args.budget_epochs, seed=args.seed, space=args.space, flags=run_flags(args),
        worker=int(os.environ.get("SNNBENCH_TUNE_WORKER", "0")), sets=parse_sets(args.set),
        runtime=runtime_of(args))
    spec.multi  # noqa: B018 -- validates the objective before anything starts
    if args.report:
        print_study_report(tn.study_report(tn.load_study(spec, create=False)), console)
        return 0
    if args.best:
        for path in tn.rerun_best(spec, args.best):
            console.print(f"record: {esc(str(path))}")
        return 0
    study = tn.load_study(spec)  # create it (and its first, published-recipe trial) before any worker starts
    argv = [a for a in getattr(args, "argv", []) if a]
    extra = [subprocess.Popen([sys.executable, "-m", "snnbench.cli", *argv, "--workers", "1"],
                              env={**os.environ, "SNNBENCH_TUNE_WORKER": str(i)})
             for i in range(1, max(args.workers, 1))]
    view = TuneView(console, spec)
    with view.live():
        study = tn.run_study(spec, report=view.epoch, on_trial=view.trial, study=study)
    console.print()
    codes = [p.wait() for p in extra]
    print_study_report(tn.study_report(study), console)
    return 0 if all(c == 0 for c in codes) else 1
