"""The leaderboard's files: CSV and JSON (numbers only), the page, and all of them written at once."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .rows import Row, _mean


def _csv_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (OWASP: prefix =, +, -, @, tab, CR with ')."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def numeric_summary(row: Row) -> dict[str, Any]:
    """One setting as numbers (the CSV and JSON rows): accuracy mean, std (null for n=1), n, best;
    seconds, ms, MiB, counts; time to each accuracy threshold and how many seeds reached it."""
    s = row.summary()
    out = {k: v for k, v in s.items() if k not in ("time_to_accuracy", "published", "published_source")}
    out["acc_std"] = s["acc_std"] if s["seeds"] > 1 else None
    out["n"] = out.pop("seeds")
    pub = row.published or {}
    out.update({"published_mean": pub.get("mean"), "published_std": pub.get("std"),
                "published_source": pub.get("source")})
    for level, values in row.time_to.items():
        key = level.rstrip("%")
        out[f"time_to_{key}_s"] = _mean(values) if values else None
        out[f"reached_{key}"] = len(values)
    return out


def to_csv(rows: list[Row]) -> str:
    """Numeric columns, one row per setting (``pandas.read_csv`` gets numbers, not presentation text)."""
    summaries = [numeric_summary(r) for r in rows]
    columns: list[str] = []
    for summary in summaries:
        columns += [k for k in summary if k not in columns]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows([_csv_cell(s.get(c)) if s.get(c) is not None else "" for c in columns] for s in summaries)
    return out.getvalue()


def to_json(rows: list[Row], skipped: list[tuple[Path, str]]) -> str:
    return json.dumps({"rows": [{**numeric_summary(r), "runs": r.runs, "seeds_list": r.seeds,
                                  "reproduce": r.reproduce()} for r in rows],
                       "skipped": [{"path": str(p), "reason": why} for p, why in skipped]}, indent=1)


def to_html(rows: list[Row], skipped: list[tuple[Path, str]], figures: list[Any] | None = None,
            page_path: Path = Path("leaderboard.html")) -> str:
    """The self-contained page (:mod:`.page`); ``figures`` are inlined, links relative to ``page_path``."""
    from . import page

    return page.render(rows, skipped, figures or [], page_path)


def write_leaderboard(rows: list[Row], records: list[tuple[Path, dict]], skipped: list[tuple[Path, str]],
                      out: Path) -> dict[str, Path]:
    """Write ``LEADERBOARD.md``, the self-contained ``leaderboard.html`` (figures inlined; the PNGs also
    under ``plots/``), csv and json."""
    from .markdown import to_markdown
    from .plots import plot_all

    out.mkdir(parents=True, exist_ok=True)
    figures = plot_all(rows, records, out / "plots")
    files = {"md": out / "LEADERBOARD.md", "html": out / "leaderboard.html", "csv": out / "leaderboard.csv",
             "json": out / "leaderboard.json"}
    files["md"].write_text(to_markdown(rows, skipped, figures, out))
    files["html"].write_text(to_html(rows, skipped, figures, files["html"]))
    files["csv"].write_text(to_csv(rows))
    files["json"].write_text(to_json(rows, skipped))
    stale = out / "plots" / "leaderboard.html"  # where the page was before it was self-contained
    if stale.exists():
        stale.unlink()
    return files


__all__ = ["numeric_summary", "to_csv", "to_html", "to_json", "write_leaderboard"]
