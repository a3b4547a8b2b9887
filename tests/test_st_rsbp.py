"""ST-RSBP / HM2-BP functional core against the spec's hand-computed cases and an independent NumPy oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from snnbench.methods.st_rsbp import spiking_forward, spsp

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
