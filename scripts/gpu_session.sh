#!/usr/bin/env bash
# One GPU session's work for issue 19, in stages that each fit one device call (<= 10 min), so the rare
# device time goes to measuring, not to setting up. On this machine first:
#   bash scripts/gpu_session.sh prepare      # copies MNIST into .data/ (the bench's inputs are synthetic) and
#                                            # the spikingjelly wheel into .whl/ (both git-ignored, ~13 MiB)
# then with the device tool, carrying those folders, e.g.
#   run(command="bash scripts/gpu_session.sh tests bench", carry=[".data", ".whl"])
#   run(command="bash scripts/gpu_session.sh tta", carry=[".data", ".whl"])
# Stages on the device: tests (the CUDA-graph, kernel and BN tests natively), bench (the goals table:
# eager and graphed beside spikingjelly, spikingjelly with BN and the ANN floor, one run), amp (the same
# at bf16), tta (time to accuracy on MNIST, 3 seeds of TSSL-BP, STBP and TET with their recipes, 12 epochs),
# amp-accuracy (TSSL-BP and TET on MNIST at bf16, 10 epochs, 3 seeds: compare with tta's float32 runs).
# Everything lands under $OUT (records in $OUT/runs, bench JSON in $OUT/bench, logs in $OUT/*.log):
# copy the records into leaderboards/runs and commit them.
set -euo pipefail
OUT=${OUT:-.gpu-runs}
mkdir -p "$OUT"
SHARED=${SHARED:-../shared/data}
CASES=mnist,fmnist-mlp,nmnist-t30,nmnist-t100,nmnist-t300,cifar10-cnn1

install() {
    python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -2
    if ls .whl/*.whl >/dev/null 2>&1; then python3 -m pip install -q --no-deps .whl/*.whl 2>&1 | tail -2; fi
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu.txt"
}

for stage in "$@"; do
    case "$stage" in
    prepare)
        mkdir -p .data .whl
        cp -r "$SHARED/MNIST" .data/
        python3 -m pip download -q --no-deps -d .whl "spikingjelly==2.0.0"
        du -sh .data .whl ;;
    tests)
        install
        SNNBENCH_MIRROR=.data python3 -m pytest -q tests/test_graphs.py tests/test_lif.py tests/test_tsslbp_kernel.py \
            tests/test_srm_kernel.py tests/test_batchnorm.py tests/test_bench.py 2>&1 | tee "$OUT/tests.log" | tail -15 ;;
    bench)
        install
        snnbench bench --cases "$CASES" --methods tsslbp,stbp,tet,slayer --peers spikingjelly,spikingjelly-bn,ann \
            --out "$OUT/bench" 2>&1 | tee "$OUT/bench.log" | tail -60
        snnbench bench --cases "$CASES" --methods tet --set tet.bn_backend=triton --peers spikingjelly-bn,ann \
            --out "$OUT/bench" 2>&1 | tee "$OUT/bench-tet-bn.log" | tail -20 ;;
    amp)
        install
        snnbench bench --cases "$CASES" --methods tsslbp,stbp,tet,slayer --peers ann \
            --set tsslbp.amp=true --set stbp.amp=true --set tet.amp=true --set slayer.amp=true \
            --out "$OUT/bench" 2>&1 | tee "$OUT/bench-amp.log" | tail -40 ;;
    tta)
        install
        for method in tsslbp stbp tet; do
            for seed in 0 1 2; do
                snnbench run -q --method "$method" --dataset mnist --seed "$seed" --epochs 12 --mirror .data \
                    --data-dir "$OUT/cache" --out "$OUT/runs" 2>&1 | tee -a "$OUT/tta.log" | tail -2
            done
        done ;;
    amp-accuracy)
        install
        for method in tsslbp tet; do
            for seed in 0 1 2; do
                snnbench run -q --method "$method" --dataset mnist --seed "$seed" --epochs 10 --set amp=true \
                    --mirror .data --data-dir "$OUT/cache" --out "$OUT/runs" 2>&1 | tee -a "$OUT/amp.log" | tail -2
            done
        done ;;
    *)
        echo "unknown stage $stage; stages: prepare tests bench amp tta amp-accuracy" >&2
        exit 2 ;;
    esac
done
