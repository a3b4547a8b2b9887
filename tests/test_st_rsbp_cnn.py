"""ST-RSBP's spiking CNN path (spec §8: ``ConvSpiking``, ``PoolingSpiking``) against a float64 NumPy oracle
written from the reference's CUDA loops (``g_ConvSpiking_feedforward``, ``g_ConvSpiking_sideEffect``,
``g_ConvSpiking_backpropagation``, ``g_ConvSpiking_wgrad``, ``g_PoolingSpiking_backpropagation_no_atomic``),
independent of the port's unfold/einsum formulation; then the network, its options and learning."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import resolve_config
from snnbench.methods import st_rsbp as sr
from snnbench.registry import create_dataset, create_method

TAU_M, TAU_S, T_REF = 20.0, 4.0, 2


# ---- the oracle ----------------------------------------------------------------------------------------
def oracle_analytic(pre: np.ndarray, post: np.ndarray) -> float:
    """``d_Spiking_accumulate_effect`` for one pair of 0/1 trains (spec §2.4), written as the loops."""
    n_pre, n_post = int(pre.sum()), int(post.sum())
    if n_post == 0:
        return 0.1 if n_pre else 0.0
    acc, t_last = 0.0, 1
    pre_times = np.nonzero(pre)[0]
    for t_post in np.nonzero(post)[0]:
        for t_pre in pre_times:
            if not max(1, int(t_post - 4 * TAU_M)) <= t_pre < t_post or t_pre + T_REF > t_post:
                continue
            s, u = t_post - t_last, t_post - (t_pre + T_REF)
            acc += (np.exp(-max(u - s, 0) / TAU_S) / (1 - TAU_S / TAU_M)
                    * (np.exp(-min(s, u) / TAU_M) - np.exp(-min(s, u) / TAU_S)))
        t_last = t_post + T_REF
    return acc


def oracle_lif(drive: np.ndarray, threshold: float, eps: float) -> np.ndarray:
    """The feed-forward loop for drive [T, N] (float64): spikes [T, N]."""
    steps, n = drive.shape
    v, ep, refr = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    s = np.zeros((steps, n))
    for t in range(1, steps):
        v -= v / TAU_M
        ep -= ep / TAU_S
        ep += drive[t - 1]
        v += ep / TAU_S
        clamp = refr > 0
        v[clamp] = 0.0
        refr[clamp] -= 1
        fired = v > threshold - eps
        s[t] = fired
        refr[fired] = T_REF
        v[fired] = 0.0
    return s


def oracle_conv_response(x: np.ndarray, w: np.ndarray, padding: int) -> np.ndarray:
    """``d_ConvSpiking_accumulate_spikes`` at every step and position: x [T, C, H, W] → [T, O, H', W']."""
    steps, channels, height, width = x.shape
    out_ch, _, k, _ = w.shape
    oh, ow = height + 2 * padding - k + 1, width + 2 * padding - k + 1
    out = np.zeros((steps, out_ch, oh, ow))
    for o in range(out_ch):
        for yy in range(oh):
            for xx in range(ow):
                for c in range(channels):
                    for i in range(k):
                        for j in range(k):
                            a, b = yy + i - padding, xx + j - padding
                            if 0 <= a < height and 0 <= b < width:
                                out[:, o, yy, xx] += x[:, c, a, b] * w[o, c, i, j]
    return out


def oracle_conv_backward(x, spikes, delta, w, nu, padding, coeffs, first, state=None, mode="strsbp", zero=0.5):
    """One sample: (wgrad [O, C, k, k], δ below [C, H, W] or None, the side state after it). ``mode``
    first_order is mm-bp-snn's conv (``g_ConvSpiking_wgrad_sideEffect``, ``g_ConvSpiking_wgrad``)."""
    _, channels, height, width = x.shape
    out_ch, _, k, _ = w.shape
    _, _, oh, ow = spikes.shape
    cur = delta / nu
    i_cnt, o_cnt = x.sum(0), spikes.sum(0)

    def pairs(o, yy, xx):
        for c in range(channels):
            for i in range(k):
                for j in range(k):
                    a, b = yy + i - padding, xx + j - padding
                    if 0 <= a < height and 0 <= b < width:
                        yield c, i, j, a, b

    side = np.zeros((out_ch, oh, ow))
    side1 = np.zeros((out_ch, oh, ow))  # HM2-BP's first-order side effect
    if mode == "first_order":
        for o in range(out_ch):
            for yy in range(oh):
                for xx in range(ow):
                    for c, i, j, a, b in pairs(o, yy, xx):
                        e = oracle_analytic(x[:, c, a, b], spikes[:, o, yy, xx])
                        rho = 0.5 if o_cnt[o, yy, xx] == 0 else e / o_cnt[o, yy, xx]
                        side1[o, yy, xx] += w[o, c, i, j] * rho / nu
    if not first and mode == "strsbp":
        for o in range(out_ch):
            for yy in range(oh):
                for xx in range(ow):
                    if o_cnt[o, yy, xx] == 0:
                        continue
                    total = 0.0
                    for c, i, j, a, b in pairs(o, yy, xx):
                        row = coeffs[int(min(max(i_cnt[c, a, b], 1), len(coeffs))) - 1]
                        q = min(max(o_cnt[o, yy, xx], 1), len(coeffs))
                        total += w[o, c, i, j] * (4 * row[0] * q ** 3 + 3 * row[1] * q ** 2 + 2 * row[2] * q + row[3])
                    side[o, yy, xx] = total / nu
        if state is not None:  # int s = sum/vth; side_effect += s
            state = state + np.trunc(side)
            side = state
    wgrad = np.zeros_like(w)
    below = np.zeros((channels, height, width))
    for o in range(out_ch):
        for yy in range(oh):
            for xx in range(ow):
                for c, i, j, a, b in pairs(o, yy, xx):
                    e = oracle_analytic(x[:, c, a, b], spikes[:, o, yy, xx])
                    wgrad[o, c, i, j] += e * cur[o, yy, xx] * (1 + side1[o, yy, xx]) / (1 - side[o, yy, xx])
                    empty = i_cnt[c, a, b] == 0 or o_cnt[o, yy, xx] == 0
                    ratio = zero if empty else e / i_cnt[c, a, b]
                    below[c, a, b] += cur[o, yy, xx] * w[o, c, i, j] * ratio / (1 - side[o, yy, xx])
    return wgrad, (None if first else below), state


