"""CLI conventions (issue 20): help with defaults, choices and examples; -q/-v; plain lines when stdout is
a file (a SLURM log); Optuna's logging routed through ours; shell completion."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from snnbench.commands import COMMANDS


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True, timeout=600,
                          env=env)


def test_every_subcommand_help_shows_examples_defaults_and_choices():
    from snnbench.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        text = sub.choices[name].format_help()
        assert "examples:\n  snnbench " + name in text, name
    run = sub.choices["run"].format_help()
    assert "(default: digits)" in run and "(default: auto)" in run and "(default: stbp)" in run
    assert "(one of: " in run and "tsslbp" in run and "st-rsbp" in run and "nmnist-1k" in run  # registered names
    tune = sub.choices["tune"].format_help()
    assert "(one of: tpe, cmaes, random, grid)" in tune and "(default: tpe)" in tune
    assert "(default: None)" not in run + tune and "(default: False)" not in run + tune


def test_quiet_prints_only_the_record_and_bad_choices_exit_2(tmp_path):
    quiet = _cli("run", "-q", "--epochs", "1", "--max-train-samples", "100", "--out", str(tmp_path))
    assert quiet.returncode == 0, quiet.stderr[-800:]
    lines = quiet.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("record: ") and lines[0].endswith(".json")
    bad = _cli("tune", "--sampler", "annealing")
    assert bad.returncode == 2 and "invalid choice: 'annealing'" in bad.stderr and "cmaes" in bad.stderr


def test_logs_for_a_file_are_plain_whole_lines(tmp_path):
    """stdout is a pipe here, as under SLURM: one line per epoch, no blank lines, no bar, nothing wrapped;
    tune prints a line per trial with its value and parameters, Optuna's own log lines do not leak, and
    the report is a table."""
    run = _cli("run", "--epochs", "2", "--max-train-samples", "200", "--arch", "128-64", "--set", "threshold=0.55",
               "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr[-800:]
    lines = run.stdout.splitlines()
    assert "" not in lines
    assert lines[0].startswith("stbp on digits: arch 128-64, T=8, 2 epochs") and "(config " in lines[0]
    assert [line.split(":")[0] for line in lines[1:3]] == ["epoch 1", "epoch 2"]
    assert "\x1b[" not in run.stdout and "━" not in run.stdout.split("stbp on digits\n")[0]
    tune = _cli("tune", "--trials", "2", "--budget-epochs", "1", "--max-train-samples", "200", "--out", str(tmp_path))
    assert tune.returncode == 0, tune.stderr[-800:]
    out = tune.stdout.splitlines()
    trials = [line for line in out if line.startswith("trial ")]
    assert len(trials) == 2 and all(" complete: val_acc " in t and "lr=" in t and "(best " in t for t in trials)
    assert "[I " not in tune.stdout + tune.stderr and "A new study created" not in tune.stdout + tune.stderr
    assert any("┃ trial ┃ val_acc" in line for line in out)  # the report's table, its objective named
    assert not any(line.startswith("study stbp-digits (") for line in out)  # not a raw dict
    verbose = _cli("tune", "-v", "--trials", "1", "--budget-epochs", "1", "--max-train-samples", "200",
                   "--out", str(tmp_path))
    assert "INFO optuna" in verbose.stderr  # -v: Optuna's lines, in our one format
    assert "trial 2 epoch 1/1: val " in verbose.stdout


def test_study_names_its_metrics(tmp_path):
    from snnbench.engine import RuntimeOptions
    from snnbench.tune import TuneSpec, load_study

    for objective, names in (("accuracy", ["val_acc"]), ("accuracy,time", ["val_acc", "train_time_s"])):
        spec = TuneSpec(method="stbp", dataset="digits", objective=objective, study=f"s-{len(names)}",
                        runtime=RuntimeOptions(out=tmp_path))
        assert load_study(spec).metric_names == names


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script(shell, tmp_path):
    pytest.importorskip("shtab", reason="shtab (a dependency: pip install shtab) is missing")
    made = _cli("completion", shell)
    assert made.returncode == 0, made.stderr[-800:]
    script = made.stdout
    for word in ("suite", "leaderboard", "--sampler", "cmaes", "tsslbp", "nmnist-1k", "--from-record"):
        assert word in script, word
    interpreter = shutil.which(shell)
    if interpreter is None:
        pytest.skip(f"{shell} is not installed to check the script's syntax")
    path = tmp_path / f"snnbench.{shell}"
    path.write_text(script)
    assert subprocess.run([interpreter, "-n", str(path)], capture_output=True).returncode == 0


def test_list_filters_and_every_recipe_names_its_source(capsys, monkeypatch):
    from snnbench.cli import main
    from snnbench.registry import create_method, list_methods

    for name in list_methods():
        method = create_method(name)
        assert set(method.recipe_sources) == set(method.recipes), name  # no recipe without a source
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["list", "recipes", "--dataset", "nmnist-1k", "--method", "tsslbp"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
    assert [r.split("│")[2].strip() for r in rows] == ["nmnist", "nmnist:t100"]  # the family's recipes
    assert "Networks/NMNIST_CNN.yaml" in rows[0]
    assert main(["list", "methods", "--method", "tet"]) == 0
    assert [line.split("│")[1].strip() for line in capsys.readouterr().out.splitlines()
            if line.startswith("│")] == ["tet"]


def test_building_the_cli_parser_does_not_import_torch():
    """Every command builds the whole parser first (``--help``, completion): that must stay light. The
    leaderboard's ``--columns`` help reads the column table, whose package loads its submodules on use."""
    probe = ("import sys, snnbench.cli as cli; cli.build_parser(); "
             "print('torch' in sys.modules, 'snnbench.leaderboard.rows' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_list_refuses_an_unknown_method_naming_the_valid_ones(capsys):
    from snnbench.cli import main

    assert main(["list", "recipes", "--method", "stpb"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "stpb" in err and "stbp" in err
