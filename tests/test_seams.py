"""The seams: options typed and validated when the config resolves, one dispatcher per neuron,
backends bound once and recorded, versioned records with an explicit upgrade of version 1."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, resolve_config
from snnbench.kernels import bind_backends
from snnbench.kernels.backends import numba_available
from snnbench.records import SCHEMA_VERSION, read_record, upgrade_record, validate_record
from snnbench.registry import create_dataset, create_method, list_methods

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("setting", ["lr_schedule=bogus", "optimizer=adamax", "augment=mixup", "encoding=poisson",
                                     "surrogate=foo", "reset=foo", "event_binning=foo", "loss=hinge",
                                     "backend=cupy", "epochs=0", "lr=-1", "val_fraction=1.0", "decay=2"])
def test_bad_values_exit_2_fast_without_touching_data(tmp_path, setting):
    """Every bad choice or range is refused before any data loads (the dataset here is MNIST, whose
    files the empty data folder does not hold: reaching the data would exit 1 with a data error)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "run", "--method", "stbp", "--dataset", "mnist",
                           "--data-dir", str(tmp_path / "empty"), "--mirror", str(tmp_path / "none"),
                           "--out", str(tmp_path / "runs"), "--set", setting], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "SNNBENCH_DEBUG": ""}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    key = setting.split("=")[0]
    assert key in proc.stderr and "data error" not in proc.stderr
    assert not (tmp_path / "empty").exists() and not (tmp_path / "runs").exists()
    assert time.perf_counter() - start < 30  # the interpreter start dominates; no data, no training


def test_options_are_typed_and_coerced_once():
    cfg = resolve_config(create_method("tsslbp"), create_dataset("digits"), {}, {"tau_m": 8})
    assert cfg.options.tau_m == 8.0 and isinstance(cfg.options.tau_m, float)
    opts = create_method("tsslbp").opts(cfg)
    assert opts.tau_m == 8.0 and opts.neuron().tau_m == 8.0
    with pytest.raises(ConfigError, match="valid warmup values: element, layer_switch"):
        resolve_config(create_method("tsslbp"), create_dataset("digits"), {}, {"warmup": "paper"})


def test_a_network_the_method_cannot_build_is_refused_at_resolution():
    with pytest.raises(ConfigError, match="divisible by 2"):
        resolve_config(create_method("tsslbp"), create_dataset("digits"), {"arch": "4C4-P2-16"}, {})


def test_every_method_builds_its_recipes_on_the_meta_device():
    for name in list_methods():
        method = create_method(name)
        for dataset in ("digits", "mnist", "nmnist"):
            resolve_config(method, create_dataset(dataset))  # resolve includes the meta-device build


def test_no_import_cycles_between_kernel_modules():
    graph: dict[str, set[str]] = {}
    for path in (ROOT / "snnbench" / "kernels").glob("*.py"):
        imports = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                imports.add(node.module)
        graph[path.stem] = imports - {"__init__"}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
                   for nxt in graph.get(start, ()))

    assert not [m for m in graph if m != "__init__" and reaches(m, m, set())]
    assert "lif_triton" not in graph["lif"] and "srm_triton" not in graph["srm"]


def test_backends_are_bound_once_for_the_device():
    cfg = resolve_config(create_method("stbp"), create_dataset("digits"))
    model = create_method("stbp").build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    assert {m.backend for m in model.modules() if hasattr(m, "backend")} == {"auto"}
    cpu = "numba" if numba_available() else "torch"  # the LIF's compiled CPU scan where numba is installed
    assert bind_backends(model, torch.device("cpu")) == [cpu]
    assert {m.backend for m in model.modules() if hasattr(m, "backend")} == {cpu}


@pytest.mark.parametrize("name", ["stbp", "stbp-tdbn", "tet", "tsslbp", "slayer", "st-rsbp", "hm2-bp"])
def test_every_rules_neurons_share_one_contract(name):
    """All seven rules' neuron modules are NeuronLayers: frozen parameters and a backend bound at
    construction (ST-RSBP's and SLAYER's too); BatchNorm is the one other module with a backend."""
    from snnbench.methods.layers import BatchNorm, NeuronLayer

    method = create_method(name)
    for dataset, arch in (("yin-yang", None), ("mnist", "12C5-P2-20")):
        cfg = resolve_config(method, create_dataset(dataset), {"arch": arch} if arch else {}, check=False)
        with torch.device("meta"):
            model = method.build(parse_arch(cfg.arch), (4, 1, 1) if dataset == "yin-yang" else (1, 28, 28),
                                 3 if dataset == "yin-yang" else 10, cfg)
        neurons = [m for m in model.modules() if isinstance(m, NeuronLayer)]
        assert neurons, f"{name} on {dataset}: no NeuronLayer"
        assert all(hasattr(n.params, "__dataclass_fields__") and n.params.__dataclass_params__.frozen for n in neurons)
        others = [type(m).__name__ for m in model.modules() if isinstance(getattr(m, "backend", None), str)
                  and not isinstance(m, (NeuronLayer, BatchNorm))]
        assert not others, f"{name}: modules with a backend outside the neuron contract: {others}"


