#!/usr/bin/env bash
# What a session lent a GPU should run first (on the device machine, from the repository root).
# Its image has torch, triton, rich and pytest but not optuna/tonic/snntorch/spikingjelly: carry their
# wheels in .whl/ (see the device tool's README) and MNIST/ under .data/ (the run reads --mirror .data).
#   1. kernel parity, natively on the GPU (the CPU CI runs the same tests in Triton's interpreter)
#   2. the side-by-side speed table of issues 3, 4 and 8 (peers only if their wheels were carried)
#   3. a real TSSL-BP MNIST run with the paper recipe; checkpoints each epoch, so call again with --resume
set -euo pipefail
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation -e .  # a bare pip there is another Python's
out=${OUT:-out}
mkdir -p "$out"
python3 -m pytest -q tests/test_tsslbp_kernel.py tests/test_lif.py tests/test_srm_kernel.py 2>&1 | tail -3 | tee "$out/kernels.txt"
snnbench bench --methods tsslbp,stbp,tet,slayer --peers installed --out "$out" 2>&1 | tee "$out/bench.txt"
if [ -d .data/MNIST ]; then
  # .gpu-runs/ is git-ignored, so its checkpoints stay on the machine between calls while it is warm
  snnbench run --method tsslbp --dataset mnist --epochs "${EPOCHS:-5}" --mirror .data --out .gpu-runs --resume \
    2>&1 | tail -25 | tee "$out/mnist.txt"
  cp .gpu-runs/*.json "$out/"
fi
