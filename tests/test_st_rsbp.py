"""ST-RSBP / HM2-BP against the spec's hand-computed cases (§13) and independent NumPy oracles: the
functional core (forward, S-PSPs), the effect polynomial generator against the MATLAB scripts written
out, the reservoir topology with glibc rand(), the backward chain (§3, §4, §6) against a float64 oracle,
bad input, and learning on real data."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from snnbench.arch import parse_arch
from snnbench.config import ConfigError, resolve_config
from snnbench.methods import st_rsbp as sr
from snnbench.methods.st_rsbp import spiking_forward, spsp
from snnbench.registry import create_dataset, create_method

TAU_M, TAU_S, T_REF, T = 64.0, 8.0, 2, 400


# ---- the oracle: the reference's loops, written out in float64 NumPy (independent of the port) ----
def oracle_spsp(pre: np.ndarray, post: np.ndarray, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF) -> float:
    """``d_Spiking_accumulate_effect_step`` for one (pre, post) pair of 0/1 trains."""
    if pre.sum() == 0 or post.sum() == 0:
        return 0.0
    e = p = q = 0.0
    refractory = 0
    last = int(np.nonzero(post)[0][-1])
    for t in range(len(post)):
        p -= p / tau_s
        if t >= 1 and pre[t - 1]:
            p += 1.0
        q -= q / tau_m
        q += p / tau_s
        if refractory != 0:
            q = 0.0
            refractory -= 1
        if post[t]:
            e += q
            refractory = t_ref
            q = 0.0
        if t >= last:
            break
    return e


def oracle_forward(x: np.ndarray, w: np.ndarray, threshold: float, rec: np.ndarray | None = None,
                   tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF) -> tuple[np.ndarray, np.ndarray]:
    """``g_Spiking_feedforward`` / ``g_Reservoir_feedforward`` for one sample: spikes [T, N] and the
    membrane after the refractory clamp, before the spike test [T, N]."""
    steps, n = x.shape[0], w.shape[0]
    v, ep, refr = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
    s, mem = np.zeros((steps, n)), np.zeros((steps, n))
    for t in range(steps):
        v -= v / tau_m
        ep -= ep / tau_s
        if t == 0:
            continue
        r = w @ x[t - 1]
        if rec is not None:
            for o in range(n):
                r[o] += sum(rec[o, i] for i in range(n) if s[t - 1, i])
        ep += r
        v += ep / tau_s
        for o in range(n):
            if refr[o] > 0:
                v[o] = 0.0
                refr[o] -= 1
        mem[t] = v
        fired = v > threshold - 1e-6
        s[t] = fired
        refr[fired] = t_ref
        v[fired] = 0.0
    return s, mem


def _train(steps: int, *times: int) -> torch.Tensor:
    out = torch.zeros(steps, 1, 1)
    out[list(times), 0, 0] = 1.0
    return out


def _e(pre_times: tuple[int, ...], post_times: tuple[int, ...], steps: int = T) -> float:
    return float(spsp(_train(steps, *pre_times), _train(steps, *post_times), tau_m=TAU_M, tau_s=TAU_S,
                      t_ref=T_REF)[0, 0, 0])


@pytest.mark.parametrize("n, expected", [(1, 0.125), (2, 0.232421875), (10, 0.6756746), (50, 0.5185807),
                                         (200, 0.0489900)])
def test_spsp_closed_forms(n, expected):
    a, b = 1 - 1 / TAU_M, 1 - 1 / TAU_S
    assert _e((0,), (n,)) == pytest.approx(expected, abs=1e-6)
    assert _e((0,), (n,)) == pytest.approx((a ** n - b ** n) / (TAU_S * (a - b)), abs=1e-6)


def test_spsp_delay_and_refractory_cases():
    assert _e((9,), (10,)) == pytest.approx(0.125, abs=1e-7)  # pre at t_post - 1: 1/τs
    assert _e((10,), (10,)) == 0.0  # one-step delay: a pre spike cannot affect a post spike in its own step
    assert _e((0,), (10, 13)) == pytest.approx(0.7008518, abs=1e-6)  # steps 11, 12 refractory
    assert _e((), (10,)) == 0.0 and _e((3,), ()) == 0.0


def test_spsp_gemm_equals_the_reference_recursion_on_random_trains():
    gen = torch.Generator().manual_seed(0)
    pre = (torch.rand(120, 3, 7, generator=gen) < 0.1).float()
    post = (torch.rand(120, 3, 5, generator=gen) < 0.15).float()  # includes spikes inside refractory windows
    e = spsp(pre, post, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF)
    assert e.shape == (3, 5, 7)
    for b in range(3):
        for i in range(5):
            for j in range(7):
                expected = oracle_spsp(pre[:, b, j].numpy(), post[:, b, i].numpy())
                assert float(e[b, i, j]) == pytest.approx(expected, rel=1e-6, abs=1e-7), (b, i, j)


def _layer(seed: int, n_in: int, n: int, steps: int, rate: float, scale: float):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, 2, n_in, generator=gen) < rate).float()
    w = (torch.rand(n, n_in, generator=gen) * 2 - 1) * scale
    return x, w


def test_forward_matches_the_oracle_spike_for_spike():
    x, w = _layer(1, 30, 12, 200, 0.15, 2.0)
    rec = torch.zeros(12, 12)
    rec[torch.rand(12, 12, generator=torch.Generator().manual_seed(2)) < 0.3] = 1.5
    lateral = -(torch.ones(12, 12) - torch.eye(12))  # the output layer's inhibition, strength 1
    for recurrent in (None, rec, lateral):
        ours = spiking_forward(x, w, threshold=5.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF, recurrent=recurrent)
        assert set(ours.unique().tolist()) <= {0.0, 1.0} and ours.sum() > 10
        for b in range(2):
            rec_np = recurrent.double().numpy() if recurrent is not None else None
            spikes, _ = oracle_forward(x[:, b].double().numpy(), w.double().numpy(), 5.0, rec_np)
            assert np.array_equal(ours[:, b].numpy(), spikes)


def test_forward_details():
    # one input spike at t - 1 with w > ν·τs fires the neuron at t: v = w/τs after one step
    x = _train(20, 4)
    assert spiking_forward(x, torch.tensor([[8.5]]), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S,
                           t_ref=T_REF)[:, 0, 0].nonzero().flatten().tolist()[0] == 5
    # no spike at t = 0 whatever the drive; spikes at least T_REF + 1 apart; at most 133 in 400 steps
    drive = torch.ones(T, 1, 1)
    out = spiking_forward(drive, torch.tensor([[1000.0]]), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF)
    times = out[:, 0, 0].nonzero().flatten()
    assert out[0].sum() == 0 and int(out.sum()) == 133 and int(torch.diff(times).min()) == T_REF + 1
    # ep carries over resets: one strong input spike makes several output spikes
    single = spiking_forward(_train(60, 0), torch.tensor([[200.0]]), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S,
                             t_ref=T_REF)
    assert single.sum() > 3


def test_t_psp_identity_with_recurrence_and_lateral_inhibition():
    """Σ_{spikes of i} v_i(t) = Σ_j w_ij e_ij + Σ_p w^rec_ip e_ip (spec §2.3)."""
    x, w = _layer(3, 40, 10, T, 0.12, 1.5)
    rec = torch.zeros(10, 10)
    mask = torch.rand(10, 10, generator=torch.Generator().manual_seed(4)) < 0.3
    rec[mask] = torch.rand(int(mask.sum()), generator=torch.Generator().manual_seed(5)) * 2 - 1
    lateral = -(torch.ones(10, 10) - torch.eye(10))
    for recurrent in (None, rec, lateral):
        spikes = spiking_forward(x, w, threshold=4.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF, recurrent=recurrent)
        e_in = spsp(x, spikes, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF).double()
        a = torch.einsum("nm,bnm->bn", w.double(), e_in)
        if recurrent is not None:
            e_rec = spsp(spikes, spikes, tau_m=TAU_M, tau_s=TAU_S, t_ref=T_REF).double()
            a = a + torch.einsum("nm,bnm->bn", recurrent.double(), e_rec)
        for b in range(2):
            rec_np = recurrent.double().numpy() if recurrent is not None else None
            s, mem = oracle_forward(x[:, b].double().numpy(), w.double().numpy(), 4.0, rec_np)
            assert np.array_equal(spikes[:, b].numpy(), s)
            total = (mem * s).sum(0)
            assert s.sum() > 20
            np.testing.assert_allclose(a[b].numpy(), total, atol=1e-4 * max(1.0, float(np.abs(total).max())))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="time-major"):
        spiking_forward(torch.zeros(3, 4), torch.zeros(2, 4), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=2)
    with pytest.raises(ValueError, match="weight must be"):
        spiking_forward(torch.zeros(3, 1, 4), torch.zeros(2, 5), threshold=1.0, tau_m=TAU_M, tau_s=TAU_S, t_ref=2)
    with pytest.raises(ValueError, match="same T and B"):
        spsp(torch.zeros(3, 1, 4), torch.zeros(4, 1, 2), tau_m=TAU_M, tau_s=TAU_S, t_ref=2)


# ---- the rules ----------------------------------------------------------------------------------------
SHIPPED_ROW_1 = [-6.1617866e-08, 1.4940670e-05, -1.3004807e-03, 4.3655556e-02, 2.0571509e-01]


def _analytic(pre: tuple[int, ...], post: tuple[int, ...], steps: int = 40) -> float:
    return float(sr.analytic_spsp(_train(steps, *pre), _train(steps, *post), tau_m=TAU_M, tau_s=TAU_S,
                                  t_ref=T_REF))


def test_hm2bp_analytic_kernel_hand_computed_cases():
    assert _analytic((1,), (10,)) == pytest.approx(0.5480368, abs=1e-6)
    assert _analytic((1,), (10, 20)) == pytest.approx(0.7389760, abs=1e-6)
    assert _analytic((1,), ()) == pytest.approx(0.1)  # a silent post neuron still gets a gradient
    assert _analytic((0,), (10,)) == 0.0  # a pre spike at step 0 is ignored
    assert _analytic((), (10,)) == 0.0


def test_effect_polynomial_derivative_and_row_clamp():
    coeffs = torch.tensor([SHIPPED_ROW_1, [0, 0, 0, 1.0, 0], [0, 0, 1.0, 0, 0]], dtype=torch.float64)
    slope = sr.effect_slope(coeffs, torch.tensor([[1, 0, 2, 3, 50]]), torch.tensor([[10.0]]))
    assert slope[0, 0, 0].item() == pytest.approx(0.0218817, abs=1e-7)  # spec §13.6
    assert slope[0, 0, 1].item() == slope[0, 0, 0].item()  # input count 0 reads row 1
    assert slope[0, 0, 2].item() == 1.0 and slope[0, 0, 3].item() == 20.0 and slope[0, 0, 4].item() == 20.0
    w = torch.tensor([[0.5, -1.0, 2.0, 0.0, 1.0]])
    direct = (w.double() * slope[0]).sum(1)
    summed = sr.weighted_slope_sum(w, coeffs, torch.tensor([[1, 0, 2, 3, 50]]), torch.tensor([[10.0]]))
    assert summed[0].item() == pytest.approx(direct.item(), rel=1e-12)


def eij_step(pre_times: list[int], post_times: list[int], end_time: int) -> float:
    """``eij_step.m`` written out (times are 0..end_time; loop t = 1..end_time)."""
    if not pre_times or not post_times:
        return 0.0
    out = p = q = 0.0
    i_in = i_out = 0
    t_ref = 0
    for t in range(1, end_time + 1):
        p -= p / TAU_S
        if i_in < len(pre_times) and pre_times[i_in] == t - 1:
            p += 1
            i_in += 1
        q = q - q / TAU_M + p / TAU_S
        if t_ref != 0:
            q = 0.0
            t_ref -= 1
        if post_times[i_out] == t:
            out += q
            i_out += 1
            t_ref = T_REF
            q = 0.0
        if i_out >= len(post_times):
            break
    return out


def test_random_trains_follow_random_time_m():
    generator = torch.Generator().manual_seed(0)
    counts = torch.tensor([1, 5, 12, 12, 3])
    trains = sr.random_spike_trains(counts, 40, T_REF, generator)
    assert trains.shape == (41, 5) and trains.sum(0).tolist() == counts.tolist()
    for r in range(5):
        times = trains[:, r].nonzero().flatten()
        assert (times.diff() > T_REF).all()  # never within ±T_REF of another spike
    ends = sr.random_spike_trains(torch.full((4000,), 1), 10, T_REF, generator)
    share = ends.sum(1) / 4000  # round(rand·T): times 0 and T have half the weight of the others
    assert share[0].item() == pytest.approx(0.05, abs=0.02) and share[5].item() == pytest.approx(0.1, abs=0.025)


def test_effect_means_are_the_matlab_estimate_on_the_same_trains(monkeypatch):
    drawn = []
    original = sr.random_spike_trains

    def keep(counts, end_time, t_ref, generator):
        trains = original(counts, end_time, t_ref, generator)
        drawn.append(trains)
        return trains

    monkeypatch.setattr(sr.effect, "random_spike_trains", keep)
    steps, grid, trials = 30, 5, 3
    means = sr.effect_means(steps, TAU_M, TAU_S, T_REF, grid=grid, trials=trials, seed=1, chunk=trials)
    pre, post = drawn
    expected = np.zeros((grid, grid))
    for n in range(grid):
        for m in range(grid):
            for k in range(trials):
                pre_times = pre[:, n * trials + k].nonzero().flatten().tolist()
                post_times = post[:, m * trials + k].nonzero().flatten().tolist()
                expected[n, m] += eij_step(pre_times, post_times, steps) / trials
    assert np.allclose(means, expected, rtol=1e-10, atol=1e-12)
    assert np.allclose(sr.fit_effect_polynomial(means)[2], np.polyfit(np.arange(1, grid + 1), means[2], 4))
    assert eij_step([3], [0, 9], 20) == 0.0  # an output spike at time 0 blocks the pair, as in MATLAB


def test_effect_table_is_cached_by_its_parameters(tmp_path):
    table = sr.effect_table(30, TAU_M, TAU_S, T_REF, trials=2, seed=0, cache_dir=tmp_path)
    assert table.shape == (sr.effect_grid(30, T_REF), 5)
    cached = list((tmp_path / "st-rsbp").glob("effect-tm64-ts8-ref2-T30-n2-seed0.npy"))
    assert len(cached) == 1
    np.save(cached[0], table * 2)  # a cached table is read back, not regenerated
    assert np.allclose(sr.effect_table(30, TAU_M, TAU_S, T_REF, trials=2, seed=0, cache_dir=tmp_path), table * 2)


def test_glibc_rand_and_the_reference_reservoir_topology():
    rng = sr.glibc_rand(1)
    assert [next(rng) for _ in range(3)] == [1804289383, 846930886, 1681692777]  # glibc srand(1)
    for lattice, conns, loops, symmetric in [((5, 5, 16), 1322, 154, 4445), ((10, 10, 5), 1751, 201, 5986)]:
        w = sr.reservoir_topology(lattice, 1.0, "reference")
        assert int((w != 0).sum()) == conns and int((np.diag(w) != 0).sum()) == loops
        below = np.triu(w, 1)  # post j < pre i only where i's coordinates are all >= j's: acyclic off the diagonal
        assert np.abs(w).max() <= 1.0 and below.any()
        assert int((sr.reservoir_topology(lattice, 1.0, "symmetric") != 0).sum()) == symmetric


def _opts(**overrides) -> sr.STRSBPOptions:
    return sr.STRSBPOptions(**overrides)


def test_count_loss_dead_zone_and_label_repair():
    delta, cost = sr.count_error(torch.tensor([[0.0, 28, 0, 2]]), torch.tensor([1]), _opts())
    assert delta.tolist() == [[0, -7, 0, 0]] and cost.tolist() == [49]
    delta, cost = sr.count_error(torch.zeros(1, 4), torch.tensor([2]), _opts())
    assert delta[0, 2].item() == -35 and cost.item() == 1225
    spikes = torch.zeros(400, 2, 3)
    spikes[5, 1, 0] = 1
    repaired = sr.repair_label(spikes, torch.tensor([1, 0]))
    times = repaired[:, 0, 1].nonzero().flatten().tolist()
    assert times == list(range(11, 400, 11)) and len(times) == 36  # k·⌊400/35⌋, k >= 1
    assert torch.equal(repaired[:, 1], spikes[:, 1])  # a label neuron that fired is left alone


def test_lateral_factor_two_neurons():
    spikes = torch.zeros(60, 1, 2)
    spikes[[10, 30], 0, 0] = 1
    spikes[[20, 45], 0, 1] = 1
    lam = sr.lateral_factor(spikes, torch.tensor([0]), _opts(), threshold=15.0)
    e = [[oracle_spsp(spikes[:, 0, j].numpy(), spikes[:, 0, i].numpy()) for j in range(2)] for i in range(2)]
    r_01, r_10 = e[1][0] / 2, e[0][1] / 2  # r_jl = e_{l<-j}/o_j
    expected = 1 / (1 - r_01 * r_10 / 15.0 ** 2)
    assert lam[0].tolist() == pytest.approx([expected, expected], rel=1e-5)


def test_solve_layouts_on_a_two_by_two_case():
    lhs = torch.tensor([[2.0, 1.0], [0.5, 3.0]], dtype=torch.float64)
    rhs = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    math_x = torch.linalg.solve(lhs, rhs)
    code_x = torch.linalg.solve(lhs.t(), rhs.reshape(2, 2).t()).t().reshape(2, 2)
    assert torch.allclose(math_x, torch.linalg.inv(lhs) @ rhs)
    assert torch.allclose(code_x, rhs @ torch.linalg.inv(lhs)) and not torch.allclose(code_x, math_x)


# ---- the oracle: §3, §4 and §6 written out per sample in float64 NumPy ---------------------------------
def oracle_gradients(layers: list[dict], trains: list[np.ndarray], label: int, coeffs: np.ndarray, o) -> dict:
    """Gradients of one sample (no regulariser) for layers given as dicts (w, rec, mask, kind, nu)."""
    def e_of(pre, post):
        return np.array([[oracle_spsp(pre[:, j], post[:, i], o.tau_m, o.tau_s, o.t_ref) for j in range(pre.shape[1])]
                         for i in range(post.shape[1])])

    def slope(row_count, x):
        c = coeffs[int(min(max(row_count, 1), len(coeffs))) - 1]
        return 4 * c[0] * x ** 3 + 3 * c[1] * x ** 2 + 2 * c[2] * x + c[3]

    def ratio(e, o_post, o_pre):
        r = np.zeros_like(e)
        for i in range(e.shape[0]):
            for j in range(e.shape[1]):
                r[i, j] = o.zero_count_ratio if o_post[i] == 0 or o_pre[j] == 0 else e[i, j] / o_pre[j]
        return r

    out = trains[-1].copy()
    counts = out.sum(0)
    target = np.full(len(counts), o.undesired)
    target[label] = o.desired
    delta = np.where(np.abs(counts - target) > o.margin, counts - target, 0.0)
    nu_out = layers[-1]["nu"]
    e_lat = e_of(out, out)
    r_lat = ratio(e_lat, counts, counts)
    d = np.array([(1 / nu_out) if counts[x] > 0 or x == label else 0.0 for x in range(len(counts))])
    lam = np.array([1 / (1 - sum(r_lat[m, j] * d[m] * r_lat[j, m] * d[j] for m in range(len(counts)) if m != j))
                    for j in range(len(counts))])
    if counts[label] == 0:  # g_modifySpikes: spikes at k·⌊T/35⌋, k >= 1
        period = out.shape[0] // 35
        out[np.arange(period, out.shape[0], period), label] = 1
    grads, spikes = {}, out
    for k in range(len(layers) - 1, -1, -1):
        layer, x = layers[k], trains[k]
        w, nu = layer["w"], layer["nu"]
        o_in, o_out = x.sum(0), spikes.sum(0)
        e = e_of(x, spikes)
        r = ratio(e, o_out, o_in)
        g = delta / nu
        scale = lam if k == len(layers) - 1 else np.ones(len(g))
        if layer["kind"] == "reservoir":
            rec, mask = layer["rec"], layer["rec"] != 0
            e_rec = e_of(spikes, spikes) * mask
            oc = np.clip(o_out, 1, len(coeffs))
            dd = np.array([1 - sum(w[i, j] * slope(o_in[j], oc[i]) for j in range(w.shape[1])) / nu
                           - sum(rec[i, p] * slope(o_out[p], oc[i]) for p in range(w.shape[0]) if mask[i, p]) / nu
                           for i in range(w.shape[0])])
            r_rec = ratio(e_rec, o_out, o_out)
            lhs = np.diag(dd) - np.where(np.eye(len(dd)) == 1, 0, r_rec * rec / nu)
            rhs = w * r
            if o.solve_layout == "math":
                x_sol = np.linalg.solve(lhs, rhs)
            else:  # spec §6.7: X_code = (RHS.reshape(N_in, N) · LHS⁻¹).reshape(N, N_in)
                x_sol = (rhs.reshape(w.shape[1], w.shape[0]) @ np.linalg.inv(lhs)).reshape(w.shape)
            below = g @ x_sol
            grads[f"{k}.w"] = (g / dd)[:, None] * e
            grads[f"{k}.rec"] = (g / dd)[:, None] * e_rec
        else:
            s = np.array([1 - (0 if o_out[i] == 0 else sum(w[i, j] * slope(o_in[j], o_out[i])
                                                            for j in range(w.shape[1]))) / nu
                          for i in range(w.shape[0])])
            s_w = s if o.dadw == "strsbp" else np.ones_like(s)
            s_below = s if o.dadw == "strsbp" or o.dadw_scope == "wgrad_only" else np.ones_like(s)
            grads[f"{k}.w"] = (g * scale / s_w)[:, None] * e
            below = (g / s_below) @ (w * r)
        delta, spikes = below, trains[k]
    return grads


def _small_net(seed: int, o) -> tuple[sr.STRSBPNetwork, list[dict]]:
    torch.manual_seed(seed)
    kwargs = dict(init_w=1.0, tau_m=o.tau_m, tau_s=o.tau_s, t_ref=o.t_ref)
    rng = np.random.default_rng(seed)
    rec = np.where(rng.random((5, 5)) < 0.4, rng.uniform(-1, 1, (5, 5)), 0)
    layers = [sr.STRSBPLayer(12, 6, "spiking", threshold=1.2, **kwargs),
              sr.STRSBPLayer(6, 5, "reservoir", threshold=1.0, recurrent=rec.astype(np.float32), **kwargs),
              sr.STRSBPLayer(5, 3, "output", threshold=0.9, **kwargs)]
    with torch.no_grad():
        layers[0].synapse.weight.mul_(2.5)
    specs = [{"w": layer.synapse.weight.detach().double().numpy(), "nu": layer.threshold, "kind": layer.kind,
              "rec": layer.recurrent.detach().double().numpy() if layer.kind == "reservoir" else None}
             for layer in layers]
    return sr.STRSBPNetwork(layers), specs


@pytest.mark.parametrize("overrides", [{}, {"solve_layout": "math"}, {"dadw": "none"},
                                       {"dadw": "none", "dadw_scope": "wgrad_only"}])
def test_backward_chain_matches_the_numpy_oracle(overrides):
    o = _opts(tau_m=20.0, tau_s=4.0, lambda_reg=0.0, **overrides)
    net, specs = _small_net(3, o)
    x = (torch.rand(140, 2, 12, generator=torch.Generator().manual_seed(4)) < 0.25).float()
    x[0] = 0
    labels = torch.tensor([0, 2])
    net.train()
    out = net(x)
    coeffs = torch.tensor(np.random.default_rng(0).normal(0, [1e-6, 1e-4, 1e-3, 0.05, 0.2], (10, 5)))
    grads, _ = sr.network_gradients(net, labels, o, coeffs)
    assert (out.sum(0)[torch.arange(2), labels] == 0).any()  # a silent label neuron: the repair runs
    expected = {}
    for b in range(2):
        per = oracle_gradients(specs, [t[:, b].double().numpy() for t in net.trains], int(labels[b]),
                               coeffs.numpy(), o)
        for name, value in per.items():
            expected[name] = expected.get(name, 0) + value / 2
    assert np.allclose(grads["layers.0.synapse.weight"].numpy(), expected["0.w"], rtol=1e-4, atol=1e-6)
    assert np.allclose(grads["layers.1.synapse.weight"].numpy(), expected["1.w"], rtol=1e-4, atol=1e-6)
    assert np.allclose(grads["layers.1.recurrent"].numpy(), expected["1.rec"], rtol=1e-4, atol=1e-6)
    assert np.allclose(grads["layers.2.synapse.weight"].numpy(), expected["2.w"], rtol=1e-5, atol=1e-7)
    assert any(np.abs(v).sum() > 0 for v in expected.values())


def test_ablation_switch_scales_the_weight_gradient_as_the_spec_says():
    torch.manual_seed(0)
    layer = sr.STRSBPLayer(8, 4, "spiking", threshold=1.0, init_w=1.0, tau_m=20.0, tau_s=4.0, t_ref=2)
    x = (torch.rand(60, 1, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    spikes = layer(x * 2)
    delta = torch.tensor([[1.0, -2.0, 3.0, 0.5]])
    coeffs = torch.tensor([[0, 0, 0.001, 0.05, 0.1]] * 5, dtype=torch.float64)
    base = dict(tau_m=20.0, tau_s=4.0, lambda_reg=0.0)
    e = sr.chain._effects(x * 2, spikes, _opts(**base))
    grads = {d: sr.layer_gradients(layer, x * 2, spikes, delta, _opts(dadw=d, **base), coeffs)[0]["synapse.weight"]
             for d in sr.DADW}
    g = (delta / 1.0).T
    assert torch.allclose(grads["none"], g * e[0])  # ∂L/∂w = g·e
    o_out, o_in = spikes.sum(0)[0], (x * 2).sum(0)[0]
    s = 1 - torch.where(o_out > 0, sr.weighted_slope_sum(layer.synapse.weight.detach(), coeffs, o_in[None],
                                                         o_out[None])[0], torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(grads["strsbp"], g * e[0] / s.float()[:, None], rtol=1e-5)
    rho = torch.where(o_out[:, None] == 0, torch.full_like(e[0], 0.5), e[0] / o_out.clamp(min=1)[:, None])
    side = (layer.synapse.weight.detach() * rho).sum(1)
    assert torch.allclose(grads["first_order"], g * e[0] * (1 + side)[:, None], rtol=1e-5)


def test_adam_first_step_and_masked_recurrent_weights_stay_put():
    o = _opts(tau_m=20.0, tau_s=4.0)
    net, _ = _small_net(5, o)
    method = create_method("st-rsbp")
    x = (torch.rand(80, 1, 12, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    net.train()
    out = net(x)
    net.effect_coeffs = torch.tensor([[0, 0, 0.001, 0.05, 0.1]] * 5, dtype=torch.float64)
    cfg = resolve_config(method, create_dataset("digits"), {}, {"tau_m": 20.0, "tau_s": 4.0})
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    method.backward(method.loss(out, torch.tensor([1]), cfg), net, out, torch.tensor([1]), cfg)
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    optimizer.step()
    for name, p in net.named_parameters():
        step = p.detach() - before[name]
        assert torch.allclose(step, -1e-3 * grads[name] / (grads[name].abs() + 1e-8), atol=2e-7)  # float32 w
    rec = net.layers[1]
    assert torch.equal(rec.recurrent.detach()[~rec.mask], before["layers.1.recurrent"][~rec.mask])


# ---- the notation and bad input ------------------------------------------------------------------------
def test_recurrent_token_parses_and_round_trips():
    plan = parse_arch("400-rec400(5x5x16)")
    assert plan.layers[1].kind == "recurrent" and plan.layers[1].lattice == (5, 5, 16)
    assert str(plan) == "400-rec400(5x5x16)" and parse_arch("rec100").layers[0].channels == 100
    assert parse_arch("R64").layers[0].kind == "resblock"  # the residual token is untouched
    with pytest.raises(ValueError, match="lattice"):
        parse_arch("400-rec400(5x5x10)")


@pytest.mark.parametrize("method, args, message", [
    ("stbp", ["--arch", "400-rec400"], "no recurrent layers"),
    ("hm2-bp", ["--arch", "400-rec400"], "no recurrent layers"),
    ("st-rsbp", ["--arch", "400-rec410"], "needs its lattice"),
    ("st-rsbp", ["--set", "solve_layout=lu"], "solve_layout"),
    ("st-rsbp", ["--set", "effect_file=/nonexistent/p_Tau_64_400-100.txt"], "effect_file"),
    # the spiking CNN's (tests/test_st_rsbp_cnn.py)
    ("st-rsbp", ["--arch", "15C5-MP2-300"], "PoolingSpiking"),
    ("st-rsbp", ["--arch", "15C5s2-300"], "stride 1"),
    ("st-rsbp", ["--arch", "15C5-P2-300", "--set", "thresholds=5,2"], "gives 2 values"),
    ("st-rsbp", ["--set", "thresholds=5,-2"], "positive numbers"),
])
def test_bad_input_exits_2_before_data(tmp_path, method, args, message):
    proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "run", "--method", method, "--dataset", "mnist",
                           "--data-dir", str(tmp_path / "empty"), "--mirror", str(tmp_path / "none"),
                           "--out", str(tmp_path / "runs"), *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and not (tmp_path / "empty").exists()


def test_options_resolve_for_both_methods():
    cfg = resolve_config(create_method("hm2-bp"), create_dataset("mnist"))
    assert cfg.options.spsp_kernel == "analytic" and cfg.options.dadw == "first_order"
    with pytest.raises(ConfigError):
        resolve_config(create_method("st-rsbp"), create_dataset("mnist"), {}, {"dadw": "hm3"})


# ---- learning on real data -----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["st-rsbp", "hm2-bp"])
def test_learns_digits_and_writes_a_normal_record(tmp_path, method):
    from snnbench.records import read_record

    proc = subprocess.run([sys.executable, "-m", "snnbench.cli", "run", "--method", method, "--dataset", "digits",
                           "--epochs", "1", "--max-test-samples", "300",
                           "--set", "effect_trials=16", "--data-dir", str(tmp_path / "data"),
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = (tmp_path / "runs").glob("*.json")
    record = read_record(path)  # a valid record (read_record refuses one that is not)
    assert record.results.test_acc_last > 20.0  # chance is 10 %
    facts = record.execution.method
    if method == "st-rsbp":
        assert len(facts["effect_table"]["sha256"]) == 16 and facts["recurrent_connections"][0] > 0
        assert list((tmp_path / "data" / "st-rsbp").glob("effect-*.npy"))
    assert json.loads(path.read_text())["config"]["options"]["solve_layout"] == "reference"


# ---- the fused Triton forward against the PyTorch reference --------------------------------------------
@pytest.mark.parametrize("recurrence", ["none", "reservoir", "lateral"])
def test_triton_scan_matches_the_reference_bit_for_bit(recurrence):
    from snnbench.kernels.strsbp import STRSBPParams, ell, strsbp_scan_torch
    from snnbench.kernels.strsbp_triton import strsbp_scan_triton

    device = "cuda" if torch.cuda.is_available() else "cpu"  # the interpreter runs CPU tensors
    generator = torch.Generator().manual_seed(7)
    steps, batch, n = 120, 3, 37
    drive = torch.randn(steps, batch, n, generator=generator) * 0.8 + 0.3
    rec = None
    if recurrence == "reservoir":
        rec = torch.where(torch.rand(n, n, generator=generator) < 0.15, torch.randn(n, n, generator=generator), 0.0)
    elif recurrence == "lateral":
        rec = -(1 - torch.eye(n))
    index, values = ell(rec, n, torch.device("cpu"))
    params = STRSBPParams(threshold=1.0, tau_m=20.0, tau_s=4.0, t_ref=2)
    expected = strsbp_scan_torch(drive, index, values, params)
    got = strsbp_scan_triton(drive.to(device), index.to(device), values.to(device), params).cpu()
    assert expected.sum() > 50 and torch.equal(got, expected)
    if rec is not None:  # the ELL form holds the matrix exactly, in ascending presynaptic order
        dense = torch.zeros(n, n).scatter_add_(1, index, values)
        assert torch.equal(dense, rec.float()) and (index[:, 1:] >= index[:, :-1]).logical_or(values[:, 1:] == 0).all()


def test_boosting_scales_the_error_and_grows_misclassified_weights():
    weight = torch.tensor([1.0, 1.0, 2.0, 1.0, 5.0])
    wrong = torch.tensor([True, False, True, False, True])
    seen = torch.tensor([True, True, True, True, False])
    label = torch.tensor([0, 0, 0, 1, 1])
    sr.boost_update(weight, wrong, seen, label)
    grow = math.exp(0.75 / 20)  # class 0: err = (1 + 2)/(1 + 1 + 2)
    assert weight.tolist() == pytest.approx([grow, 1.0, 2 * grow, 1.0, 5.0])  # unseen sample 4 untouched
    assert not seen.any()
    o = _opts(tau_m=20.0, tau_s=4.0, lambda_reg=0.0)
    net, _ = _small_net(3, o)
    x = (torch.rand(140, 2, 12, generator=torch.Generator().manual_seed(4)) < 0.25).float()
    net.train()
    net(x)
    coeffs = torch.zeros(10, 5, dtype=torch.float64)
    base, _ = sr.network_gradients(net, torch.tensor([0, 2]), _opts(**{**o.as_dict(), "dadw": "none"}), coeffs)
    boosted, _ = sr.network_gradients(net, torch.tensor([0, 2]), _opts(**{**o.as_dict(), "dadw": "none"}), coeffs,
                                      torch.tensor([3.0, 3.0]))
    for name in base:  # δ of every sample ×3: every gradient ×3 (no regulariser here)
        assert torch.allclose(boosted[name], 3 * base[name], rtol=1e-5, atol=1e-6)


def test_reference_swap_shuffle_moves_few_positions_per_epoch_and_resumes():
    from snnbench.data import swap_order

    first, second = swap_order(60_000, 0, 3), swap_order(60_000, 1, 3)
    assert sorted(first.tolist()) == list(range(60_000))  # a permutation of the data
    assert 0 < (first != np.arange(60_000)).sum() <= 10_000 and 0 < (second != first).sum() <= 10_000
    assert np.array_equal(swap_order(60_000, 1, 3), second) and not np.array_equal(swap_order(60_000, 1, 4), second)
    cfg = resolve_config(create_method("st-rsbp"), create_dataset("digits"), {}, {"shuffle": "reference_swaps"})
    assert cfg.shuffle == "reference_swaps"
    with pytest.raises(ConfigError, match="shuffle"):
        resolve_config(create_method("st-rsbp"), create_dataset("digits"), {}, {"shuffle": "swaps"})
    from snnbench.data import prepare_data
    from snnbench.files import DataContext

    bundle = prepare_data(cfg, create_dataset("digits"), DataContext.from_options(), torch.device("cpu"))
    bundle.train.set_epoch(1)
    next(iter(bundle.train))  # the loader's first batch follows the swapped order of epoch 1
    expected = bundle.train.indices[swap_order(len(bundle.train.indices), 1, cfg.seed)][: cfg.batch_size]
    assert np.array_equal(bundle.train.batch_index, expected)


def test_the_effect_table_is_prepared_exactly_when_a_rule_reads_it(tmp_path):
    def facts(method, **sets):
        m = create_method(method)
        cfg = resolve_config(m, create_dataset("digits"), {}, {"effect_trials": 2, **sets})
        net = m.build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
        return m.prepare(net, cfg, tmp_path), net.effect_coeffs

    hm2, coeffs = facts("hm2-bp")  # first order, no reservoir: S_i is never formed
    assert hm2["effect_table"] is None and hm2["solve_layout"] is None and coeffs.abs().sum() == 0
    ablated, coeffs = facts("hm2-bp", dadw="none", dadw_scope="wgrad_only")  # δ still divides by S_i
    assert ablated["effect_table"]["rows"] == coeffs.shape[0] > 1 and coeffs.abs().sum() > 0
    strsbp, _ = facts("st-rsbp")
    assert strsbp["solve_layout"] == "reference" and strsbp["recurrent_connections"][0] > 0
    m = create_method("st-rsbp")  # evaluating a checkpoint (snnbench eval) never generates a table
    cfg = resolve_config(m, create_dataset("digits"), {"steps": 37}, {"effect_trials": 2})
    net = m.build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    before = sorted(tmp_path.rglob("*"))
    assert m.prepare(net, cfg, tmp_path, training=False)["effect_table"] is None
    assert sorted(tmp_path.rglob("*")) == before


def test_the_numba_cpu_loops_equal_the_torch_references_bit_for_bit():
    """The compiled CPU backend (auto on the CPU) computes the references' numbers exactly: the neuron scan
    with a recurrence, the S-PSP traces and HM2-BP's analytic weights."""
    import snnbench.methods.st_rsbp as rule
    from snnbench.kernels.strsbp import STRSBPParams, ell, strsbp_scan_torch
    from snnbench.kernels.strsbp_numba import AVAILABLE, strsbp_scan_numba

    if not AVAILABLE:
        pytest.skip("numba is not installed (pip install numba)")
    gen = torch.Generator().manual_seed(3)
    drive = torch.randn(300, 3, 40, generator=gen) * 3
    recurrent = torch.randn(40, 40, generator=gen) * (torch.rand(40, 40, generator=gen) < 0.2)
    index, values = ell(recurrent, 40, torch.device("cpu"))
    params = STRSBPParams(threshold=4.0, tau_m=64.0, tau_s=8.0, t_ref=2)
    reference = strsbp_scan_torch(drive, index, values, params)
    assert reference.sum() > 100 and torch.equal(strsbp_scan_numba(drive, index, values, params), reference)
    pre = (torch.rand(300, 3, 30, generator=gen) < 0.1).float()

    def traces() -> list[torch.Tensor]:  # float64, and float32 (what the rule's products take): rounded once
        return [out for dtype in (torch.float64, torch.float32) for out in (
            rule.pre_trace(pre, 8.0, dtype), rule.post_kernel(reference, 64.0, 8.0, 2, dtype),
            rule.analytic_weights(reference, tau_m=64.0, tau_s=8.0, t_ref=2, dtype=dtype))]

    compiled = traces()
    try:
        rule.psp.NUMBA = False
        torch_made = traces()
    finally:
        rule.psp.NUMBA = True
    for a, b in zip(compiled, torch_made, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)
    for wide, narrow in zip(torch_made[:3], torch_made[3:], strict=True):
        assert narrow.dtype == torch.float32 and torch.equal(wide.float(), narrow)


