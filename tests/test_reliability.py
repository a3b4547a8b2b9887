"""Reliability and security (one test per finding): untrusted checkpoints, resume under schedules,
unique records, robust leaderboard, markup in messages, range checks, distributed backends."""

from __future__ import annotations

import json
import os
import pickle
import threading
from pathlib import Path

import pytest
import torch

from snnbench.cli import main
from snnbench.config import ConfigError, parse_sets, resolve_config
from snnbench.distributed import backend_for
from snnbench.engine import RuntimeOptions, train
from snnbench.leaderboard import build_rows, load_records, to_csv, to_markdown, write_leaderboard
from snnbench.records import write_record
from snnbench.registry import create_dataset, create_method


def cfg(**sets):
    base = {"epochs": 2, "max_train_samples": 200, "max_test_samples": 100}
    return resolve_config(create_method("stbp"), create_dataset("digits"), {}, {**base, **sets})


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_checkpoint(path: Path, marker: Path) -> None:
    evil = _Evil()
    evil.marker = marker
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump({"model": evil}, handle)  # torch.load reads plain pickles too


def test_crafted_checkpoints_never_run_on_any_path(tmp_path, capsys):
    marker = tmp_path / "pwned"
    out = tmp_path / "runs"
    common = ["--out", str(out), "--device", "cpu", "--max-train-samples", "100", "--epochs", "1"]
    # 1. given directly
    _evil_checkpoint(tmp_path / "evil.pt", marker)
    assert main(["run", "--init-from", str(tmp_path / "evil.pt"), *common]) == 2
    assert "refusing checkpoint" in capsys.readouterr().err and not marker.exists()
    # 2. through a record's checkpoint field
    record = {"checkpoint": str(tmp_path / "evil.pt")}
    good = json.loads(next((Path(__file__).parent.parent / "leaderboards" / "runs").glob("stbp-digits*.json"))
                      .read_text())
    good.update(record)
    (tmp_path / "rec.json").write_text(json.dumps(good))
    (tmp_path / "checkpoints").mkdir()
    _evil_checkpoint(tmp_path / "checkpoints" / "evil.pt", marker)
    assert main(["run", "--init-from", str(tmp_path / "rec.json"), *common]) == 2
    assert "refusing checkpoint" in capsys.readouterr().err and not marker.exists()
    # 3. planted where --resume looks
    from snnbench.checkpoints import checkpoint_path

    run_cfg = resolve_config(create_method("stbp"), create_dataset("digits"),
                             {"max_train_samples": 100, "epochs": 1})
    _evil_checkpoint(checkpoint_path(run_cfg, out), marker)
    assert main(["run", "--resume", *common]) == 2
    assert "refusing checkpoint" in capsys.readouterr().err and not marker.exists()


def _weights(record_path: Path) -> dict:
    record = json.loads(record_path.read_text())
    blob = torch.load(record_path.parent / record["checkpoint"], weights_only=True)
    return blob["model"]


@pytest.mark.parametrize("schedule", [{"lr_schedule": "step", "lr_step_epochs": 1, "lr_gamma": 0.5},
                                      {"lr_schedule": "cosine"}])
def test_resume_split_equals_straight_or_is_refused(tmp_path, schedule):
    straight_out, split_out = tmp_path / "straight", tmp_path / "split"
    full = cfg(**schedule, epochs=3)
    _, straight = train(full, RuntimeOptions(device="cpu", out=straight_out))
    if schedule["lr_schedule"] == "cosine":  # the schedule depends on the horizon: a shorter first leg is refused
        train(cfg(**schedule, epochs=1), RuntimeOptions(device="cpu", out=split_out))
        with pytest.raises(ConfigError, match="cosine schedule depends on the number of epochs"):
            train(full, RuntimeOptions(device="cpu", out=split_out, resume=True))
        return
    train(cfg(**schedule, epochs=1), RuntimeOptions(device="cpu", out=split_out))
    record, split = train(full, RuntimeOptions(device="cpu", out=split_out, resume=True))
    assert [row["lr"] for row in record["curves"]] == [0.003, 0.003, 0.0015]  # decays after epoch index 1
    for key, value in _weights(straight).items():
        assert torch.equal(value, _weights(split)[key]), key


def test_resume_with_fewer_epochs_than_trained_is_refused(tmp_path):
    train(cfg(epochs=2), RuntimeOptions(device="cpu", out=tmp_path))
    with pytest.raises(ConfigError, match="already trained 2 epochs"):
        train(cfg(epochs=1), RuntimeOptions(device="cpu", out=tmp_path, resume=True))