def oracle_pool_backward(x, spikes, delta, p, zero=0.0):
    """One sample: δ below [C, H, W] for a p×p pool (size = skip)."""
    channels, oh, ow = spikes.shape[1:]
    i_cnt, o_cnt = x.sum(0), spikes.sum(0)
    below = np.zeros(x.shape[1:])
    for c in range(channels):
        for yy in range(oh):
            for xx in range(ow):
                for dy in range(p):
                    for dx in range(p):
                        a, b = yy * p + dy, xx * p + dx
                        e = oracle_analytic(x[:, c, a, b], spikes[:, c, yy, xx])
                        empty = i_cnt[c, a, b] == 0 or o_cnt[c, yy, xx] == 0
                        below[c, a, b] = delta[c, yy, xx] / (p * p) * (zero if empty else e / i_cnt[c, a, b])
    return below


# ---- forward -------------------------------------------------------------------------------------------
def _conv(in_ch: int, out_ch: int, k: int, padding: int, size: int, threshold: float, seed: int) -> sr.STRSBPConv:
    torch.manual_seed(seed)
    out = size + 2 * padding - k + 1
    layer = sr.STRSBPConv(in_ch, out_ch, k, padding, (out_ch, out, out), threshold=threshold, init_w=1.0,
                          tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF, backend="torch")
    with torch.no_grad():  # multiples of 1/16: the drive is exact in float32 and float64
        layer.synapse.weight.copy_(torch.round(layer.synapse.weight * 16) / 16)
    return layer


def _input(steps: int, batch: int, shape: tuple[int, ...], rate: float, seed: int) -> torch.Tensor:
    x = (torch.rand(steps, batch, *shape, generator=torch.Generator().manual_seed(seed)) < rate).float()
    x[0] = 0
    return x


