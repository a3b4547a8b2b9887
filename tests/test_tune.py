"""`snnbench tune`: a real (CPU, digits) Optuna study that prunes, resumes, shares workers and re-runs its best."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

optuna = pytest.importorskip("optuna")

from snnbench.cli import main  # noqa: E402
from snnbench.leaderboard import build_rows, load_records  # noqa: E402

BASE = ["tune", "--method", "stbp", "--dataset", "digits", "--budget-epochs", "2", "--device", "cpu"]


def _study(storage: str, name: str):
    if storage.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend

        storage = optuna.storages.JournalStorage(JournalFileBackend(storage.removeprefix("journal:")))
    return optuna.load_study(study_name=name, storage=storage)


def test_study_prunes_writes_records_and_resumes(tmp_path):
    out = tmp_path / "runs"
    assert main([*BASE, "--trials", "6", "--pruner", "median", "--out", str(out)]) == 0
    storage = f"sqlite:///{out / 'tune' / 'optuna.db'}"
    study = _study(storage, "stbp-digits")
    states = [t.state.name for t in study.trials]
    assert len(states) == 6 and "COMPLETE" in states and "PRUNED" in states, states
    assert study.trials[0].params["lr"] == 3e-3 and study.trials[0].params["steps"] == 8  # the recipe first
    records = [json.loads(p.read_text()) for p in out.glob("stbp-digits-*.json")]
    assert len(records) == 6 and {r["tags"]["study"] for r in records} == {"stbp-digits"}
    assert sorted(r["tags"]["trial"] for r in records) == list(range(6))
    # pruning reads validation accuracy, never test: a pruned trial's record stops after its last epoch
    assert main([*BASE, "--trials", "2", "--out", str(out)]) == 0  # the same study grows
    assert len(_study(storage, "stbp-digits").trials) == 8
    assert main([*BASE, "--best", "2", "--out", str(out)]) == 0  # the best configuration over two seeds
    good, _ = load_records(out)
    tuned = [r for r in build_rows(good, published=[]) if r.recipe == "tuned"]
    assert len(tuned) == 1 and len(tuned[0].seeds) == 2  # trials themselves are not ranked
    assert main([*BASE, "--report", "--out", str(out)]) == 0


def test_two_workers_share_one_journal_study(tmp_path):
    journal = f"journal:{tmp_path / 'study.log'}"
    code = main([*BASE, "--trials", "4", "--workers", "2", "--storage", journal, "--study", "shared",
                 "--pruner", "none", "--out", str(tmp_path / "runs")])
    assert code == 0
    trials = _study(journal, "shared").trials
    numbers = sorted(t.number for t in trials)
    assert numbers == list(range(len(numbers))) and len(numbers) >= 4  # none lost, none duplicated
    assert all(t.state.is_finished() for t in trials)


def test_concurrent_commands_join_the_same_study(tmp_path):
    journal = f"journal:{tmp_path / 'study.log'}"
    common = ["--storage", journal, "--study", "two", "--pruner", "none", "--out", str(tmp_path / "runs")]
    args = [*BASE, "--trials", "2", *common]
    assert main([*BASE, "--trials", "0", *common]) == 0  # the study exists before both commands start
    procs = [subprocess.Popen([sys.executable, "-m", "snnbench.cli", *args]) for _ in range(2)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    trials = _study(journal, "two").trials
    assert sorted(t.number for t in trials) == list(range(len(trials))) and len(trials) >= 2


def test_multi_objective_reports_a_pareto_front(tmp_path, capsys):
    assert main([*BASE, "--trials", "3", "--objective", "accuracy,time", "--sampler", "random",
                 "--out", str(tmp_path)]) == 0
    assert "Pareto front" in capsys.readouterr().out
    study = _study(f"sqlite:///{tmp_path / 'tune' / 'optuna.db'}", "stbp-digits")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"] and study.best_trials


@pytest.mark.parametrize("extra,message", [
    (["--space", "nonsense=1:2"], "unknown search-space parameter"),
    (["--storage", "postgresql://nobody@127.0.0.1:1/none"], "cannot open the storage at"),
    (["--sampler", "annealing"], "invalid choice: 'annealing'"),
])
def test_bad_input_fails_before_training(tmp_path, capsys, extra, message):
    assert main([*BASE, "--trials", "1", "--out", str(tmp_path), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.json"))


def test_a_study_for_another_method_is_refused(tmp_path, capsys):
    assert main([*BASE, "--trials", "1", "--pruner", "none", "--study", "mine", "--out", str(tmp_path)]) == 0
    other = ["tune", "--method", "tet", "--dataset", "digits", "--study", "mine", "--trials", "1",
             "--out", str(tmp_path)]
    assert main(other) == 2
    assert "was created for" in capsys.readouterr().err


def test_a_dead_workers_running_trial_does_not_count_toward_trials(tmp_path):
    """Finding 4: a worker killed mid-trial leaves a RUNNING trial; `--trials N` still adds N finished ones."""
    out = tmp_path / "runs"
    assert main([*BASE, "--trials", "1", "--pruner", "none", "--out", str(out)]) == 0
    storage = f"sqlite:///{out / 'tune' / 'optuna.db'}"
    dead = _study(storage, "stbp-digits").ask()  # a worker that asked for a trial and died
    assert main([*BASE, "--trials", "2", "--pruner", "none", "--out", str(out)]) == 0
    trials = _study(storage, "stbp-digits").trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3, [t.state.name for t in trials]
    assert trials[dead.number].state.name in ("RUNNING", "FAIL")  # never counted as finished


def test_cmaes_sampler_runs(tmp_path):
    out = tmp_path / "runs"
    assert main([*BASE, "--trials", "3", "--sampler", "cmaes", "--study", "cma", "--out", str(out)]) == 0
    study = _study(f"sqlite:///{out / 'tune' / 'optuna.db'}", "cma")
    assert [t.state.name for t in study.trials].count("COMPLETE") >= 2


def test_the_median_pruner_never_judges_a_first_report():
    from snnbench.tune import make_pruner

    study = optuna.create_study(direction="maximize", pruner=make_pruner("median", multi=False))
    for _ in range(3):  # three strong complete trials
        trial = study.ask()
        trial.report(90.0, 1)
        trial.report(95.0, 2)
        study.tell(trial, 95.0)
    weak = study.ask()
    weak.report(10.0, 1)
    assert not weak.should_prune()  # epoch 1: never pruned, however slow the start
    weak.report(11.0, 2)
    assert weak.should_prune()  # the second report may be


def test_importances_need_five_complete_trials():
    from snnbench.tune import IMPORTANCE_MIN_TRIALS, study_report

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + 0.1 * t.suggest_float("b", 0, 1),
                   n_trials=IMPORTANCE_MIN_TRIALS - 1)
    assert study_report(study)["importances"] == {}
    study.optimize(lambda t: t.suggest_float("a", 0, 1) + 0.1 * t.suggest_float("b", 0, 1), n_trials=1)
    assert set(study_report(study)["importances"]) == {"a", "b"}


def test_tuning_on_digits_validates_on_a_split_that_can_rank_trials():
    from snnbench.tune import TuneSpec, trial_config

    assert trial_config(TuneSpec("stbp", "digits"), {}).val_fraction == 0.3  # 431 images, not the recipe's 144
    assert trial_config(TuneSpec("stbp", "digits", sets={"val_fraction": 0.2}), {}).val_fraction == 0.2
    assert trial_config(TuneSpec("stbp", "mnist"), {}).val_fraction == 0.1  # the recipe's: 6,000 images


def test_pruned_trials_are_counted_in_one_line_not_listed_by_leaderboard(tmp_path, capsys):
    from tests.test_reliability import _a_record

    runs = tmp_path / "runs"
    runs.mkdir()
    good = _a_record()
    (runs / "good.json").write_text(json.dumps(good))
    for i in range(4):
        (runs / f"pruned{i}.json").write_text(json.dumps({**good, "run_id": f"p{i}", "status": "stopped"}))
    (runs / "broken.json").write_text("{not json")
    assert main(["leaderboard", "--runs", str(runs), "--no-files"]) == 0
    err = capsys.readouterr().err
    assert "not ranked: 4 stopped" in err and err.count("left out") == 1 and "broken.json" in err
