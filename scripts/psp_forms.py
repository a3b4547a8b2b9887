"""Time the PSP forms (forward + backward) on one device: what ``psp_form=auto`` chooses from.

    python scripts/psp_forms.py [--device cuda] [--steps 300,1000] [--neurons 129600] [--tau 1,10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from snnbench.kernels.filters import PSP_FORMS, psp
from snnbench.kernels.srm import SRMParams, psp_kernel


def time_form(x: torch.Tensor, grad: torch.Tensor, taps: tuple[float, ...], form: str, repeats: int) -> float:
    """Median milliseconds of one forward + backward of ``psp`` in ``form`` (after one warm-up)."""
    times = []
    for i in range(repeats + 1):
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        psp(x, taps, 1.0, form).backward(grad)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", default="300,1000")
    parser.add_argument("--neurons", type=int, default=12 * 12 * 30 * 30)  # N-MNIST CNN conv1, batch 12
    parser.add_argument("--tau", default="1,10")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    for tau in [float(v) for v in args.tau.split(",")]:
        taps = tuple(psp_kernel(SRMParams(tau_sr=tau)).tolist())
        for steps in [int(v) for v in args.steps.split(",")]:
            x = (torch.rand(steps, args.neurons, device=device) < 0.05).float().requires_grad_()
            grad = torch.randn_like(x)
            forms = [form for form in PSP_FORMS if form != "auto"]
            row = [f"{form} {time_form(x, grad, taps, form, args.repeats):.2f}" for form in forms]
            print(f"{device.type} tau_sr={tau:g} taps={len(taps)} T={steps} M={args.neurons}: "
                  + ", ".join(row) + " ms")


if __name__ == "__main__":
    main()
