"""The leaderboard page in a real browser (headless Chromium driven by Playwright): no console errors,
every figure loads, sorting a column reorders the rows, each dataset has its section; the CSV loads as
numbers."""

from __future__ import annotations

import csv
import io
import shutil

import pytest

from snnbench.leaderboard import build_rows, load_records, to_csv, write_leaderboard

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """A leaderboard of real short CPU runs: two rules and two seeds on digits, one on a second dataset name."""
    from snnbench.config import resolve_config
    from snnbench.engine import RuntimeOptions, train
    from snnbench.registry import create_dataset, create_method

    runs = tmp_path_factory.mktemp("runs")
    for method, seeds in (("stbp", (0, 1)), ("tsslbp", (0,))):
        for seed in seeds:
            cfg = resolve_config(create_method(method), create_dataset("digits"), {"epochs": 2, "seed": seed})
            train(cfg, RuntimeOptions(device="cpu", out=runs))
    records, skipped = load_records(runs)
    out = tmp_path_factory.mktemp("board")
    files = write_leaderboard(build_rows(records, published=[]), records, skipped, out)
    return files, records


def test_csv_holds_numbers(board):
    files, records = board
    rows = list(csv.DictReader(io.StringIO(files["csv"].read_text())))
    assert len(rows) == 2
    for row in rows:
        float(row["acc_mean"]), float(row["train_time_s"]), int(row["n"]), int(row["epochs"])
    single = next(r for r in rows if r["method"] == "tsslbp")
    assert single["n"] == "1" and single["acc_std"] == ""  # n=1 has no spread, not 0.00
    assert to_csv([]) .strip() == ""


def test_page_in_a_real_browser(board):
    if CHROMIUM is None:
        pytest.skip("no chromium browser (Debian package 'chromium') is installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip install playwright) is missing")
    files, _ = board
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(files["html"].resolve().as_uri())
        assert errors == []
        assert page.locator("section#digits h2").inner_text() == "digits"
        images = page.locator("img")
        assert images.count() >= 4
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        table = page.locator("section#digits table.board")
        header = table.locator("th", has_text="accuracy (%)")
        column = [h.inner_text() for h in table.locator("th").all()].index(header.inner_text())

        def accuracies() -> list[float]:
            return [float(c) for c in table.locator(f"tbody tr td:nth-child({column + 1})").all_inner_texts()]

        header.click()
        ascending = accuracies()
        header.click()
        descending = accuracies()
        assert ascending == sorted(ascending) and descending == sorted(ascending, reverse=True)
        assert ascending != descending or len(set(ascending)) == 1
        assert not page.locator("th.extra").first.is_visible()
        page.check("#all-columns")  # the other columns are one click away
        assert page.locator("th.extra").first.is_visible()
        browser.close()


def test_page_of_the_committed_records_in_a_real_browser(tmp_path):
    """The acceptance: the page made from the records in the repository opens cleanly, every dataset has
    its section and every figure loads."""
    from pathlib import Path

    if CHROMIUM is None:
        pytest.skip("no chromium browser (Debian package 'chromium') is installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip install playwright) is missing")
    records, skipped = load_records(Path(__file__).resolve().parent.parent / "leaderboards" / "runs")
    rows = build_rows(records)
    files = write_leaderboard(rows, records, skipped, tmp_path / "board")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(files["html"].resolve().as_uri())
        assert errors == []
        for dataset in {r.dataset for r in rows}:
            assert page.locator(f"section[id='{dataset}'] table.board tbody tr").count() >= 1
        assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.evaluate("document.querySelectorAll('details.runs').forEach(d => { d.open = true; })")
        first = page.locator("details.repro").first  # each row names the commands that re-run it
        assert not first.locator("code.cmd").first.is_visible()
        first.locator("summary").click()
        command = first.locator("code.cmd").first.inner_text()
        browser.close()
    import shlex

    from snnbench.config import record_config
    from snnbench.records import read_record

    words = shlex.split(command)
    assert words[:3] == ["snnbench", "run", "--from-record"]
    record = read_record(Path(words[3]))
    assert record_config(record).hash() == record.config_hash


def test_console_table_fits_100_columns(board, tmp_path):
    import os
    import subprocess
    import sys

    files, records = board
    runs = {str(p.parent) for p, _ in records}.pop()
    proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "leaderboard", "--runs", runs, "--no-files"],
                          capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"}, timeout=120)
    assert proc.returncode == 0 and "stbp" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100
    bad = subprocess.run([sys.executable, "-m", "snnbench.cli", "leaderboard", "--runs", runs, "--no-files",
                          "--columns", "method,nope"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nope" in bad.stderr


def test_a_wheel_ships_the_published_numbers_and_the_suites(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            str(root), "-w", str(tmp_path / "wheel")], capture_output=True, text=True, timeout=300)
    if build.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {build.stderr[-300:]}")
    (wheel,) = (tmp_path / "wheel").glob("snnbench-*.whl")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = ("import snnbench, snnbench.leaderboard as lb, snnbench.suite as s; "
             "print(snnbench.__file__); print(len(lb.load_published())); print(','.join(s.suite_names()))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(target)}).stdout.splitlines()
    assert out[0].startswith(str(target)) and int(out[1]) > 10 and "smoke" in out[2]


@pytest.mark.parametrize("width", [1400, 1000])
def test_standings_page_fits_the_window_and_shows_the_comparison(tmp_path, width):
    """A board with a declared suite's budget runs: the dataset opens with its standings (best first, the rule
    that is not distinguishable from the best marked), the page never scrolls sideways at 1,400 or 1,000 px,
    and the exploratory table is one click away. Screenshots go to SNNBENCH_SCREENSHOTS when it is set."""
    import os
    from pathlib import Path

    from tests.test_plots_budget import _budget_records

    if CHROMIUM is None:
        pytest.skip("no chromium browser (Debian package 'chromium') is installed")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip install playwright) is missing")
    runs = tmp_path / "runs"
    runs.mkdir()
    _budget_records(runs)
    records, skipped = load_records(runs)
    files = write_leaderboard(build_rows(records, published=[]), records, skipped, tmp_path / "board")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto(files["html"].resolve().as_uri())
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        standings = page.locator("section table.standings tbody tr")
        assert standings.count() == 2
        first, second = (standings.nth(i).locator("td").all_inner_texts() for i in range(2))
        assert first[:2] == ["1", "tet"] and first[4] == "best" and second[1] == "stbp"
        assert second[4].startswith("below") and "p=" in second[4]  # 80-82 against 90-92 over 3 seeds
        assert not page.locator("details.runs table.board").first.is_visible()
        page.locator("details.runs summary").first.click()
        assert page.locator("details.runs table.board").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the table scrolls
        shots = os.environ.get("SNNBENCH_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / f"standings-{width}.png"), full_page=True)
        browser.close()
