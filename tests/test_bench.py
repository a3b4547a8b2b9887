"""`snnbench bench`: the timed step is the engine's training step, peers build the same topology."""

import dataclasses
import json

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.bench import CASES, PEER_MODULES, _peer_layers, available_peers, run_bench, synthetic_batch
from snnbench.cli import main
from snnbench.config import ConfigError
from snnbench.kernels.denormals import set_flush_denormal


def test_synthetic_batches_have_the_case_shapes():
    x, y = synthetic_batch(CASES["nmnist-t30"], 30, torch.device("cpu"))
    assert x.shape == (30, 50, 2, 34, 34) and set(x.unique().tolist()) == {0.0, 1.0} and y.shape == (50,)
    x, _ = synthetic_batch(CASES["mnist"], 5, torch.device("cpu"))
    assert torch.equal(x[0], x[4])  # static images repeat over T


def test_run_bench_times_methods_and_reports_failures():
    results = run_bench(["fmnist-mlp"], ["tsslbp", "stbp"], [], torch.device("cpu"), warmup=1, repeats=2,
                        steps_override=[2, 3])
    assert [(r.impl, r.steps) for r in results] == [("snnbench:tsslbp", 2), ("snnbench:stbp", 2),
                                                    ("snnbench:tsslbp", 3), ("snnbench:stbp", 3)]
    assert all(r.ms_per_step and r.ms_per_step > 0 and r.peak_mib is None for r in results)
    # TSSL-BP's sum pooling needs even sizes: the unpadded SLAYER network cannot be built, and says why
    slayer = run_bench(["nmnist-slayer"], ["tsslbp"], [], torch.device("cpu"), 0, 1, steps_override=[2])
    assert slayer[0].ms_per_step is None and "divisible" in slayer[0].note
    with pytest.raises(ConfigError, match="valid cases"):
        run_bench(["mnist-big"], ["tsslbp"], [], torch.device("cpu"))


def test_peer_topology_matches_the_method_network():
    layers = _peer_layers(parse_arch("15C5-P2-40C5-P2-300"), CASES["mnist"], conv=torch.nn.Conv2d,
                          linear=torch.nn.Linear, pool=torch.nn.AvgPool2d, flatten=torch.nn.Flatten,
                          neuron=torch.nn.ReLU)
    weights = sum(p.numel() for m in layers for n, p in m.named_parameters() if n == "weight")
    assert weights == 210375  # the TSSL-BP MNIST network's count (no biases there)


def test_batch_norm_peer_has_tet_topology():
    layers = _peer_layers(parse_arch("12C5-P2-64C5-P2"), CASES["nmnist-t30"], conv=torch.nn.Conv2d,
                          linear=torch.nn.Linear, pool=torch.nn.AvgPool2d, flatten=torch.nn.Flatten,
                          neuron=torch.nn.ReLU, norm=torch.nn.BatchNorm2d)
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU", "AvgPool2d", "Conv2d", "BatchNorm2d", "ReLU", "AvgPool2d",
                     "Flatten", "Linear"]


@pytest.mark.parametrize("peer", ["spikingjelly", "spikingjelly-bn", "snntorch", "ann"])
def test_peer_steps_run_when_installed(peer):
    pytest.importorskip(PEER_MODULES[peer])
    results = run_bench(["nmnist-t30"], [], [peer], torch.device("cpu"), warmup=1, repeats=1, steps_override=[3])
    assert results[0].ms_per_step is not None, results[0].note


def test_profile_lists_the_step_kernels(capsys):
    assert main(["bench", "--cases", "fmnist-mlp", "--methods", "stbp", "--profile", "5", "--device", "cpu"]) == 0
    assert "aten::" in capsys.readouterr().out


def test_cli_bench_writes_json(tmp_path, capsys):
    code = main(["bench", "--cases", "fmnist-mlp", "--methods", "tsslbp", "--peers", "none", "--warmup", "0",
                 "--repeats", "1", "--sweep-steps", "2,4", "--set", "tsslbp.backend=torch", "--out", str(tmp_path)])
    assert code == 0
    files = list(tmp_path.glob("bench-*.json"))  # bench-cpu-… here, bench-cuda-… on a GPU host
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert [r["steps"] for r in data["results"]] == [2, 4] and data["environment"]["torch"]
    assert "snnbench:tsslbp" in capsys.readouterr().out
    assert main(["bench", "--cases", "nope", "--peers", "none"]) == 2


