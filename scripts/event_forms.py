"""Each spike-input rule's training step on its suite network with its input layer's products dense and summed
over the spikes (SLAYER ``event_input``, ST-RSBP/HM2-BP ``spsp_form=events``), one thread, alternating in one
process, at the density of the cell's data where it is here (``SNNBENCH_MIRROR``): what the event-driven
form buys per case (decide it for a suite's cells before they run).

    SNNBENCH_MIRROR=../shared/data python scripts/event_forms.py [--suite cpu] [--repeats 9]
"""

from __future__ import annotations

import argparse

import torch

from snnbench.bench import method_step, suite_cases, time_steps
from snnbench.config import ConfigError

FORMS = {"slayer": ("event_input", False, True), "st-rsbp": ("spsp_form", "dense", "events"),
         "hm2-bp": ("spsp_form", "dense", "events")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="cpu")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    print("| case | input density | dense ms | events ms | speed-up |\n|---|---|---|---|---|")
    for case, rule in suite_cases(args.suite):
        if rule not in FORMS or not (case.events or case.spike_input):
            continue
        key, dense, events = FORMS[rule]
        best = {}
        try:
            for _ in range(2):  # alternating, the best of two medians each: a drifting host meets both forms alike
                for name, value in (("events", events), ("dense", dense)):
                    step = method_step(rule, case, case.steps, device, {key: value})
                    ms = time_steps(step, device, 2, args.repeats, clock="cpu")
                    best[name] = min(best.get(name, ms), ms)
        except ConfigError as err:  # SLAYER's event_input where W does not see the input spikes
            print(f"| {case.name} | {case.density:.4f} | - | - | refused: {str(err).split(';')[0]} |", flush=True)
            continue
        print(f"| {case.name} | {case.density:.4f} | {best['dense']:.2f} | {best['events']:.2f} | "
              f"{best['dense'] / best['events']:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
