"""``snnbench list``: the registered methods, datasets, named architectures and recipes."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from snnbench.arch import NAMED_ARCHS
from snnbench.registry import DATASETS, METHODS, create_dataset, create_method
from snnbench.ui import esc, table

HELP = "list methods, datasets, architectures, recipes, suites and bench cases"
EXAMPLES = """\
  snnbench list methods
  snnbench list recipes --method tsslbp
  snnbench list datasets"""
WHAT = ("all", "methods", "datasets", "archs", "recipes", "suites", "cases")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", nargs="?", default="all", choices=WHAT, help="what to list")
    p.add_argument("--method", metavar="NAME", help="only this method (methods and recipes)")
    p.add_argument("--dataset", metavar="NAME", help="only this dataset or its family (datasets, recipes, cases)")


def run(args: argparse.Namespace, console: Console) -> int:
    for what in WHAT[1:] if args.what == "all" else (args.what,):
        console.print(LISTERS[what](args))
    return 0


def _methods(args: argparse.Namespace) -> Table:
    out = table("methods", ("name", "description"))
    for name in METHODS.names():
        if not args.method or name == args.method:
            out.add_row(name, esc(create_method(name).description))
    return out


def _datasets(args: argparse.Namespace) -> Table:
    out = table("datasets", ("name", "variant", "kind", "classes", "input", "description"))
    for name in DATASETS.names():
        d = create_dataset(name)
        if not args.dataset or args.dataset in (name, d.recipe_family):
            out.add_row(name, d.variant or "original", d.kind, str(d.num_classes),
                        "x".join(map(str, d.input_shape)), esc(d.description))
    return out


def _archs(args: argparse.Namespace) -> Table:
    out = table("named architectures", ("name", "notation"))
    for name, spec in NAMED_ARCHS.items():
        out.add_row(name, spec)
    return out


def _recipes(args: argparse.Namespace) -> Table:
    out = table("recipes (method x dataset family[:recipe])",
                ("method", "dataset", "arch", "T", "epochs", "batch", "lr", "optimizer", "source"))
    family = create_dataset(args.dataset).recipe_family if args.dataset else None
    for name in METHODS.names() if not args.method else [args.method]:
        method = create_method(name)
        for key, recipe in method.recipes.items():
            if args.dataset and key.split(":")[0] not in (args.dataset, family):
                continue
            r = {**method.default_recipe, **recipe}
            out.add_row(name, key, str(r.get("arch")), str(r.get("steps")), str(r.get("epochs")),
                        str(r.get("batch_size")), f"{r.get('lr'):g}", str(r.get("optimizer", "adam")),
                        esc(method.recipe_sources.get(key, "-")))
    return out


def _suites(args: argparse.Namespace) -> Table:
    from snnbench.suite import load_suite, suite_names

    out = table("suites (snnbench suite run NAME)", ("name", "cells", "description"))
    for name in suite_names():
        suite = load_suite(name)
        out.add_row(name, str(len(suite.cells)), esc(suite.description))
    return out


def _cases(args: argparse.Namespace) -> Table:
    from snnbench.bench import CASES

    out = table("bench cases (snnbench bench --cases NAME,...; --suite NAME for a suite's own networks)",
                ("name", "dataset", "arch", "batch", "T"))
    for case in CASES.values():
        if not args.dataset or case.dataset == args.dataset:
            out.add_row(case.name, case.dataset, case.arch, str(case.batch), str(case.steps))
    return out


LISTERS = {"methods": _methods, "datasets": _datasets, "archs": _archs, "recipes": _recipes, "suites": _suites,
           "cases": _cases}
