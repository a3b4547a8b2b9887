"""Each rule's training step on its suite network with denormal floats kept and flushed to zero, one thread,
alternating in one process: what ``flush_denormal`` buys on this CPU, per rule (decide it for a suite on a
new CPU class before its cells run).

    python scripts/flush_denormal.py [--suite cpu] [--datasets mnist,fashion-mnist] [--repeats 3]
"""

from __future__ import annotations

import argparse

import torch

from snnbench.bench import method_step, suite_cases, time_steps
from snnbench.kernels.denormals import set_flush_denormal


def step_ms(step, flush: bool, repeats: int) -> float:  # noqa: ANN001 - a bench.BenchStep
    """Median milliseconds of one training step with denormals flushed or kept (the bench's timer)."""
    set_flush_denormal(flush)
    try:
        return time_steps(step, torch.device("cpu"), 0, repeats)
    finally:
        set_flush_denormal(False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="cpu")
    parser.add_argument("--datasets", default="mnist,fashion-mnist")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    datasets = args.datasets.split(",")
    print("| dataset | rule | kept (ms) | flushed (ms) | kept / flushed |\n|---|---|---|---|---|")
    for case, rule in suite_cases(args.suite):
        if case.dataset not in datasets:
            continue
        torch.manual_seed(0)
        step = method_step(rule, case, case.steps, torch.device("cpu"))
        step()  # warm-up: caches, compiled loops
        kept, flushed = float("inf"), float("inf")
        for _ in range(2):  # alternating, so a change of load on the machine meets both
            kept = min(kept, step_ms(step, False, args.repeats))
            flushed = min(flushed, step_ms(step, True, args.repeats))
        print(f"| {case.dataset} | {rule} | {kept:.1f} | {flushed:.1f} | {kept / flushed:.2f} |", flush=True)


if __name__ == "__main__":
    main()
