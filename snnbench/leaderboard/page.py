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

from .columns import PAGE_COLUMNS, STANDINGS_COLUMNS, Column
from .plots import Figure, method_colour
from .standings import (
    StandingsMatrix,
    StandingsTable,
    budget_text,
    standings_cells,
    standings_matrices,
    standings_tables,
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
tr.tied td,td.tied{font-weight:600}table.standings th,table.standings td{white-space:normal}
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
    tables = standings_tables(rows)
    datasets = sorted({r.dataset for r in rows}, key=lambda d: (not any(t.dataset == d for t in tables), d))
    sections = "".join(_section(d, [r for r in rows if r.dataset == d], [t for t in tables if t.dataset == d],
                                figures, page) for d in datasets)
    left = "".join(f"<li><code>{html.escape(str(p))}</code>: {html.escape(w)}</li>" for p, w in skipped)
    nav = " · ".join(f"<a href='#{html.escape(d)}'>{html.escape(d)}</a>" for d in sorted({r.dataset for r in rows}))
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>snnbench leaderboard</title>"
            f"<style>{STYLE}</style></head><body><h1>snnbench leaderboard</h1><p class='small'>{nav}</p>"
            f"<p class='read'>{HOW_TO_READ}</p>" + "".join(_matrix(m) for m in standings_matrices(tables))
            + "<label><input type='checkbox' id='all-columns'> all columns</label>"
            + sections
            + (f"<h2 class='left'>Records left out</h2><ul>{left}</ul>" if skipped else "")
            + f"<script>{SCRIPT}</script></body></html>\n")


def _section(dataset: str, subset: list[Any], tables: list[StandingsTable], figures: list[Figure], page: Path) -> str:
    """One dataset: its standings, its runs (folded when there are standings) and its figures."""
    summaries = [r.summary() for r in subset]
    head = "".join(f"<th class='{'num' if c.numeric else ''}{'' if c.page == 'compact' else ' extra'}' "
                   f"title='{html.escape(c.key)}'>{html.escape(c.header)}</th>" for c in PAGE_COLUMNS)
    head += "<th>records</th>"
    bests = {c.key: _best([s[c.key] for s in summaries], c.better) for c in PAGE_COLUMNS}
    body = "".join("<tr>" + "".join(_cell_html(c, s, row, bests.get(c.key)) for c in PAGE_COLUMNS)
                   + _records_cell(row, figures, page) + "</tr>" for row, s in zip(subset, summaries, strict=True))
    shown_figures = "".join(
        f"<figure id='{html.escape(f.path.stem)}'><img src='{_inline(f.path)}' alt='{html.escape(f.caption)}'>"
        f"<figcaption>{html.escape(f.caption)}</figcaption></figure>" for f in figures if f.dataset == dataset)
    standings = "".join(_standings(t) for t in tables)
    return (f"<section id='{html.escape(dataset)}'><h2>{html.escape(dataset)}</h2>{standings}"
            f"<details class='runs'{'' if standings else ' open'}><summary>All runs on "
            f"{html.escape(dataset)} ({len(subset)} settings; exploratory runs included, see notes)"
            f"</summary><div class='scroll'><table class='board'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div></details>{shown_figures}</section>")


def _shown(column: Column, s: dict[str, Any], row: Any) -> str:
    """The cell's HTML content: the value formatted, with the page's few special forms."""
    value = s[column.key]
    if column.key == "published" and value:
        return f"{html.escape(str(value))}<div class='small'>{html.escape(s['published_source'] or '')}</div>"
    if column.key == "diff_vs_published" and value is None and s["published_note"]:
        return html.escape(s["published_note"])
    if column.key == "method":
        return f"<span class='swatch' style='background:{method_colour(row.method)}'></span>{html.escape(str(value))}"
    if column.key == "acc_std" and s["seeds"] == 1:
        return "n=1"
    return html.escape(_cell(value))


def _cell_html(column: Column, s: dict[str, Any], row: Any, best: Any) -> str:
    value = s[column.key]
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    classes = ["num"] if numeric or column.numeric else []
    if best is not None and value == best:
        classes.append("best")
    if column.page != "compact":
        classes.append("extra")
    sort_value = html.escape(str(value if value is not None else ""), quote=True)
    return f"<td class='{' '.join(classes)}' data-v='{sort_value}'>{_shown(column, s, row)}</td>"


def _records_cell(row: Any, figures: list[Figure], page: Path) -> str:
    """Links to the row's records (one per seed) and firing figures, and its reproduce commands."""
    links = " ".join(f"<a href='{html.escape(_relative(Path(run), page))}'>s{seed}</a>"
                     for seed, run in zip(row.seeds, row.runs, strict=True))
    run_ids = {Path(run).stem for run in row.runs}
    links += "".join(f" <a href='#{html.escape(f.path.stem)}'>firing</a>" for f in figures
                     if f.run_id and f.run_id in run_ids)
    commands = "".join(f"<code class='cmd'>{html.escape(c)}</code>" for c in row.reproduce())
    links += f"<details class='repro'><summary>reproduce</summary>{commands}</details>"
    return f"<td data-v='{len(row.runs)}'>{links}</td>"


def _standings(table: StandingsTable) -> str:
    """One standings table (the rules of a suite at one budget, best first) as HTML."""
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


def _matrix(matrix: StandingsMatrix) -> str:
    """One suite's rules × datasets at their budgets (the answer at a glance) as HTML; the best and the rules
    not distinguishable from it in bold."""
    where = f" on {matrix.machine}" if matrix.machine else " (epoch budgets)"
    head = "".join(f"<th><a href='#{html.escape(t.dataset)}'>{html.escape(t.dataset)}</a><div class='small'>"
                   f"{html.escape(t.budget.partition(' on ')[0])}</div></th>" for t in matrix.columns)
    body = ""
    for rule in matrix.rules:
        cells = [matrix.cell(rule, t) for t in matrix.columns]
        body += (f"<tr><td><span class='swatch' style='background:{method_colour(rule)}'></span>{html.escape(rule)}"
                 "</td>" + "".join(("<td class='tied'>" if c.endswith("1)") else "<td>") + html.escape(c) + "</td>"
                                   for c in cells) + "</tr>")
    return (f"<h2 class='matrix'>Suite <code>{html.escape(matrix.suite)}</code>{html.escape(where)}</h2>"
            f"<div class='scroll'><table class='board standings'><thead><tr><th>rule</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table></div><p class='small'>Test accuracy (%), mean ± 95% CI over seeds. "
            "(1): the best rule; (=1): not distinguishable from it (Welch, Holm, p ≥ 0.05); no mark: below it.</p>")


def _inline(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _relative(target: Path, page: Path) -> str:
    try:
        return Path(os.path.relpath(target.resolve(), page.resolve().parent)).as_posix()
    except ValueError:  # another drive
        return target.resolve().as_posix()
