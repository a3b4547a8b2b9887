"""`snnbench leaderboard` from real (short, CPU) run records: grouping, files, plots, bad records."""

from __future__ import annotations

import json

import pytest

from snnbench.cli import main
from snnbench.leaderboard import build_rows, load_records, match_published, pareto_front
from snnbench.leaderboard.rows import _time_to


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two methods x two seeds on digits (2 epochs each), plus one SDT run and one broken record."""
    from snnbench.config import resolve_config
    from snnbench.engine import RuntimeOptions, train
    from snnbench.registry import create_dataset, create_method

    out = tmp_path_factory.mktemp("runs")
    for method, sets in (("stbp", {}), ("tet", {}), ("tet", {"loss": "sdt"})):
        for seed in (0, 1) if not sets else (0,):
            cfg = resolve_config(create_method(method), create_dataset("digits"), {"epochs": 2, "seed": seed}, sets)
            train(cfg, RuntimeOptions(device="cpu", out=out))
    (out / "broken.json").write_text(json.dumps({"schema_version": 1, "method": "stbp"}))
    return out


def test_rows_group_seeds_and_keep_settings_apart(runs):
    records, skipped = load_records(runs)
    assert len(records) == 5
    assert [p.name for p, _ in skipped] == ["broken.json"] and "snnbench records upgrade" in skipped[0][1]
    rows = build_rows(records, published=[])
    assert sorted((r.method, r.options, len(r.seeds)) for r in rows) == [
        ("stbp", "", 2), ("tet", "", 2), ("tet", "loss=sdt", 1)]
    for row in rows:
        accs = [json.loads(open(run).read())["results"]["test_acc_at_best_val"] for run in row.runs]
        assert row.mean == pytest.approx(sum(accs) / len(accs))
        assert row.device == "cpu" and row.steps > 0 and row.params > 0
        assert 0 < row.summary()["activation_sparsity"] < 1


def test_cli_writes_markdown_html_csv_json_and_plots(runs, tmp_path, capsys):
    assert main(["leaderboard", "--runs", str(runs), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "stbp" in out.out and "broken.json" in out.err
    md = (tmp_path / "LEADERBOARD.md").read_text()
    assert "## digits" in md and "| tet | loss=sdt |" in md and "Records left out" in md
    assert "(plots/digits-curves.png)" in md  # the figures are linked from their dataset's section
    page = (tmp_path / "leaderboard.html").read_text()
    assert page.count("<img src='data:image/png;base64,") >= 3  # self-contained
    assert {p.name for p in (tmp_path / "plots").glob("digits-*.png")} >= {"digits-accuracy-vs-T.png",
                                                                           "digits-curves.png"}
    assert len(json.loads((tmp_path / "leaderboard.json").read_text())["rows"]) == 3
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[0].startswith("dataset,method")
    (tmp_path / "plots" / "digits-gone-row-firing.png").write_bytes(b"x")  # a figure of a row that no longer exists
    assert main(["leaderboard", "--runs", str(runs) + "/", "--out", str(tmp_path)]) == 0  # --runs spelled otherwise
    assert not (tmp_path / "plots" / "digits-gone-row-firing.png").exists()
    assert (tmp_path / "leaderboard.html").read_text().count("<img") == page.count("<img")
    assert main(["leaderboard", "--runs", str(runs), "--format", "csv", "--no-files", "--dataset", "nope"]) == 1


def test_time_to_accuracy_from_the_epoch_curve():
    from snnbench.records import Curve

    curve = [Curve(epoch=i + 1, train_loss=0.1, train_acc=99.0, val_acc=None, test_acc=acc, epoch_time_s=seconds,
                   lr=0.1) for i, (seconds, acc) in enumerate([(10.0, 97.0), (12.0, 99.1), (11.0, 99.5)])]
    assert _time_to(curve, 99.0) == 22.0 and _time_to(curve, 99.4) == 33.0 and _time_to(curve, 99.9) is None


def test_pareto_front_and_published_match():
    assert pareto_front([(10, 90), (5, 91), (20, 95), (30, 94), (5, 80)]) == [(5, 91), (20, 95)]
    published = [{"method": "tsslbp", "dataset": "mnist", "arch": "15C5-P2-40C5-P2-300", "steps": 5,
                  "mean": 99.5, "std": 0.02, "source": "paper"}]
    assert match_published(published, "mnist", "tsslbp", "15C5-P2-40C5-P2-300", 5)["text"] == "99.50 ± 0.02"
    assert match_published(published, "mnist-variant", "tsslbp", "15C5-P2-40C5-P2-300", 5) is None


def test_the_board_reads_the_committed_records_without_method_code():
    """The committed records carry their grouping (schema 8: ``setting_hash``, ``overrides``), so building the
    rows and every text writer imports neither the rules nor torch (the import alone costs seconds)."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from snnbench import leaderboard as lb\n"
        "from snnbench.leaderboard.markdown import to_markdown\n"
        "records, skipped = lb.load_records(Path('leaderboards/runs'))\n"
        "rows = lb.build_rows(records)\n"
        "texts = [to_markdown(rows, skipped, [], Path('.')), lb.to_csv(rows), lb.to_json(rows, skipped), "
        "lb.to_html(rows, skipped)]\n"
        "loaded = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('snnbench.methods', 'scipy.stats')))\n"
        "print(len(records), len(rows), loaded)\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=300)
    assert proc.returncode == 0, proc.stderr
    count, rows, loaded = proc.stdout.split(" ", 2)
    assert int(count) >= 150 and int(rows) > 30 and loaded.strip() == "[]"


def test_a_new_record_stores_its_grouping(short_run):
    """A run's record stores the seed-less setting hash of its config and what it changed from its recipe;
    an older record gets the same from the upgrade (``records.grouping``)."""
    from snnbench.config import record_config
    from snnbench.records import Record, upgrade_record

    record = short_run("stbp", "digits", epochs=1, lr=0.0123, sets={"options.threshold": 0.4})
    assert record["schema_version"] == 8
    assert record["setting_hash"] == record_config(Record.from_dict(record)).setting_hash()
    assert record["overrides"] == {"lr": 0.0123, "threshold": 0.4}
    older = {k: v for k, v in record.items() if k not in ("setting_hash", "overrides")} | {"schema_version": 7}
    upgraded = upgrade_record(older)
    assert (upgraded["setting_hash"], upgraded["overrides"]) == (record["setting_hash"], record["overrides"])
    other_seed = upgrade_record({**older, "config": {**older["config"], "seed": 9}})
    assert other_seed["setting_hash"] == record["setting_hash"]


def test_the_method_names_the_board_colours_by_are_the_registered_ones():
    """``registry.method_names`` (no imports) names exactly what the registry holds once methods/ is loaded."""
    from snnbench.registry import list_methods, method_names

    assert method_names() == sorted(list_methods())