@pytest.mark.parametrize("padding", [0, 1])
def test_conv_and_pool_forward_match_the_reference_loops(padding):
    conv = _conv(2, 3, 3, padding, 6, 0.9, seed=1)
    x = _input(80, 2, (2, 6, 6), 0.3, seed=2)
    spikes = conv(x)
    pool = sr.STRSBPPool(2, (3, spikes.shape[-2] // 2, spikes.shape[-1] // 2), threshold=1.5, tau_m=TAU_M,
                         tau_s=TAU_S, t_ref=T_REF, backend="torch")
    pooled = pool(spikes)
    w = conv.synapse.weight.detach().double().numpy()
    for b in range(2):
        response = oracle_conv_response(x[:, b].double().numpy(), w, padding)
        expected = oracle_lif(response.reshape(80, -1), 0.9, eps=0.0).reshape(response.shape)
        assert np.array_equal(spikes[:, b].numpy(), expected)  # ConvSpiking tests v > ν exactly
        sums = spikes[:, b].numpy().reshape(80, 3, spikes.shape[-2] // 2, 2, spikes.shape[-1] // 2, 2).sum((3, 5))
        expected_pool = oracle_lif(sums.reshape(80, -1), 1.5, eps=1e-6).reshape(sums.shape)
        assert np.array_equal(pooled[:, b].numpy(), expected_pool)
    assert spikes.sum() > 50 and pooled.sum() > 10


def test_conv_threshold_is_exact_and_pool_keeps_the_margin():
    """A drive that lands v exactly on ν: the conv neuron stays silent, the pool neuron (ν − 1e-6) fires."""
    steps = 6
    drive = torch.zeros(steps, 1, 1)
    drive[0] = 4.0  # t = 1: ep = 4, v = ep/τs = 1.0 with τs = 4
    conv_like = sr.STRSBPConv(1, 1, 1, 0, (1, 1, 1), threshold=1.0, init_w=1.0, tau_m=TAU_M, tau_s=TAU_S,
                              t_ref=T_REF, backend="torch")._scan(drive)
    pool_like = sr.STRSBPPool(2, (1, 1, 1), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF,
                              backend="torch")._scan(drive)
    assert conv_like[1].item() == 0 and pool_like[1].item() == 1


# ---- backward ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first, padding, quirks, mode", [
    (True, 0, False, "strsbp"), (False, 0, False, "strsbp"), (False, 1, False, "strsbp"), (False, 0, True, "strsbp"),
    (True, 0, False, "first_order"), (False, 1, False, "first_order")])
def test_conv_backward_matches_the_reference_loops(first, padding, quirks, mode):
    zero = 0.5 if mode == "strsbp" else 1.0  # the codes' ratio at a zero count
    o = sr.STRSBPOptions(tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF, lambda_reg=0.0, cnn_reference_quirks=quirks,
                         dadw=mode, zero_count_ratio=zero)
    conv = _conv(2, 3, 3, padding, 5, 0.8, seed=3)
    x = _input(60, 2, (2, 5, 5), 0.3, seed=4)
    spikes = conv(x)
    delta = torch.randn(2, *spikes.shape[2:], generator=torch.Generator().manual_seed(5)) * 10
    # slopes large enough that |side| passes 1 (the quirk truncates smaller ones to 0) while 1 − side stays away
    # from 0
    coeffs = torch.tensor(np.random.default_rng(0).normal(0, [1e-6, 1e-4, 1e-3, 0.05, 0.2], (12, 5))) * 8
    if quirks:
        conv.side_state.fill_(-5.0)  # as if earlier samples had drifted it
    grads, below = sr.conv_gradients(conv, x, spikes, delta, o, coeffs, need_below=not first)
    w = conv.synapse.weight.detach().double().numpy()
    state = np.full(spikes.shape[2:], -5.0) if quirks else None
    wgrad = np.zeros_like(w)
    for b in range(2):
        wg, bl, state = oracle_conv_backward(x[:, b].double().numpy(), spikes[:, b].double().numpy(),
                                             delta[b].double().numpy(), w, 0.8, padding, coeffs.numpy(), first,
                                             state, mode, zero)
        wgrad += wg / 2
        if first:
            assert below is None
        else:
            assert np.allclose(below[b].numpy(), bl, rtol=1e-4, atol=1e-5)
    assert np.allclose(grads["synapse.weight"].numpy(), wgrad, rtol=1e-4, atol=1e-5)
    assert np.abs(wgrad).sum() > 0
    if quirks:  # the state carries both samples' truncated side effects into the next batch
        assert np.array_equal(conv.side_state.numpy(), state.astype(np.float32))
        assert not np.array_equal(state, np.full_like(state, -5.0))
    else:
        assert not conv.side_state.any()


