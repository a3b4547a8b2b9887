"""Before/after of two ``snnbench bench --suite`` JSON files, per (dataset, rule): ms per step, and the
speed-up normalised by each run's own GEMM rate, which is the number to compare when the two runs met a host
at different speeds. A run's GEMM rate is read back from its rows (roofline = GFLOP per second over the GEMM
rate), the median over the rows: the ratio of two rows' roofline fractions is no speed-up where the step's
FLOP count changed (the event-driven products are not counted: their arithmetic is not a GEMM's).

    python scripts/bench_compare.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import json
import sys


def cases(path: str) -> dict[str, dict]:
    return {row["case"]: row for row in json.loads(open(path).read())["results"]}


def gemm_rate(rows: dict[str, dict]) -> float:
    """The run's float32 GEMM rate (GFLOP/s), from its rows: gflop / seconds per step / roofline."""
    rates = sorted(row["gflop"] / (row["ms_per_step"] / 1000) / row["roofline"] for row in rows.values()
                   if row.get("gflop") and row.get("ms_per_step") and row.get("roofline"))
    return rates[len(rates) // 2] if rates else 0.0


def main() -> None:
    before, after = cases(sys.argv[1]), cases(sys.argv[2])
    old_rate, new_rate = gemm_rate(before), gemm_rate(after)
    print(f"GEMM rate: before {old_rate:.1f}, after {new_rate:.1f} GFLOP/s (the speed-ups are normalised by it)\n")
    names = sorted({case for case in before if case in after})
    datasets = sorted({n.split("/")[0] for n in names})
    rules = sorted({n.split("/")[1] for n in names})
    print("| dataset | " + " | ".join(rules) + " |\n|---|" + "---|" * len(rules))
    for dataset in datasets:
        cells = []
        for rule in rules:
            old, new = before.get(f"{dataset}/{rule}"), after.get(f"{dataset}/{rule}")
            if not (old and new and old["ms_per_step"] and new["ms_per_step"]):
                cells.append("-")
                continue
            speedup = old["ms_per_step"] / new["ms_per_step"] * (old_rate / new_rate) if old_rate and new_rate else 0
            normalised = f", {speedup:.2f}×" if speedup else ""
            cells.append(f"{old['ms_per_step']:.1f} → {new['ms_per_step']:.1f}{normalised}")
        print(f"| {dataset} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