def test_ann_floor_folds_time_into_the_batch_and_trains():
    from snnbench.bench import ann_step

    case = CASES["fmnist-mlp"]
    torch.manual_seed(0)
    step = ann_step(case, 3, torch.device("cpu"))
    model = step.model
    assert [type(m).__name__ for m in model] == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    x, labels = synthetic_batch(case, 3, torch.device("cpu"))

    def loss() -> float:  # one forward over the 3 x 100 folded samples
        with torch.no_grad():
            out = model(x.reshape(3 * 100, 1, 28, 28)).view(3, 100, -1).mean(0)
            return float(torch.nn.functional.cross_entropy(out, labels))

    before = loss()
    for _ in range(10):
        step()
    assert loss() < before - 0.01  # Adam steps on this loss: a real training step
    assert "ann" in available_peers()


def test_strsbp_cases_run_beside_stbp_on_the_same_topology():
    """ST-RSBP's MNIST networks (FC with its recurrent layer, and the spiking CNN with its recipe's ν) are
    timed by the same step as every rule; STBP builds the CNN case's topology too."""
    results = run_bench(["mnist-strsbp"], ["st-rsbp"], [], torch.device("cpu"), warmup=0, repeats=1,
                        steps_override=[12], options={"st-rsbp": {"effect_trials": 4}})
    results += run_bench(["mnist-cnn-t400"], ["st-rsbp"], [], torch.device("cpu"), warmup=0, repeats=1,
                         steps_override=[12], options={"st-rsbp": {"recipe": "cnn", "effect_trials": 4}})
    assert all(r.ms_per_step is not None for r in results), [r.note for r in results]
    stbp = run_bench(["mnist-cnn-t400"], ["stbp"], [], torch.device("cpu"), warmup=0, repeats=1, steps_override=[3])
    assert stbp[0].ms_per_step is not None, stbp[0].note


def test_graphed_column_times_capturable_steps_beside_the_eager_ones():
    """With graphs (here the emulated one: CUDA graphs need a GPU), each capturable step (a rule, the ANN
    floor) is timed a second time, replayed; a step that cannot be captured (spikingjelly's state reset)
    keeps no graphed time, and the table shows the graphed column and the graphed floor ratio."""
    from snnbench.bench_report import result_cells
    from snnbench.graphs import EmulatedGraph

    peers = ["ann"] + (["spikingjelly"] if "spikingjelly" in available_peers() else [])
    results = run_bench(["fmnist-mlp"], ["stbp"], peers, torch.device("cpu"), warmup=0, repeats=2,
                        steps_override=[2], graphed=True, graph=EmulatedGraph)
    by_impl = {r.impl: r for r in results}
    assert by_impl["snnbench:stbp"].graphed_ms > 0 and by_impl["ann"].graphed_ms > 0
    if "spikingjelly" in by_impl:
        assert by_impl["spikingjelly"].graphed_ms is None and by_impl["spikingjelly"].ms_per_step > 0
    headers, rows = result_cells(results, peers)
    assert "graphed ms" in headers and headers[-1] == "vs ann graphed"
    ratio = by_impl["snnbench:stbp"].graphed_ms / by_impl["ann"].graphed_ms
    assert rows[0][3] == "snnbench:stbp" and rows[0][-1] == f"{ratio:.2f}x"
    eager_only = run_bench(["fmnist-mlp"], ["stbp"], [], torch.device("cpu"), warmup=0, repeats=1, steps_override=[2])
    assert eager_only[0].graphed_ms is None  # on a CPU the default is eager only


def test_bench_cuda_graph_on_needs_a_gpu():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --cuda-graph on is valid here")
    assert main(["bench", "--cases", "fmnist-mlp", "--peers", "none", "--device", "cpu", "--cuda-graph", "on"]) == 2


def test_suite_cases_are_each_rules_own_network_as_the_suite_trains_it():
    """``bench --suite cpu``: one case per (rule, dataset) of the CPU track, with the rule's recipe network,
    batch and T and the dataset's input, so the bench times what the cells spend their CPU seconds on."""
    from snnbench.bench import method_step, suite_cases

    pairs = {case.name: (case, method) for case, method in suite_cases("cpu")}
    assert len(pairs) == 7 * 5
    case, method = pairs["mnist/st-rsbp"]
    assert (method, case.arch, case.batch, case.steps, case.input_shape) == (
        "st-rsbp", "400-rec400(5x5x16)", 1, 400, (1, 28, 28)) and case.spike_input
    case, _ = pairs["yin-yang/stbp"]
    assert (case.arch, case.batch, case.steps, case.input_shape, case.classes) == ("120", 20, 8, (4, 1, 1), 3)
    assert pairs["nmnist-1k/tet"][0].events and not pairs["mnist/tet"][0].spike_input
    assert all(case.flush_denormal for case, _ in pairs.values())  # the CPU-budget cells flush denormals
    # a cell's own settings (the matrix's set) travel with its case, and the bench builds with them
    assert pairs["nmnist-1k/slayer"][0].options == (("event_input", True),) and not pairs["mnist/tet"][0].options
    step = method_step("slayer", dataclasses.replace(pairs["nmnist-1k/slayer"][0], steps=4), 4, torch.device("cpu"))
    assert sum(type(m).__name__ == "EventLinear" for m in step.model.modules()) == 1