def test_a_recurrent_layer_reads_its_ell_index_from_its_pattern_with_the_same_spikes():
    """A reservoir's ELL index comes from its topology mask, computed once: weights that reach exactly 0 inside the
    mask stay in it (adding an exact 0), so the spikes equal those of the index of the nonzeros; a nonzero weight
    outside the mask (loaded weights) falls back to the nonzeros' own index."""
    from snnbench.kernels.strsbp import ell_index
    from snnbench.methods.st_rsbp.scan import spiking_scan

    m = create_method("st-rsbp")
    cfg = resolve_config(m, create_dataset("digits"), {"steps": 60}, {"threshold": 2.0})
    net = m.build(parse_arch(cfg.arch), (1, 8, 8), 10, cfg)
    layer = next(m for m in net.modules() if getattr(m, "kind", "") == "reservoir")
    gen = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 2, layer.synapse.in_features, generator=gen) < 0.3).float()
    with torch.no_grad():
        layer.recurrent.view(-1)[layer.mask.view(-1).nonzero()[::3]] = 0.0  # some weights in the mask reach 0
    weights = layer.lateral_weights()
    assert layer.recurrence_index(weights) is layer.recurrence_index(weights)  # computed once
    assert layer.recurrence_index(weights).shape[1] > ell_index(weights != 0).shape[1]
    by_nonzeros = spiking_scan(x, layer.synapse.weight.detach(), layer.params, weights, layer.backend)
    assert by_nonzeros.sum() > 0 and torch.equal(layer(x), by_nonzeros)
    with torch.no_grad():
        outside = (~layer.mask).nonzero()[0]
        layer.recurrent[outside[0], outside[1]] = 0.5
    weights = layer.lateral_weights()
    assert torch.equal(layer.recurrence_index(weights), ell_index(weights != 0))
    assert torch.equal(layer(x), spiking_scan(x, layer.synapse.weight.detach(), layer.params, weights, layer.backend))


