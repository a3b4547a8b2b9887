"""The leaderboard page: one self-contained HTML file (styles, the sorting script and every figure inline,
so it opens anywhere without network access). A section per dataset with a compact table (more
columns one click away), numbers right-aligned with units in the headers, the best value per column
and dataset marked, sortable columns, each row linked to its records and figures, the published number
and its source beside the row, and the dataset's figures under its table, captioned."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Any

from snnbench.plots import Figure, method_colour

# (header, summary key, unit, better: "max" | "min" | None, compact)
COLUMNS: tuple[tuple[str, str, str, str | None, bool], ...] = (
    ("method", "method", "", None, True), ("options", "options", "", None, True), ("network", "arch", "", None, True),
    ("T", "T", "steps", None, True), ("epochs", "epochs", "", None, True), ("device", "device", "", None, True),
    ("n", "seeds", "seeds", None, True), ("accuracy", "acc_mean", "%", "max", True),
    ("± std", "acc_std", "%", None, True), ("best seed", "acc_best", "%", "max", False),
    ("max test (ref. conv.)", "max_test_mean", "%", "max", False), ("train time", "train_time_s", "s", "min", True),
    ("per epoch", "epoch_time_s", "s", "min", False), ("step", "ms_per_step", "ms", "min", True),
    ("peak memory", "peak_gpu_mib", "MiB", "min", False), ("params", "params", "", None, False),
    ("sparsity", "activation_sparsity", "", "max", False), ("ACs", "effective_acs", "/sample", "min", False),
    ("MACs", "effective_macs", "/sample", "min", False), ("energy est.", "energy_estimate_nj", "nJ", "min", False),
    ("recipe", "recipe", "", None, False), ("published", "published", "%", None, True),
    ("diff", "diff_vs_published", "pp", None, True),
)

HOW_TO_READ = (
    "Each row is one setting (method, options, network, T, epochs, recipe, device); its seeds are pooled. "
    "<b>accuracy</b> is the test accuracy at the epoch with the best validation accuracy (a fixed split of the "
    "training set), mean over seeds with the standard deviation beside it; n=1 rows have no spread. "
    "<b>max test</b> is the reference codes' convention (the best test accuracy over epochs) and makes no "
    "selection claim. Times compare only within one device; runs that shared a device give accuracy only. "
    "A published number is compared (<b>diff</b>) only at the same recipe and options and at least its epochs; "
    "otherwise it is context. Bold marks the best value of a column within its dataset. Click a header to sort."
)

SCRIPT = """
document.querySelectorAll('table.board').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var asc = th.getAttribute('data-dir') !== 'asc';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', asc ? 'asc' : 'desc');
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
        return asc ? cmp : -cmp;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
document.getElementById('all-columns').addEventListener('change', function (e) {
  document.body.classList.toggle('all', e.target.checked);
});
"""

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1280px;
color:#222;padding:0 16px}h1{margin-bottom:4px}h2{margin-top:36px;border-bottom:1px solid #ddd}
p.read{font-size:14px;line-height:1.45;color:#444;max-width:980px}
table.board{border-collapse:collapse;font-size:13px;margin:8px 0}
table.board th{background:#f3f4f6;cursor:pointer;padding:5px 7px;text-align:left;white-space:nowrap;
border-bottom:2px solid #ccc}table.board th.num{text-align:right}
table.board th[data-dir=asc]:after{content:' \\25B2'}table.board th[data-dir=desc]:after{content:' \\25BC'}
table.board td{padding:4px 7px;border-bottom:1px solid #eee;white-space:nowrap}
table.board td.num{text-align:right;font-variant-numeric:tabular-nums}td.best{font-weight:700}
.extra{display:none}body.all .extra{display:table-cell}
tr.tied td{font-weight:600}table.standings th,table.standings td{white-space:normal}
div.scroll{overflow-x:auto;max-width:100%}details.runs{margin:8px 0}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}
.small{font-size:11px;color:#666}details.repro summary{font-size:11px;color:#555;cursor:pointer}
code.cmd{display:block;font-size:11px;white-space:nowrap;user-select:all}
figure{margin:18px 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:13px;color:#555}.left{color:#a00}
"""


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _best(values: list[Any], better: str | None) -> Any:
    numbers = [v for v in values if isinstance(v, (int, float))]
    if not better or len(numbers) < 2:
        return None
    return max(numbers) if better == "max" else min(numbers)