def test_a_suite_case_that_flushes_denormals_is_timed_flushed():
    from snnbench.bench import BenchCase, method_step

    case = BenchCase("yin-yang/stbp", "yin-yang", "120", 4, 8, (4, 1, 1), classes=3, flush_denormal=True)
    try:
        method_step("stbp", case, case.steps, torch.device("cpu"))
        assert (torch.tensor([1e-40]) * 1.5).item() == 0.0  # a denormal result flushed to zero
        method_step("stbp", dataclasses.replace(case, flush_denormal=False), case.steps, torch.device("cpu"))
        assert (torch.tensor([1e-40]) * 1.5).item() > 0.0
    finally:
        set_flush_denormal(False)


def test_cli_bench_suite_times_each_rule_on_its_network(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text('name = "tiny"\nseeds = [0, 1]\n[[matrix]]\nmethods = ["stbp", "hm2-bp"]\n'
                     'datasets = ["yin-yang"]\nepochs = 1\n')
    threads = torch.get_num_threads()
    try:
        code = main(["bench", "--device", "cpu", "--suite", str(suite), "--threads", "1", "--warmup", "0",
                     "--repeats", "1", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)  # the CLI sets the process's threads; later tests keep theirs
    assert code == 0
    results = json.loads(next(tmp_path.glob("bench-*.json")).read_text())["results"]
    assert [(r["case"], r["impl"], r["batch"], r["steps"]) for r in results] == [
        ("yin-yang/stbp", "snnbench:stbp", 20, 8), ("yin-yang/hm2-bp", "snnbench:hm2-bp", 1, 100)]
    assert all(r["ms_per_step"] > 0 and r["threads"] == 1 for r in results)
    assert main(["bench", "--suite", "no-such-suite"]) == 2


def test_the_table_holds_each_rule_to_the_faster_peer_library():
    """``vs best peer``: a rule's step over the faster of spikingjelly and snntorch on the same case (the
    performance goal's measure); peers and the floor get no such ratio."""
    from snnbench.bench import BenchResult
    from snnbench.bench_report import result_cells

    def row(impl, ms, case="mnist"):
        return BenchResult(case, impl, 5, 50, ms, None, "cpu", gflop=0.5, roofline=0.25)

    results = [row("snnbench:stbp", 12.0), row("spikingjelly", 10.0), row("snntorch", 8.0), row("ann", 6.0),
               row("snnbench:tet", 9.0, case="other")]
    headers, rows = result_cells(results, ["spikingjelly", "snntorch", "ann"])
    column = headers.index("vs best peer")
    assert [r[column] for r in rows] == ["1.50x", "-", "-", "-", "-"]  # 12 / min(10, 8); no peer on "other"
    assert rows[0][headers.index("vs spikingjelly")] == "1.20x" and rows[0][headers.index("vs ann")] == "2.00x"
    assert rows[0][headers.index("roofline")] == "25.0%"
    assert "vs best peer" not in result_cells(results, ["ann"])[0]


def test_a_suite_case_takes_its_input_density_from_the_cells_data(mirror, monkeypatch):
    """The event-driven products cost in proportion to the input's density, so a suite case measures it on
    the cell's own encoded data (N-MNIST-1k at 1 ms bins: well under 5 %), and the synthetic batch uses it."""
    from snnbench.bench import suite_cases, synthetic_batch

    monkeypatch.setenv("SNNBENCH_MIRROR", str(mirror))
    cases = {case.name: case for case, _ in suite_cases("cpu")}
    slayer = cases["nmnist-1k/slayer"]
    assert 0 < slayer.density < 0.02
    x, _ = synthetic_batch(slayer, slayer.steps, torch.device("cpu"))
    assert abs(x.mean().item() - slayer.density) < 0.2 * slayer.density
    assert cases["mnist/st-rsbp"].density > 0 and cases["mnist/stbp"].density == 0  # analogue input: none