def test_auto_picks_numba_on_the_cpu_and_refuses_it_elsewhere():
    from snnbench.kernels.backends import resolve_backend

    assert resolve_backend("auto", "cpu", "numba") == "numba"
    assert resolve_backend("auto", "cpu") == "torch" and resolve_backend("auto", "cuda", "numba") == "triton"
    with pytest.raises(ValueError, match="only the LIF, TSSL-BP's, ST-RSBP's, HM2-BP's and SLAYER's neurons"):
        resolve_backend("numba", "cpu")


def test_a_t_too_short_for_the_effect_fit_is_refused_not_sampled_for_ever():
    import time

    from snnbench.config import ConfigError
    from snnbench.methods.st_rsbp import effect_grid, max_spikes, random_spike_trains

    assert max_spikes(8, 2) == 3 and max_spikes(12, 2) == 5 and max_spikes(400, 2) == 134
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"steps=8 is too short.*at most 3 spikes.*steps >= 12"):
        effect_grid(8, 2)  # the bench's yin-yang case used to hang here, drawing 5 spikes into 9 slots
    with pytest.raises(ValueError, match="4 spikes do not fit times 0..8"):
        random_spike_trains(torch.tensor([1, 4]), 8, 2, torch.Generator().manual_seed(0))
    assert time.perf_counter() - start < 1.0
    assert effect_grid(12, 2) == 5 and effect_grid(400, 2) == 100  # unchanged where T holds the counts


