"""Before/after of two ``snnbench bench --suite`` JSON files, per (dataset, rule): ms per step, and the
speed-up normalised by each run's own GEMM rate (the ratio of the roofline fractions), which is the number
to compare when the two runs met a host at different speeds.

    python scripts/bench_compare.py BEFORE.json AFTER.json
"""

from __future__ import annotations

import json
import sys


def cases(path: str) -> dict[str, dict]:
    return {row["case"]: row for row in json.loads(open(path).read())["results"]}


def main() -> None:
    before, after = cases(sys.argv[1]), cases(sys.argv[2])
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
            normalised = (f", {new['roofline'] / old['roofline']:.2f}×" if old.get("roofline") and new.get("roofline")
                          else "")
            cells.append(f"{old['ms_per_step']:.1f} → {new['ms_per_step']:.1f}{normalised}")
        print(f"| {dataset} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