def test_concurrent_identical_runs_keep_every_record(tmp_path):
    out = tmp_path / "runs"
    one = cfg(epochs=1)
    results: list[Path] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            results.append(train(one, RuntimeOptions(device="cpu", out=out))[1])
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 8 and len(list(out.glob("*.json"))) == 8
    rows = build_rows(load_records(out)[0], published=[])
    assert len(rows) == 1 and rows[0].seeds == [0]  # eight runs of one seed are one seed


def test_write_record_never_replaces_an_existing_one(tmp_path):
    record = json.loads(next((Path(__file__).parent.parent / "leaderboards" / "runs").glob("*.json")).read_text())
    from snnbench.records import upgrade_record

    record = upgrade_record(record)
    write_record(record, tmp_path)
    with pytest.raises(FileExistsError):
        write_record(record, tmp_path)


def _a_record() -> dict:
    from snnbench.records import upgrade_record

    path = next((Path(__file__).parent.parent / "leaderboards" / "runs").glob("stbp-digits*.json"))
    return upgrade_record(json.loads(path.read_text()))


@pytest.mark.parametrize("poison", [
    lambda r: r["results"].update(test_acc_at_best_val=float("nan")),
    lambda r: r["results"].update(test_acc_at_best_val=float("inf")),
    lambda r: r["cost"].update(train_time_s=1e308 * 10),
    lambda r: r["cost"].update(params=10 ** 400),
    lambda r: r["results"].update(test_acc_at_best_val=None),
    lambda r: r.update(firing={"layer": {"share_zero": "x", "neurons": "many"}}),
    lambda r: r.update(metrics={"convention": 2, "synaptic_operations": {"Effective_ACs": "a lot"}}),
    lambda r: r.update(method="../../../evil"),
    lambda r: r.update(dataset="../../outside"),
])
def test_one_bad_record_is_listed_and_skipped(tmp_path, poison):
    runs = tmp_path / "runs"
    runs.mkdir()
    good = _a_record()
    (runs / "good.json").write_text(json.dumps(good))
    bad = _a_record()
    poison(bad)
    (runs / "bad.json").write_text(json.dumps(bad))
    (runs / "deep.json").write_text("[" * 100000 + "]" * 100000)
    records, skipped = load_records(runs)
    assert [p.name for p, _ in records] == ["good.json"]
    assert sorted(p.name for p, _ in skipped) == ["bad.json", "deep.json"]
    files = write_leaderboard(build_rows(records, published=[]), records, skipped, tmp_path / "board")
    assert all(Path(p).resolve().is_relative_to((tmp_path / "board").resolve()) for p in files.values())
    assert not list(tmp_path.glob("*.png")) and not (tmp_path.parent / "outside").exists()


def test_csv_cells_never_start_a_formula_and_markdown_escapes_html(tmp_path):
    record = _a_record()
    record["config"]["augment"] = "=HYPERLINK(\"x\")<script>alert(1)</script>"
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "r.json").write_text(json.dumps(record))
    records, _ = load_records(runs)
    rows = build_rows(records, published=[])
    text = to_csv(rows)
    assert "=HYPERLINK" not in [cell[:10] for line in text.splitlines() for cell in line.split(",")]
    md = to_markdown(rows, [(Path("<script>x</script>.json"), "<b>bad</b>")])
    assert "<script>" not in md and "&lt;script&gt;" in md


def test_user_text_in_messages_is_not_markup(tmp_path, capsys):
    assert main(["run", "--method", "[/]"]) == 2
    assert "unknown method '[/]'" in capsys.readouterr().err
    out = tmp_path / "a[/]b"
    assert main(["run", "--epochs", "1", "--max-train-samples", "64", "--out", str(out), "--device", "cpu"]) == 0
    assert "record:" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--epochs", "-2"], ["--lr", "inf"], ["--lr", "nan"],
                                  ["--max-train-samples", "-1"], ["--max-test-samples", "-5"],
                                  ["--set", "method=tet"], ["--set", "dataset=mnist"], ["--arch", "8C3s0"],
                                  ["--arch", "8-P0"], ["--batch-size", "0"], ["--steps", "0"]])
def test_range_checks_exit_2_before_data(tmp_path, capsys, argv):
    assert main(["run", *argv, "--out", str(tmp_path / "runs"), "--data-dir", str(tmp_path / "cache")]) == 2
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_unwritable_out_is_found_before_training(tmp_path, capsys):
    (tmp_path / "file").write_text("not a folder")
    assert main(["run", "--out", str(tmp_path / "file" / "runs"), "--device", "cpu"]) == 2
    assert "--out" in capsys.readouterr().err


def test_tune_bad_counts_and_settings_exit_2(tmp_path, capsys):
    base = ["tune", "--method", "stbp", "--dataset", "digits", "--out", str(tmp_path)]
    assert main([*base, "--trials", "-1"]) == 2
    assert main([*base, "--trials", "1", "--set", "val_fraction=0"]) == 2
    assert "validation split" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.json"))