def test_the_compiled_frozen_encoding_hash_equals_the_torch_one_bit_for_bit(monkeypatch):
    """The strsbp-frozen uniforms: the compiled loop (the CPU default) gives exactly the int64 tensor hash's
    values, for MNIST-, Yin-Yang- and N-MNIST-shaped batches, seeds and split offsets."""
    import snnbench.data as data
    from snnbench.kernels.strsbp_numba import AVAILABLE

    if not AVAILABLE:
        pytest.skip("numba is not installed (pip install numba)")
    cases = [((400, 4, 1, 28, 28), np.array([0, 5, 59999, 123]), 0, 0), ((100, 3, 4, 1, 1), np.array([7, 0, 2]), 2, 1),
             ((60, 2, 2, 34, 34), np.array([13, 26]), 3, 2)]
    for shape, index, seed, offset in cases:
        compiled = data._hashed_uniform(torch.Size(shape), index, seed, offset, torch.device("cpu"))
        monkeypatch.setattr(data, "HASH_NUMBA", False)
        reference = data._hashed_uniform(torch.Size(shape), index, seed, offset, torch.device("cpu"))
        monkeypatch.setattr(data, "HASH_NUMBA", True)
        assert compiled.dtype == reference.dtype == torch.float32 and torch.equal(compiled, reference)
        assert 0 <= float(compiled.min()) and float(compiled.max()) < 1