def test_an_st_rsbp_layer_binds_its_constants_once():
    from snnbench.kernels.strsbp import THRESHOLD_EPS
    from snnbench.methods.st_rsbp import STRSBPConv, STRSBPLayer, STRSBPPool

    layer = STRSBPLayer(4, 3, "spiking", threshold=1.5, init_w=1.0, tau_m=64, tau_s=8, t_ref=2)
    params = layer.params
    layer(torch.zeros(5, 1, 4))
    assert layer.params is params and (params.threshold, params.eps) == (1.5, THRESHOLD_EPS)
    layer.threshold = 2.0  # a per-layer threshold set at build time replaces the parameters
    assert layer.params.threshold == 2.0 and layer.params.tau_m == 64.0
    conv = STRSBPConv(1, 2, 3, 1, (2, 4, 4), threshold=1.0, init_w=1.0, tau_m=64, tau_s=8, t_ref=2)
    pool = STRSBPPool(2, (1, 2, 2), threshold=1.0, tau_m=64, tau_s=8, t_ref=2)
    assert conv.params.eps == 0.0 and pool.params.eps == THRESHOLD_EPS  # ConvSpiking's exact test
    with pytest.raises(ValueError, match="threshold"):
        STRSBPLayer(4, 3, "spiking", threshold=-1.0, init_w=1.0, tau_m=64, tau_s=8, t_ref=2)  # refused at build


def test_committed_older_records_upgrade_and_validate():
    paths = sorted((ROOT / "leaderboards" / "runs").glob("*.json"))
    assert paths
    for path in paths:
        raw = json.loads(path.read_text())
        record = read_record(path)  # validated: it would refuse the file otherwise
        assert record.schema_version == SCHEMA_VERSION
        assert record.as_dict() == raw, path  # typed, nothing lost or changed
        if raw["schema_version"] == 1:
            assert not Path(record.checkpoint).is_absolute()
            tests = [row["test_acc"] for row in raw["curves"]]
            assert record.results.max_test_acc == max(tests)
            if raw["method"] == "tsslbp":
                scale = raw["config"]["options"]["weight_scale"]
                assert record.config["options"]["weight_scale_conv"] == scale
                assert record["config"]["options"]["weight_scale_dense"] == scale
        if raw["schema_version"] < 3:
            assert record["command"] is None or record["command"] == raw.get("command")
            if raw["method"] in ("stbp", "tet"):  # the LIF's schema-2 reset names become the one vocabulary
                reset = {"hard": "zero", "soft": "subtract"}[raw["config"]["options"]["reset"]]
                assert record["config"]["options"]["reset"] == reset



def test_a_record_reads_typed_and_a_broken_one_is_refused(tmp_path):
    """``read_record`` gives a :class:`Record` whose parts are typed; a file in the current schema that breaks
    it (a field the schema lacks, a value of the wrong type) is refused with the reason, before any reader
    indexes it."""
    from snnbench.records import Cost, Curve, InvalidRecordError, Record, Results

    source = sorted((ROOT / "leaderboards" / "runs").glob("*.json"))[0]
    record = read_record(source)
    assert isinstance(record, Record) and isinstance(record.results, Results) and isinstance(record.cost, Cost)
    assert record.curves and all(isinstance(row, Curve) for row in record.curves)
    raw = json.loads(source.read_text())
    for change, reason in ((lambda r: r.update(surprise=1), "unknown field surprise"),
                           (lambda r: r["results"].update(test_acc_last="high"),
                            "field results.test_acc_last has type str"),
                           (lambda r: r["curves"][0].pop("lr"), "missing field curves[0].lr")):
        broken = json.loads(json.dumps(raw))
        change(broken)
        path = tmp_path / "r.json"
        path.write_text(json.dumps(broken))
        with pytest.raises(InvalidRecordError, match=reason.replace("[", r"\[").replace("]", r"\]")):
            read_record(path)

def test_an_upgraded_lif_record_groups_with_a_fresh_run_of_the_same_config():
    from snnbench.records.grouping import grouping

    cfg = resolve_config(create_method("stbp"), create_dataset("digits"))
    old = {"schema_version": 2, "method": "stbp", "config": json.loads(json.dumps(cfg.as_dict()))}
    old["config"]["options"]["reset"] = "hard"
    upgraded = upgrade_record(old)
    assert upgraded["schema_version"] == SCHEMA_VERSION and upgraded["command"] is None
    assert upgraded["setting_hash"] == grouping("stbp", "digits", cfg.as_dict())["setting_hash"] == cfg.setting_hash()


def test_the_record_schema_is_derived_from_the_typed_record():
    import dataclasses

    from snnbench.records import SCHEMA, Record, Results

    assert list(SCHEMA) == [f.name for f in dataclasses.fields(Record)]
    assert SCHEMA["command"] == (str, type(None)) and SCHEMA["steps"] == (int,)
    good = {f.name: None for f in dataclasses.fields(Results)}
    record = {"results": dict(good, max_test_acc="99")}
    problems = validate_record(record)
    assert "field results.max_test_acc has type str" in problems  # nested parts are checked from their types
    assert "missing field command" in problems
    assert "field curves[0].epoch is a bool" in validate_record({"curves": [{"epoch": True}]})


def test_a_typo_in_a_recipe_fails_when_the_rule_is_defined():
    """Recipes are typed when the rule's class is made: an unknown field, an unknown option or a value out of
    range is refused at import, naming the rule, the recipe and the key, not when someone first runs it."""
    from snnbench.methods.stbp import STBP

    for recipe, needle in (({"arch": "100", "epohcs": 3}, "epohcs"), ({"options": {"treshold": 1.0}}, "treshold"),
                           ({"lr": -1.0}, "lr=-1.0"), ({"optimizer": "adamm"}, "adamm")):
        with pytest.raises(TypeError, match=f"method my-stbp: recipe 'mnist' is not a valid config: .*{needle}"):
            type("MySTBP", (STBP,), {"name": "my-stbp", "recipes": {"mnist": recipe}})
    type("MySTBP", (STBP,), {"name": "my-stbp", "recipes": {"mnist": {"arch": "100", "epochs": 3}}})  # valid