def test_tune_workers_draw_distinct_sampler_seeds():
    from snnbench.tune import TuneSpec

    seeds = {TuneSpec(method="stbp", dataset="digits").sampler_seed for _ in range(8)}
    assert len(seeds) == 8
    assert TuneSpec(method="stbp", dataset="digits", seed=3, worker=2).sampler_seed == 5


def test_distributed_backend_follows_the_run_device_not_the_host():
    assert backend_for(torch.device("cpu")) == "gloo"
    assert backend_for(torch.device("cuda", 0)) == "nccl"


def test_sets_parse_rejects_pairs_without_equals():
    with pytest.raises(ConfigError):
        parse_sets(["lr"])


# ---- finding 6: caches carry a header and a checksum; a bad one is rebuilt with a warning ----------
def _static_cache(tmp_path: Path) -> tuple[Path, object]:
    from snnbench.files import DataContext

    ctx = DataContext(tmp_path / "cache")
    digits = create_dataset("digits")
    clean = digits.load("train", ctx)
    (cache,) = (tmp_path / "cache" / "decoded").glob("digits-train-*.pt")
    return cache, (digits, ctx, clean)


def _tamper_static(cache: Path) -> None:
    blob = torch.load(cache, weights_only=True)
    blob["images"][0, 0, 0, 0] ^= 0xFF  # well-formed, checksum now stale
    torch.save(blob, cache)


@pytest.mark.parametrize("damage", ["truncate", "tamper", "old-format", "other-sources", "garbage"])
def test_bad_static_cache_is_rebuilt_with_a_warning_naming_it(tmp_path, caplog, damage):
    cache, (digits, ctx, clean) = _static_cache(tmp_path)
    if damage == "truncate":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif damage == "tamper":
        _tamper_static(cache)
    elif damage == "old-format":  # what snnbench wrote before caches had headers
        torch.save({"images": clean.images, "labels": clean.labels}, cache)
    elif damage == "other-sources":
        blob = torch.load(cache, weights_only=True)
        torch.save({**blob, "sources": {"other.gz": "0" * 32}}, cache)
    else:
        cache.write_bytes(b"\x00not a torch file")
    with caplog.at_level("WARNING", logger="snnbench.data"):
        again = digits.load("train", ctx)
    assert torch.equal(again.images, clean.images) and torch.equal(again.labels, clean.labels)
    assert str(cache) in caplog.text and "rebuilding" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="snnbench.data"):
        digits.load("train", ctx)  # rebuilt: trusted again, no warning
    assert caplog.text == ""


def _synthetic_events(make_recording):
    import numpy as np

    from snnbench.datasets.base import EventDataset

    class Synthetic(EventDataset):
        name = "synthetic-events"
        input_shape = (2, 8, 8)
        sensor_size = (8, 8, 2)

        def read_events(self, split, paths):
            rng = np.random.default_rng(0 if split == "train" else 1)
            return [make_recording(rng, 40, 8) for _ in range(12)], np.arange(12) % 3

    return Synthetic()


@pytest.mark.parametrize("damage", ["truncate", "tamper", "labels", "params", "old-format", "missing-data"])
def test_bad_frame_cache_is_rebuilt_with_a_warning_naming_it(tmp_path, caplog, damage, make_recording):
    import numpy as np

    from snnbench.events import Binning
    from snnbench.files import DataContext

    dataset, ctx, binning = _synthetic_events(make_recording), DataContext(tmp_path / "cache"), Binning(values="count")
    clean = dataset.load("train", ctx, 4, binning)
    frames = clean.frames.get(np.arange(12)).clone()
    (data_path,) = (tmp_path / "cache" / "frames").glob("*.npy")
    meta_path = data_path.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    if damage == "truncate":
        data_path.write_bytes(data_path.read_bytes()[:-100])
    elif damage == "tamper":  # a well-formed .npy with other counts
        array = np.load(data_path)
        array[0, :5] = 7
        np.save(data_path, array)
    elif damage == "labels":
        meta_path.write_text(json.dumps({**meta, "labels": [0] * 12}))
    elif damage == "params":
        meta_path.write_text(json.dumps({**meta, "params": {**meta["params"], "steps": 5}}))
    elif damage == "old-format":
        meta_path.write_text(json.dumps({k: meta[k] for k in ("shape", "storage", "labels")}))
    else:
        data_path.unlink()
    with caplog.at_level("WARNING", logger="snnbench.data"):
        again = dataset.load("train", ctx, 4, binning)
    assert torch.equal(again.frames.get(np.arange(12)), frames)
    assert again.labels.tolist() == clean.labels.tolist()
    assert data_path.name in caplog.text and "rebuilding" in caplog.text
