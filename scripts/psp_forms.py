"""Time the PSP forms (forward + backward) on one device: what ``psp_form=auto`` chooses from.

    python scripts/psp_forms.py [--device cuda] [--steps 300,1000] [--neurons 129600] [--tau 1,10]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from snnbench.kernels.srm import SRMParams, psp, psp_kernel

parser = argparse.ArgumentParser()
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
parser.add_argument("--steps", default="300,1000")
parser.add_argument("--neurons", type=int, default=12 * 12 * 30 * 30)  # N-MNIST CNN conv1, batch 12
parser.add_argument("--tau", default="1,10")
parser.add_argument("--repeats", type=int, default=5)
args = parser.parse_args()
device = torch.device(args.device)


def sync() -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


for tau in [float(v) for v in args.tau.split(",")]:
    taps = psp_kernel(SRMParams(tau_sr=tau))
    for steps in [int(v) for v in args.steps.split(",")]:
        x = (torch.rand(steps, args.neurons, device=device) < 0.05).float().requires_grad_()
        g = torch.randn_like(x)
        row = []
        for form in ("toeplitz", "fft", "shift", "conv"):
            times = []
            for i in range(args.repeats + 1):
                sync()
                t0 = time.perf_counter()
                psp(x, taps, 1.0, form).backward(g)
                sync()
                if i:
                    times.append((time.perf_counter() - t0) * 1000)
            row.append(f"{form} {statistics.median(times):.2f}")
        print(f"{device.type} tau_sr={tau:g} taps={len(taps)} T={steps} M={args.neurons}: " + ", ".join(row) + " ms")
