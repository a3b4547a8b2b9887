"""The one column table of the leaderboard: every column's name, where its value comes from
(``Row.summary()``), its unit, which way is better, and which writers show it. The console table
(``--columns`` selects by name), ``LEADERBOARD.md`` and the page read this table; the CSV and JSON carry
every summary value as a number (:func:`snnbench.leaderboard.writers.numeric_summary`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Summary = dict[str, Any]


def _num(key: str, unit: str = "") -> Callable[[Summary, Any], str]:
    def text(s: Summary, row: Any) -> str:
        return "-" if s[key] is None else f"{s[key]}{unit}"

    return text


def _plain(key: str, empty: str = "") -> Callable[[Summary, Any], str]:
    def text(s: Summary, row: Any) -> str:
        return str(s[key]) if s[key] or not empty else empty

    return text


def _accuracy(s: Summary, row: Any) -> str:
    return f"{s['acc_mean']:.2f} ± {s['acc_std']:.2f}" if s["seeds"] > 1 else f"{s['acc_mean']:.2f} (n=1)"


def _time_to(s: Summary, row: Any) -> str:
    return "; ".join(f"{k}: {v}" for k, v in s["time_to_accuracy"].items()) or "-"


def _published(s: Summary, row: Any) -> str:
    return f"{s['published']} ({s['published_source']})" if s["published"] else "-"


def _diff(s: Summary, row: Any) -> str:
    return _num("diff_vs_published")(s, row) if s["published_note"] is None else s["published_note"]


def _notes(s: Summary, row: Any) -> str:
    return ", ".join(sorted(row.marks)) or "-"


@dataclass(frozen=True)
class Column:
    """One column. ``text``: its cell in the text writers (console, Markdown; None: the page alone shows
    it). ``page``: ``compact`` (shown), ``extra`` (behind "all columns") or ``""`` (not on the page)."""

    name: str
    key: str
    text: Callable[[Summary, Any], str] | None
    unit: str = ""  # the page's header unit; the text cells carry theirs
    better: str | None = None  # "max" | "min": the page marks the best value per dataset
    page: str = ""
    markdown: bool = False
    numeric: bool = False  # right-aligned on the page

    @property
    def header(self) -> str:
        """The page's header: the name, and the unit where the name does not hold it."""
        return self.name + (f" ({self.unit})" if self.unit else "")


TABLE: tuple[Column, ...] = (
    Column("dataset", "dataset", _plain("dataset")),
    Column("method", "method", _plain("method"), page="compact", markdown=True),
    Column("options", "options", _plain("options", "-"), page="compact", markdown=True),
    Column("arch", "arch", _plain("arch"), page="compact", markdown=True),
    Column("T", "T", _plain("T"), unit="steps", page="compact", markdown=True, numeric=True),
    Column("epochs", "epochs", _plain("epochs"), page="compact", markdown=True),
    Column("budget", "budget", _plain("budget", "-"), markdown=True),
    Column("recipe", "recipe", _plain("recipe"), page="extra"),
    Column("device", "device", _plain("device"), page="compact", markdown=True),
    Column("seeds", "seeds", _plain("seeds"), unit="n", page="compact", markdown=True, numeric=True),
    Column("accuracy", "acc_mean", _accuracy, unit="%", better="max", page="compact", markdown=True,
           numeric=True),
    Column("± std", "acc_std", None, unit="%", page="compact", numeric=True),
    Column("best", "acc_best", lambda s, row: f"{s['acc_best']:.2f}", unit="%", better="max", page="extra",
           numeric=True),
    Column("max test (ref. conv.)", "max_test_mean", _num("max_test_mean"), unit="%", better="max", page="extra",
           markdown=True, numeric=True),
    Column("train time", "train_time_s", _num("train_time_s", " s"), unit="s", better="min", page="compact",
           markdown=True, numeric=True),
    Column("per epoch", "epoch_time_s", _num("epoch_time_s", " s"), unit="s", better="min", page="extra",
           numeric=True),
    Column("ms/step", "ms_per_step", _num("ms_per_step"), better="min", page="compact", markdown=True,
           numeric=True),
    Column("peak MiB", "peak_gpu_mib", _num("peak_gpu_mib"), better="min", page="extra", numeric=True),
    Column("params", "params", _num("params"), page="extra", numeric=True),
    Column("sparsity", "activation_sparsity", _num("activation_sparsity"), better="max", page="extra",
           numeric=True),
    Column("ACs/sample", "effective_acs", _num("effective_acs"), better="min", page="extra", numeric=True),
    Column("MACs/sample", "effective_macs", _num("effective_macs"), better="min", page="extra", numeric=True),
    Column("energy est. nJ", "energy_estimate_nj", _num("energy_estimate_nj"), better="min", page="extra",
           numeric=True),
    Column("time to accuracy", "time_to_accuracy", _time_to),
    Column("published", "published", _published, unit="%", page="compact", markdown=True, numeric=True),
    Column("diff", "diff_vs_published", _diff, unit="pp", page="compact", markdown=True, numeric=True),
    Column("notes", "notes", _notes, markdown=True),
)

TEXT_COLUMNS = tuple(c for c in TABLE if c.text is not None)
COLUMNS = tuple(c.name for c in TEXT_COLUMNS)  # what ``snnbench leaderboard --columns`` selects from
MD_COLUMNS = tuple(c.name for c in TEXT_COLUMNS if c.markdown)
PAGE_COLUMNS = tuple(c for c in TABLE if c.page)

# the console gets the columns that decide a comparison (--columns picks others); the files have all of them
CONSOLE_COLUMNS = ("dataset", "method", "options", "T", "epochs", "budget", "device", "seeds", "accuracy",
                   "train time", "diff", "notes")
STANDINGS_COLUMNS = ("rank", "rule", "seeds", "test acc (mean ± 95% CI)", "vs best (Holm p)", "epochs",
                     "samples seen", "samples per CPU-s", "energy est. nJ", "notes")


def table_cells(row: Any, names: tuple[str, ...] = COLUMNS) -> list[str]:
    """The text cells of ``row`` for the columns ``names`` (console and Markdown)."""
    s = row.summary()
    by_name = {c.name: c for c in TEXT_COLUMNS}
    return [by_name[name].text(s, row) for name in names]  # type: ignore[misc]


__all__ = ["COLUMNS", "CONSOLE_COLUMNS", "MD_COLUMNS", "PAGE_COLUMNS", "STANDINGS_COLUMNS", "TABLE", "TEXT_COLUMNS",
           "Column",
           "table_cells"]