def render(rows: list[Any], skipped: list[tuple[Path, str]], figures: list[Figure], page: Path) -> str:
    """The page for ``rows`` (leaderboard rows), with ``figures`` inlined; links relative to ``page``."""
    from snnbench.leaderboard import standings_tables

    sections = []
    tables = standings_tables(rows)
    for dataset in sorted({r.dataset for r in rows}, key=lambda d: (not any(t.dataset == d for t in tables), d)):
        subset = [r for r in rows if r.dataset == dataset]
        summaries = [r.summary() for r in subset]
        head = "".join(
            f"<th class='{'num' if unit or better else ''}{'' if compact else ' extra'}' title='{html.escape(key)}'>"
            f"{html.escape(name)}{(' (' + html.escape(unit) + ')') if unit else ''}</th>"
            for name, key, unit, better, compact in COLUMNS) + "<th>records</th>"
        bests = {key: _best([s[key] for s in summaries], better) for _, key, _, better, _ in COLUMNS}
        body = []
        for row, s in zip(subset, summaries, strict=True):
            cells = []
            for _, key, unit, _better, compact in COLUMNS:
                value = s[key]
                if key == "published" and value:
                    source = html.escape(s["published_source"] or "")
                    shown = f"{html.escape(str(value))}<div class='small'>{source}</div>"
                elif key == "diff_vs_published" and value is None and s["published_note"]:
                    shown = html.escape(s["published_note"])
                elif key == "method":
                    shown = (f"<span class='swatch' style='background:{method_colour(row.method)}'></span>"
                             f"{html.escape(str(value))}")
                elif key == "acc_std" and s["seeds"] == 1:
                    shown = "n=1"
                else:
                    shown = html.escape(_cell(value))
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                classes = ["num"] if numeric or unit else []
                if bests.get(key) is not None and value == bests[key]:
                    classes.append("best")
                if not compact:
                    classes.append("extra")
                sort_value = html.escape(str(value if value is not None else ""), quote=True)
                cells.append(f"<td class='{' '.join(classes)}' data-v='{sort_value}'>{shown}</td>")
            links = " ".join(f"<a href='{html.escape(_relative(Path(run), page))}'>s{seed}</a>"
                             for seed, run in zip(row.seeds, row.runs, strict=True))
            run_ids = {Path(run).stem for run in row.runs}
            links += "".join(f" <a href='#{html.escape(f.path.stem)}'>firing</a>" for f in figures
                             if f.run_id and f.run_id in run_ids)
            commands = "".join(f"<code class='cmd'>{html.escape(c)}</code>" for c in row.reproduce())
            links += f"<details class='repro'><summary>reproduce</summary>{commands}</details>"
            cells.append(f"<td data-v='{len(row.runs)}'>{links}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        shown_figures = "".join(
            f"<figure id='{html.escape(f.path.stem)}'><img src='{_inline(f.path)}' alt='{html.escape(f.caption)}'>"
            f"<figcaption>{html.escape(f.caption)}</figcaption></figure>" for f in figures if f.dataset == dataset)
        standings = "".join(_standings(t) for t in tables if t.dataset == dataset)
        sections.append(f"<section id='{html.escape(dataset)}'><h2>{html.escape(dataset)}</h2>{standings}"
                        f"<details class='runs'{'' if standings else ' open'}><summary>All runs on "
                        f"{html.escape(dataset)} ({len(subset)} settings; exploratory runs included, see notes)"
                        f"</summary><div class='scroll'><table class='board'><thead><tr>{head}</tr></thead>"
                        f"<tbody>{''.join(body)}</tbody></table></div></details>"
                        f"{shown_figures}</section>")
    left = "".join(f"<li><code>{html.escape(str(p))}</code>: {html.escape(w)}</li>" for p, w in skipped)
    nav = " · ".join(f"<a href='#{html.escape(d)}'>{html.escape(d)}</a>" for d in sorted({r.dataset for r in rows}))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>snnbench leaderboard</title>"
            f"<style>{STYLE}</style></head><body><h1>snnbench leaderboard</h1><p class='small'>{nav}</p>"
            f"<p class='read'>{HOW_TO_READ}</p><label><input type='checkbox' id='all-columns'> all columns</label>"
            + "".join(sections)
            + (f"<h2 class='left'>Records left out</h2><ul>{left}</ul>" if skipped else "")
            + f"<script>{SCRIPT}</script></body></html>\n")


def _standings(table: Any) -> str:
    """One standings table (the rules of a suite at one budget, best first) as HTML."""
    from snnbench.leaderboard import STANDINGS_COLUMNS, budget_text, standings_cells

    head = "".join(f"<th>{html.escape(c)}</th>" for c in STANDINGS_COLUMNS)
    body = []
    for standing, row in table.entries:
        cells = standings_cells(standing, row)
        cells[1] = (f"<span class='swatch' style='background:{method_colour(row.method)}'></span>"
                    f"{html.escape(cells[1])}")
        shown = [cells[1] if i == 1 else html.escape(c) for i, c in enumerate(cells)]
        tied = " class='tied'" if standing.tied_with_best and (standing.best or standing.p_holm is not None) else ""
        body.append(f"<tr{tied}>" + "".join(f"<td>{c}</td>" for c in shown) + "</tr>")
    return (f"<h3 class='standings'>Standings: suite <code>{html.escape(table.suite)}</code>, "
            f"{html.escape(budget_text(table.budget))}</h3><div class='scroll'><table class='board standings'><thead>"
            f"<tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
            "<p class='small'>Mean ± 95% CI over seeds (Student's t). "
            "Rank 1 and =1 (bold): not distinguishable from the best, Welch's t-test, Holm-corrected, p ≥ 0.05.</p>")


def _inline(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _relative(target: Path, page: Path) -> str:
    try:
        return Path(os.path.relpath(target.resolve(), page.resolve().parent)).as_posix()
    except ValueError:  # another drive
        return target.resolve().as_posix()