@pytest.mark.parametrize("zero", [0.0, 1.0])  # the ST-RSBP code's ratio at a zero count, and HM2-BP's
def test_pool_backward_matches_the_reference_loops(zero):
    conv = _conv(1, 2, 3, 0, 10, 0.7, seed=6)
    x = conv(_input(70, 2, (1, 10, 10), 0.35, seed=7))  # 8x8 maps
    pool = sr.STRSBPPool(2, (2, 4, 4), threshold=1.2, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF, backend="torch")
    spikes = pool(x)
    delta = torch.randn(2, 2, 4, 4, generator=torch.Generator().manual_seed(8)) * 5
    below = sr.pool_gradients(pool, x, spikes, delta, zero)
    for b in range(2):
        expected = oracle_pool_backward(x[:, b].double().numpy(), spikes[:, b].double().numpy(),
                                        delta[b].double().numpy(), 2, zero)
        assert np.allclose(below[b].numpy(), expected, rtol=1e-4, atol=1e-6)
    assert below.abs().sum() > 0


# ---- the network, its options and learning -------------------------------------------------------------
def _cfg(method: str = "st-rsbp", **sets):
    return resolve_config(create_method(method), create_dataset("mnist"), {}, {"recipe": "cnn", **sets})


@pytest.mark.parametrize("method, thresholds, conv_w", [("st-rsbp", [5, 2, 10, 4, 10, 5], 1.0),
                                                        ("hm2-bp", [5, 2, 12, 4, 10, 10], 0.5)])
def test_the_cnn_recipes_build_the_reference_networks(method, thresholds, conv_w):
    cfg = _cfg(method)
    assert cfg.arch == "15C5-P2-40C5-P2-300" and cfg.options.lambda_reg == 0.0
    assert cfg.options.cnn_reference_quirks is (method == "st-rsbp")
    torch.manual_seed(0)
    net = create_method(method).build(parse_arch(cfg.arch), (1, 28, 28), 10, cfg)
    kinds = [(type(layer).__name__, layer.threshold) for layer in net.spiking_layers()]
    assert kinds == list(zip(["STRSBPConv", "STRSBPPool", "STRSBPConv", "STRSBPPool", "STRSBPLayer", "STRSBPLayer"],
                             thresholds, strict=True))
    conv_max = net.layers[0].synapse.weight.abs().max()
    assert conv_w * 0.9 < conv_max <= conv_w and net.layers[5].synapse.weight.abs().max() > 0.9


def test_network_gradients_reach_every_conv_layer():
    cfg = resolve_config(create_method("st-rsbp"), create_dataset("digits"), {},
                         {"arch": "4C3-P2-20", "steps": 90, "thresholds": "1.5,1.0,1.5", "threshold_output": 1.5,
                          "lambda_reg": 0.0})
    method = create_method("st-rsbp")
    net = method.build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    net.train()
    net(_input(90, 3, (1, 8, 8), 0.4, seed=9))
    coeffs = torch.tensor(np.random.default_rng(1).normal(0, [1e-6, 1e-4, 1e-3, 0.05, 0.2], (10, 5)))
    grads, cost = sr.network_gradients(net, torch.tensor([1, 4, 7]), method.opts(cfg), coeffs)
    assert set(grads) == {"layers.0.synapse.weight", "layers.3.synapse.weight", "layers.4.synapse.weight"}
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads.values()) and cost.shape == (3,)


