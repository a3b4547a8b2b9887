"""Configs that reproduce: ``--print-config``, ``--config FILE`` between the recipe and the flags, and
``--from-record`` re-running a record's resolved configuration (same config hash, origin tagged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snnbench.cli", *args], capture_output=True, text=True, timeout=600)


def test_print_config_and_a_config_file_between_recipe_and_flags(tmp_path):
    base = json.loads(_cli("run", "--print-config").stdout)
    assert base["method"] == "stbp" and base["dataset"] == "digits"
    path = tmp_path / "exp.toml"
    path.write_text('epochs = 7\nlr = 0.02\n[options]\nthreshold = 0.7\n')
    from_file = json.loads(_cli("run", "--config", str(path), "--print-config").stdout)
    assert (from_file["epochs"], from_file["lr"], from_file["options"]["threshold"]) == (7, 0.02, 0.7)
    flags_win = json.loads(_cli("run", "--config", str(path), "--epochs", "2", "--set", "threshold=0.9",
                                "--print-config").stdout)
    assert (flags_win["epochs"], flags_win["lr"], flags_win["options"]["threshold"]) == (2, 0.02, 0.9)
    path.write_text('epochs = "many"\n')
    bad = _cli("run", "--config", str(path), "--print-config")
    assert bad.returncode == 2 and "epochs" in bad.stderr


def test_from_record_reruns_the_same_configuration(tmp_path):
    out = tmp_path / "runs"
    first = _cli("run", "--epochs", "1", "--max-train-samples", "200", "--set", "threshold=0.6", "--out", str(out))
    assert first.returncode == 0, first.stderr[-1000:]
    (record_path,) = out.glob("*.json")
    record = json.loads(record_path.read_text())
    shown = json.loads(_cli("run", "--from-record", str(record_path), "--print-config").stdout)
    from snnbench.config import config_digest, hashed_config

    assert config_digest(hashed_config(shown)) == record["config_hash"]
    assert _cli("run", "--from-record", str(record_path), "--epochs", "3").returncode == 2  # as it is, or not
    again = _cli("run", "--from-record", str(record_path), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr[-1000:]
    (new_path,) = (tmp_path / "again").glob("*.json")
    new = json.loads(new_path.read_text())
    assert new["config_hash"] == record["config_hash"] and new["tags"]["from_record"] == record["run_id"]
    assert new["results"]["test_acc_last"] == pytest.approx(record["results"]["test_acc_last"])  # deterministic


def test_every_committed_record_reproduces_its_config_hash():
    """The leaderboard's records (some predate fields added since, e.g. ``shuffle`` or ST-RSBP's ``boost``)
    re-run from their record with the hash they carry; one goes through the CLI."""
    from pathlib import Path

    from snnbench.config import record_config
    from snnbench.records import read_record

    paths = sorted(Path("leaderboards/runs").glob("*.json"))
    assert len(paths) >= 10
    for path in paths:
        record = read_record(path)
        assert record_config(record).hash() == record.config_hash, path.name
    shown = _cli("run", "--from-record", str(paths[0]), "--print-config")
    assert shown.returncode == 0 and f"config hash {read_record(paths[0]).config_hash}" in shown.stderr


def test_a_field_added_later_leaves_old_hashes_alone():
    """A config without a late field (an older record's) completes to the same hash as today's config at
    the field's late value; off that value the field counts; the schema-5 upgrade keeps the run's own
    hash in ``tags.config_hash_v4``."""
    from snnbench.config import LATE_FIELDS, RunConfig, config_digest, recorded_config, resolve_config, with_defaults
    from snnbench.records import SCHEMA_VERSION, upgrade_record
    from snnbench.registry import create_dataset, create_method

    cfg = resolve_config(create_method("st-rsbp"), create_dataset("digits"), {}, {"boost": False})
    old = cfg.as_dict()
    for key in LATE_FIELDS:
        if key.startswith("options."):
            old["options"].pop(key.split(".", 1)[1], None)
        else:
            old.pop(key)
    assert recorded_config("st-rsbp", old).hash() == cfg.hash()
    boosted = resolve_config(create_method("st-rsbp"), create_dataset("digits"), {}, {"boost": True})
    assert boosted.hash() != cfg.hash()  # today's default is not the late value: it counts
    assert with_defaults(old, create_method("st-rsbp").option_defaults)["options"]["boost"] is False
    full = cfg.as_dict()  # schema 4 hashed every field
    v4 = {"schema_version": 4, "method": "st-rsbp", "config": full, "config_hash": config_digest(full), "tags": {}}
    v5 = upgrade_record(v4)  # through schema 5 (the hash rule) to today's
    assert v5["schema_version"] == SCHEMA_VERSION and v5["config_hash"] == cfg.hash() != config_digest(full)
    assert v5["tags"]["config_hash_v4"] == config_digest(full)
    assert RunConfig(**recorded_config(v5["method"], v5["config"]).as_dict()).hash() == v5["config_hash"]


def test_late_values_are_declared_on_their_fields_and_unchanged(monkeypatch):
    """Each late field declares the value older records ran with on itself (``late=``); the collected table
    is the one every committed hash was made with, and two rules declaring one option name with different
    late values are refused."""
    from dataclasses import dataclass

    from snnbench.config import LATE_FIELDS, Options, _LateFields, added
    from snnbench.registry import METHODS

    assert dict(LATE_FIELDS) == {
        "recipe": "", "normalize": "dataset", "shuffle": "permutation", "event_resize": "pil",
        "event_stabilize": False, "budget": "", "flush_denormal": False, "options.backend": "auto",
        "options.fc_lr_scale": 1.0, "options.boost": False, "options.thresholds": "",
        "options.cnn_reference_quirks": False, "options.conv_init_w": 0.0, "options.pool_zero_ratio": 0.0,
        "options.bn_backend": "torch",
        "options.tdbn_dense": False, "options.event_input": False, "options.spsp_form": "dense"}

    @dataclass(frozen=True)
    class Clashing(Options):
        boost: bool = added(True, late=True)  # ST-RSBP's boost is late False

    class Rule:
        options_type = Clashing

    monkeypatch.setitem(METHODS._items, "clashing-rule", Rule)
    clash = r"'clashing-rule' and 'hm2-bp' declare different late values of options.boost \(True, False\)"
    with pytest.raises(RuntimeError, match=clash):
        dict(_LateFields())


def test_bare_snnbench_prints_help_and_version_exists():
    bare = _cli()
    assert bare.returncode == 0 and "usage: snnbench" in bare.stdout and "suite" in bare.stdout
    from snnbench import __version__

    version = _cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"snnbench {__version__}"


def test_list_shows_suites_and_bench_cases():
    out = _cli("list", "suites").stdout + _cli("list", "cases").stdout
    assert "smoke" in out and "equal-budget" in out and "mnist-strsbp" in out
    recipes = _cli("list", "recipes", "--method", "st-rsbp").stdout
    assert "st-rsbp" in recipes and "tsslbp" not in recipes


@pytest.mark.parametrize("name", ["stbp-digits-T8-2a37aea1-s0-2026-11-23T080413580370-e7991e.json",
                                  "tet-digits-T4-ec6bc2ff-s0-2026-11-23T080414031528-324ccf.json"])
def test_a_committed_record_rerun_from_record_gives_its_accuracy_exactly(tmp_path, name):
    """Two committed records of different rules, re-run on this CPU with ``--from-record``: every epoch's test
    accuracy, the headline and the config hash are the record's (as read, i.e. upgraded to today's schema)."""
    from snnbench.records import read_record

    source = Path(__file__).resolve().parent.parent / "leaderboards" / "runs" / name
    recorded = read_record(source)
    proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "run", "--from-record", str(source), "-q",
                           "--out", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "cache"), "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rerun = json.loads(next((tmp_path / "runs").glob("*.json")).read_text())
    assert rerun["config_hash"] == recorded.config_hash
    assert [row["test_acc"] for row in rerun["curves"]] == [row.test_acc for row in recorded.curves]
    assert rerun["results"]["test_acc_at_best_val"] == recorded.results.test_acc_at_best_val


def test_records_upgrade_rewrites_older_records_once_and_keeps_their_hash_and_accuracy(tmp_path):
    from snnbench.cli import main
    from snnbench.records import SCHEMA_VERSION, StaleRecordError, read_record, upgrade_record
    from tests.test_reliability import _a_record

    old = _a_record()
    old = {**old, "schema_version": 6}
    old.pop("budget", None)  # schema 7 added it
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    expected = upgrade_record(json.loads(path.read_text()))
    with pytest.raises(StaleRecordError, match=f"run `snnbench records upgrade {path}` once"):
        read_record(path)  # a reader refuses it (no silent upgrade in memory)
    assert main(["records", "upgrade", str(tmp_path), "--check"]) == 1  # stale: --check says so, writes nothing
    assert json.loads(path.read_text())["schema_version"] == 6
    assert main(["records", "upgrade", str(tmp_path)]) == 0
    on_disk = json.loads(path.read_text())
    assert on_disk == expected and on_disk["schema_version"] == SCHEMA_VERSION
    assert on_disk["config_hash"] == old["config_hash"] and on_disk["results"] == old["results"]
    assert main(["records", "upgrade", str(tmp_path), "--check"]) == 0  # idempotent
    (tmp_path / "future.json").write_text(json.dumps({**old, "schema_version": 99}))
    assert main(["records", "upgrade", str(tmp_path)]) == 1  # a schema it does not know is left as it is
    with pytest.raises(StaleRecordError, match="not one this snnbench reads"):
        read_record(tmp_path / "future.json")


def test_readers_refuse_a_stale_record_with_the_upgrade_command(tmp_path, capsys):
    """--from-record, a suite over a folder and the board each refuse a record in an older schema and name
    ``snnbench records upgrade``; after the upgrade each reads it."""
    from snnbench.cli import main
    from snnbench.leaderboard import load_records
    from tests.test_reliability import _a_record

    old = {**_a_record(), "schema_version": 6}
    old.pop("budget", None)
    path = tmp_path / "runs" / "old.json"
    path.parent.mkdir()
    path.write_text(json.dumps(old))
    assert main(["run", "--from-record", str(path), "--print-config"]) == 2
    assert "snnbench records upgrade" in capsys.readouterr().err
    assert main(["suite", "status", "smoke", "--out", str(path.parent)]) == 2
    assert f"run `snnbench records upgrade {path.parent}` once" in " ".join(capsys.readouterr().err.split())
    good, bad = load_records(path.parent)
    assert not good and "snnbench records upgrade" in bad[0][1]
    assert main(["records", "upgrade", str(path.parent)]) == 0
    assert main(["run", "--from-record", str(path), "--print-config"]) == 0
    assert len(load_records(path.parent)[0]) == 1


def test_every_committed_record_is_in_the_current_schema_on_disk():
    from snnbench.records import SCHEMA_VERSION

    runs = Path(__file__).parents[1] / "leaderboards" / "runs"
    stale = [p.name for p in runs.rglob("*.json") if "checkpoints" not in p.parts
             and json.loads(p.read_text()).get("schema_version") != SCHEMA_VERSION]
    assert not stale, f"run `snnbench records upgrade`: {stale[:5]}"


def test_the_source_hash_covers_every_subpackage_once():
    from snnbench.records import source_files, source_hash

    files = source_files()
    for name in ("snnbench/engine.py", "snnbench/commands/run.py", "snnbench/records/schema.py",
                 "snnbench/kernels/lif.py", "snnbench.methods/st_rsbp/chain.py", "snnbench.methods/stbp.py",
                 "snnbench.datasets/yin_yang.py"):
        assert name in files, name
    assert len({p.resolve() for p in files.values()}) == len(files)  # no file counted twice
    assert len(source_hash()) == 16


def test_every_package_folder_is_in_the_wheel():
    """A folder with an ``__init__.py`` that pyproject's explicit package list misses is absent from a
    wheel install (``snnbench.leaderboard`` was: ``pip install .`` then ``snnbench leaderboard`` failed)."""
    import tomllib

    root = Path(__file__).parents[1]
    tool = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: Path(folder) for name, folder in tool["package-dir"].items()}
    listed = set(tool["packages"])
    found = set()
    for name, folder in folders.items():
        for init in (root / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(root / folder).parts
            found.add(".".join((name, *parts)))
    assert found - listed == set(), f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert listed - found == set(), f"listed but not a package folder: {sorted(listed - found)}"
