import pytest

from snnbench.arch import NAMED_ARCHS, ArchSyntaxError, LayerSpec, parse_arch
from snnbench.registry import UnknownNameError

PAPER_NETWORKS = {
    # notation, input (C, H, W), expected shapes of each layer (output layer of 10 last)
    "15C5-P2-40C5-P2-300": ((1, 28, 28), [(15, 24, 24), (15, 12, 12), (40, 8, 8), (40, 4, 4), (300,), (10,)]),
    "12C5(p1)-P2-64C5-P2": ((2, 34, 34), [(12, 32, 32), (12, 16, 16), (64, 12, 12), (64, 6, 6), (10,)]),
    "12C5-P2-64C5-P2": ((2, 34, 34), [(12, 30, 30), (12, 15, 15), (64, 11, 11), (64, 6, 6), (10,)]),
    "400-400": ((1, 28, 28), [(400,), (400,), (10,)]),
    "32C5p2-P2-64C5p2-P2-1024": ((1, 28, 28), [(32, 28, 28), (32, 14, 14), (64, 14, 14), (64, 7, 7), (1024,), (10,)]),
    "96C3-256C3-P2-384C3-P2-384C3-256C3-1024-1024": (
        (3, 32, 32), [(96, 30, 30), (256, 28, 28), (256, 14, 14), (384, 12, 12), (384, 6, 6), (384, 4, 4),
                      (256, 2, 2), (1024,), (1024,), (10,)]),
}


@pytest.mark.parametrize("spec", sorted(PAPER_NETWORKS))
def test_paper_networks_parse_with_their_shapes(spec):
    input_shape, shapes = PAPER_NETWORKS[spec]
    plan = parse_arch(spec)
    assert plan.shapes(input_shape, 10) == shapes


def test_tokens_carry_padding_stride_dropout_and_pool_kind():
    plan = parse_arch("64C3p1s2-D0.2-AP2-MP2-P2-R256s2-GAP-10")
    assert plan.layers == (
        LayerSpec("conv", channels=64, kernel=3, padding=1, stride=2), LayerSpec("dropout", p=0.2),
        LayerSpec("pool", kernel=2, stride=2, pool="avg"), LayerSpec("pool", kernel=2, stride=2, pool="max"),
        LayerSpec("pool", kernel=2, stride=2), LayerSpec("resblock", channels=256, stride=2), LayerSpec("gap"),
        LayerSpec("linear", channels=10))
    assert str(plan) == "64C3p1s2-D0.2-AP2-MP2-P2-R256s2-GAP-10"


@pytest.mark.parametrize("name", sorted(NAMED_ARCHS))
def test_named_networks_parse_and_size_their_output(name):
    input_shape = (2, 48, 48) if name == "vggsnn" else (3, 32, 32)
    shapes = parse_arch(name).shapes(input_shape, 10)
    assert shapes[-1] == (10,)
    assert parse_arch(name).name == name


def test_cnn1_is_the_padded_tsslbp_network():
    shapes = parse_arch("cnn1").shapes((3, 32, 32), 10)
    assert shapes[:-1] == [(96, 32, 32), (256, 32, 32), (256, 16, 16), (384, 16, 16), (384, 8, 8),
                           (384, 8, 8), (256, 8, 8), (1024,), (1024,)]


def test_vggsnn_flattens_to_512x3x3_on_48px_frames():
    assert parse_arch("vggsnn").shapes((2, 48, 48), 10)[-2] == (512, 3, 3)


@pytest.mark.parametrize("spec, token, position", [
    ("15C5-P2-4xC5", "'4xC5'", 9),
    ("15C5--300", "an empty token", 6),
    ("C5-300", "'C5'", 1),
    ("15C5-Q2", "'Q2'", 6),
])
def test_bad_strings_name_the_token_and_position(spec, token, position):
    with pytest.raises(ArchSyntaxError) as err:
        parse_arch(spec)
    message = str(err.value)
    assert token in message
    assert f"at character {position}" in message
    assert "expected conv" in message


def test_unknown_name_lists_the_named_networks():
    with pytest.raises(UnknownNameError) as err:
        parse_arch("resnet18")
    assert "resnet19" in str(err.value) and "cnn1" in str(err.value)


def test_feature_map_that_vanishes_is_rejected():
    with pytest.raises(ValueError, match="shrinks the feature map"):
        parse_arch("15C5-P2-40C5-P2-40C5").shapes((1, 28, 28), 10)


def test_the_walk_gives_each_layer_its_shapes_flattens_and_the_resnet_stem():
    walk = parse_arch("15C5-P2-40C5-P2-300").walk((1, 28, 28), 10)
    assert [s.spec.kind for s in walk.steps] == ["conv", "pool", "conv", "pool", "linear"]
    assert walk.steps[0].in_shape == (1, 28, 28) and walk.steps[0].out_shape == (15, 24, 24)
    assert [s.flatten_before for s in walk.steps] == [False, False, False, False, True]
    assert not any(s.stem for s in walk.steps)  # no residual blocks: no stem
    assert walk.head_shape == (300,) and not walk.flatten_head and walk.outputs == 10
    resnet = parse_arch("resnet19").walk((3, 32, 32), 100)
    assert [s.stem for s in resnet.steps] == [True] + [False] * (len(resnet.steps) - 1)
    conv_head = parse_arch("12C5-P2").walk((2, 34, 34), 10)
    assert conv_head.flatten_head and conv_head.head_features == 12 * 15 * 15


def test_a_rule_keeps_no_build_state_between_networks():
    """TET's ResNet stem came from the walk, not from state left on the rule between build and make_conv: one
    rule object builds a ResNet and then a VGG-style network, and each conv gets its own bias rule."""
    import torch

    from snnbench.config import resolve_config
    from snnbench.registry import create_dataset, create_method

    tet, cifar = create_method("tet"), create_dataset("cifar10")
    cfg = resolve_config(tet, cifar, {}, {}, check=False)
    with torch.device("meta"):
        resnet = tet.build(parse_arch("resnet19"), (3, 32, 32), 10, cfg)
        plain = tet.build(parse_arch("64C3p1-P2-128C3p1"), (3, 32, 32), 10, cfg)
    convs = [m for m in resnet.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs[0].bias is None  # the stem
    assert all(m.bias is not None for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    assert not [k for k in vars(tet) if "stem" in k]
