"""``snnbench tune``: an Optuna study over a method's search space (resumable, prunable, shared)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from rich.console import Console

from snnbench.commands.common import add_run_options, run_flags, runtime_of
from snnbench.config import parse_sets
from snnbench.ui import esc, print_study_report, tune_view

HELP = "an Optuna study over a method's search space (resumable, prunable, shared)"
EXAMPLES = """\
  snnbench tune --method stbp --dataset digits --trials 20 --budget-epochs 3
  snnbench tune --method tet --sampler cmaes --space lr=1e-4:1e-2:log
  snnbench tune --method stbp --report
  snnbench tune --method stbp --best 3"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from snnbench.tune import OBJECTIVES, PRUNERS, SAMPLERS

    add_run_options(p)
    p.add_argument("--trials", type=int, default=10, help="trials this call adds to the study")
    p.add_argument("--timeout", type=float, default=None, help="stop adding trials after this many seconds")
    p.add_argument("--storage", default="", help="Optuna storage URL (default sqlite under <out>/tune/), "
                   "e.g. postgresql://..., or journal:PATH for a journal file on a shared filesystem")
    p.add_argument("--study", default="", help="study name (default: <method>-<dataset>); the same name resumes")
    p.add_argument("--sampler", default="tpe", choices=SAMPLERS, help="Optuna sampler")
    p.add_argument("--pruner", default="median", choices=PRUNERS, help="pruner (on validation accuracy)")
    p.add_argument("--objective", default="accuracy", choices=OBJECTIVES,
                   help="what to maximise (accuracy,time: the Pareto front of accuracy and train time)")
    p.add_argument("--budget-epochs", type=int, default=0, dest="budget_epochs",
                   help="epochs per trial (0: the recipe's)")
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
    view = tune_view(console, spec, args.verbosity)
    with view.live():
        study = tn.run_study(spec, report=view.epoch, on_trial=view.trial, study=study)
    codes = [p.wait() for p in extra]
    print_study_report(tn.study_report(study), console)
    return 0 if all(c == 0 for c in codes) else 1