# ---- the CNN config's input distortion -----------------------------------------------------------------
def test_elastic_distortion_without_displacement_is_the_identity():
    from snnbench.data import elastic_distort

    x = torch.rand(3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    assert torch.equal(elastic_distort(x, 0.0, 0.0, 0.0, torch.Generator().manual_seed(1)), x)


def test_elastic_rotation_moves_a_ramp_as_the_reference_formula():
    """A ramp f(row, col) = row is interpolated exactly, so the output is the source row the code computes:
    row − (xx − xx·cos θ + yy·sin θ), θ = R·r₁ (r₁ the sample's first draw after the fields)."""
    from snnbench.data import elastic_distort

    size, rotation = 28, 12.0
    ramp = torch.arange(size, dtype=torch.float32).view(1, 1, -1, 1).expand(2, 1, size, size) / size
    out = elastic_distort(ramp.clone(), 0.0, rotation, 0.0, torch.Generator().manual_seed(3))
    generator = torch.Generator().manual_seed(3)
    torch.rand(2, 2, size, size, generator=generator)
    r1 = (torch.rand(2, 2, generator=generator) * 2 - 1)[:, 0]
    theta = rotation * r1 * math.pi / 180
    rows = torch.arange(size, dtype=torch.float32).view(-1, 1)
    cols = torch.arange(size, dtype=torch.float32).view(1, -1)
    xx, yy = rows - size // 2, cols - size // 2
    for b in range(2):
        source = rows - (xx - xx * torch.cos(theta[b]) + yy * torch.sin(theta[b]))
        inner = slice(6, 22)
        assert torch.allclose(out[b, 0, inner, inner], (source / size)[inner, inner], atol=1e-5)
    assert (theta.abs() > 0.01).all()


def test_elastic_augment_is_a_valid_config_value_and_changes_training_inputs():
    from snnbench.data import augment

    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * (torch.rand(4, 1, 28, 28) > 0.7)
    out = augment(x, "elastic:12,12,3.4", torch.Generator().manual_seed(1), time_axis=False)
    # (values may leave [0, 1] by a little: the code's C-truncated coordinates extrapolate in (−1, 0))
    assert out.shape == x.shape and not torch.equal(out, x)
    assert abs(float(out.sum() / x.sum()) - 1) < 0.3  # moved, not erased
    with pytest.raises(Exception, match="elastic"):
        resolve_config(create_method("st-rsbp"), create_dataset("mnist"), {}, {"augment": "elastic:12"})


@pytest.mark.parametrize("rate, tau_m, t_ref", [(0.05, 20.0, 2), (0.3, 20.0, 2), (0.15, 6.5, 0), (0.5, 20.0, 1)])
def test_analytic_spsp_scan_matches_the_loops_on_random_trains(rate, tau_m, t_ref, monkeypatch):
    """The event scan of :func:`analytic_weights` against §2.4's double loop, windows cut by 4τm included."""
    monkeypatch.setattr(sys.modules[__name__], "TAU_M", tau_m)
    monkeypatch.setattr(sys.modules[__name__], "T_REF", t_ref)
    generator = torch.Generator().manual_seed(11)
    pre = (torch.rand(240, 2, 5, generator=generator) < rate).float()
    post = (torch.rand(240, 2, 4, generator=generator) < rate / 2).float()
    post[:, 0, 0] = 0
    post[:, 1, 1] = 0
    post[200, 1, 1] = 1  # one late spike: the window starts at ⌊200 − 4τm⌋
    e = sr.analytic_spsp(pre, post, tau_m=tau_m, tau_s=TAU_S, t_ref=t_ref)
    expected = np.array([[[oracle_analytic(pre[:, b, m].numpy(), post[:, b, n].numpy()) for m in range(5)]
                          for n in range(4)] for b in range(2)])
    assert np.allclose(e.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert e[0, 0].eq(0.1).all() and (expected > 0.2).any()
