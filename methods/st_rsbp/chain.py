"""ST-RSBP and HM2-BP: the rule: loss, output layer and the explicit backward chain (spec §3–§6)."""


from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from snnbench.config import ConfigError, Options, added, choice, num
from snnbench.kernels import BACKENDS

from .effect import _derivative, weighted_slope_sum
from .layers import STRSBPConv, STRSBPLayer, STRSBPNetwork, STRSBPPool
from .psp import SILENT_EFFECT, _step_spsp, analytic_spsp, analytic_weights, step_spsp_events
from .reservoir import TOPOLOGIES

SPSP_KERNELS = ("step", "analytic")
SPSP_FORMS = ("dense", "events")  # the S-PSPs and drives of dense and recurrent layers: products or spike sums
DADW = ("strsbp", "first_order", "none")
DADW_SCOPES = ("both", "wgrad_only")
SOLVE_LAYOUTS = ("reference", "math")
REPAIR_SPIKES = 35  # g_modifySpikes: spikes at t = k·⌊T/35⌋, k ≥ 1


@dataclass(frozen=True)
class STRSBPOptions(Options):
    """ST-RSBP's settings (defaults: the reference code at HEAD, ``Config/MNIST.txt``)."""

    tau_m: float = num(64.0, gt=1)
    tau_s: float = num(8.0, gt=1)
    t_ref: int = num(2, ge=0)
    threshold: float = num(20.0, gt=0)  # ν of the hidden and recurrent layers
    threshold_output: float = num(15.0, gt=0)
    init_w: float = num(1.0, gt=0)
    desired: float = num(35.0, ge=0)  # DESIRED_LEVEL: target count of the label neuron
    undesired: float = num(5.0, ge=0)
    margin: float = num(5.0, ge=0)  # dead zone of the count error
    lateral_strength: float = num(1.0, ge=0)  # output layer's local inhibition
    label_repair: bool = True  # g_modifySpikes on a silent label neuron
    # BOOST_METHOD: per-sample weights on the output error, grown for misclassified samples
    boost: bool = added(True, late=False)
    spsp_kernel: str = choice("step", SPSP_KERNELS)
    # events: a dense or recurrent layer's S-PSPs (E = Sᵀ·Q) and drive (W·s) summed over its input spikes on the
    # CPU, not products over mostly zeros; the same sums in another order (float32 rounds differently)
    spsp_form: str = choice("dense", SPSP_FORMS, late="dense")
    dadw: str = choice("strsbp", DADW)  # ∂a/∂w: e/S (ST-RSBP), e·(1 + side) (HM2-BP code), e (HM2-BP paper)
    dadw_scope: str = choice("both", DADW_SCOPES)  # dadw=none: S ≡ 1 in the weight gradient only, or also in δ
    zero_count_ratio: float = num(0.5, ge=0)  # r = e/o_j where a count is 0 (paper era: 0; HM2-BP code: 1)
    s_min: float = num(0.0, ge=0)  # opt-in: keep |S_i| ≥ s_min in spiking layers (the reference has no clamp)
    solve_layout: str = choice("reference", SOLVE_LAYOUTS)
    reservoir_topology: str = choice("reference", TOPOLOGIES)
    weight_limit: float = num(8.0, gt=0)  # W_L of the regulariser
    lambda_reg: float = num(10.0, ge=0)
    beta_reg: float = num(0.04, ge=0)
    reg_plus_one: bool = True  # q_i's denominator N_pre + 1 (ST-RSBP) or N_pre (HM2-BP)
    effect_trials: int = num(256, ge=1)  # Monte-Carlo pairs per cell of the effect table (MATLAB: 1000)
    effect_seed: int = num(0, ge=0)
    effect_file: str = ""  # a reference p_Tau_*.txt table instead of the generated one
    backend: str = choice("auto", BACKENDS, late="auto")  # the forward scan: PyTorch or the fused Triton kernel
    # ν of each hidden layer in order (conv, pool, linear, rec), e.g. "5,2,10,4,10"
    thresholds: str = added("", late="")
    # conv side effect truncated to int and accumulated over samples (§8)
    cnn_reference_quirks: bool = added(False, late=False)
    conv_init_w: float = num(0.0, ge=0, late=0.0)  # U(−w, w) of the conv weights (0: init_w; HM2-BP's CNN: 0.5)
    # the pool's e/o_in where a count is 0 (ST-RSBP code: 0; HM2-BP: 1)
    pool_zero_ratio: float = num(0.0, ge=0, late=0.0)

    def check(self) -> None:
        if self.effect_file and not Path(self.effect_file).expanduser().is_file():
            raise ConfigError(f"effect_file {self.effect_file!r} does not exist (a p_Tau_<tau_m>_<T>-100.txt table "
                              "of 5 coefficients per row); leave it empty to generate the table")
        self.hidden_thresholds()

    def hidden_thresholds(self) -> list[float]:
        """``thresholds`` as numbers (empty: every hidden layer uses ``threshold``)."""
        if not self.thresholds.strip():
            return []
        try:
            values = [float(v) for v in self.thresholds.split(",")]
        except ValueError:
            values = []
        if not values or any(not v > 0 for v in values):
            raise ConfigError(f"thresholds={self.thresholds!r} must be positive numbers separated by commas, one "
                              "per hidden layer (e.g. '5,2,10,4,10'), or empty")
        return values


def count_error(counts: torch.Tensor, labels: torch.Tensor, o: STRSBPOptions) -> tuple[torch.Tensor, torch.Tensor]:
    """(δ = ∂L/∂o ``[B, K]``, cost ``[B]``): targets ``desired`` for the label and ``undesired`` otherwise;
    δ = o − y outside the dead zone |o − y| ≤ margin, else 0; cost Σ δ² (no ½, as the code logs it)."""
    target = torch.full_like(counts, o.undesired)
    target.scatter_(1, labels.view(-1, 1), o.desired)
    diff = counts - target
    delta = torch.where(diff.abs() > o.margin, diff, torch.zeros_like(diff))
    return delta, (delta * delta).sum(1)


def repair_label(spikes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``g_modifySpikes``: a label neuron that never fired gets spikes at t = k·⌊T/35⌋ (k ≥ 1, t < T)."""
    steps, batch = spikes.shape[0], spikes.shape[1]
    rows = torch.arange(batch, device=spikes.device)
    silent = spikes[:, rows, labels].sum(0) == 0  # [B]
    if not bool(silent.any()):
        return spikes
    period = steps // REPAIR_SPIKES
    if period == 0:
        return spikes
    times = torch.arange(period, steps, period, device=spikes.device)
    out = spikes.clone()
    chosen = rows[silent]
    out[times.view(-1, 1), chosen.view(1, -1), labels[silent].view(1, -1)] = 1
    return out


def ratios(e: torch.Tensor, post_counts: torch.Tensor, pre_counts: torch.Tensor, zero: float) -> torch.Tensor:
    """r_ij = e_ij/o_j ``[B, N, N_in]`` (≈ ∂e_ij/∂o_j), ``zero`` where o_i or o_j is 0; trailing axes after
    N_in (a conv's positions: e ``[B, O, C·k·k, L]``, counts ``[B, O, L]`` and ``[B, C·k·k, L]``) broadcast."""
    r = e / pre_counts.clamp(min=1).unsqueeze(1)  # a new tensor: filled in place, without a [B, N, N_in] mask
    return r.masked_fill_((post_counts == 0).unsqueeze(2), zero).masked_fill_((pre_counts == 0).unsqueeze(1), zero)


def first_order_ratios(e: torch.Tensor, post_counts: torch.Tensor) -> torch.Tensor:
    """ρ_ij = e_ij/o_i (mm-bp-snn's first-order side effect), 0.5 where the post neuron i is silent;
    ``e`` is ``[B, N, ...]`` and ``post_counts`` ``[B, N, ...]`` without the presynaptic axis (dim 2)."""
    return (e / post_counts.clamp(min=1).unsqueeze(2)).masked_fill_((post_counts == 0).unsqueeze(2), 0.5)


def lateral_factor(spikes: torch.Tensor, labels: torch.Tensor, o: STRSBPOptions, threshold: float) -> torch.Tensor:
    """``g_getLateralFactor_output`` ``[B, K]`` on the unmodified output spikes:
    λ_j = 1/(1 − w0²·Σ_{l≠j} r_jl·d_l·r_lj·d_j), d_x = 1/ν if o_x > 0 or x is the label, else 0."""
    counts = spikes.sum(0)
    e = _effects(spikes, spikes, o)  # e[b, l, j] = e_{l←j}
    r = ratios(e, counts, counts, o.zero_count_ratio)  # r[b, l, j] = e_{l←j}/o_j
    d = ((counts > 0) | torch.nn.functional.one_hot(labels, counts.shape[1]).bool()).to(r.dtype) / threshold
    pair = r * r.transpose(1, 2)  # r_jl·r_lj at [l, j]
    pair = pair * (1 - torch.eye(counts.shape[1], device=r.device, dtype=r.dtype))
    total = torch.einsum("blj,bl->bj", pair, d) * d
    return 1.0 / (1.0 - o.lateral_strength ** 2 * total)


def _effects(pre: torch.Tensor, post: torch.Tensor, o: STRSBPOptions) -> torch.Tensor:
    """S-PSPs ``[B, N, N_in]`` (float32) by the configured kernel and form; the step kernel's dense product in
    float32."""
    events = o.spsp_form == "events"
    if o.spsp_kernel == "analytic":
        return analytic_spsp(pre, post, tau_m=o.tau_m, tau_s=o.tau_s, t_ref=o.t_ref, events=events)
    if events:
        return step_spsp_events(pre, post, o.tau_m, o.tau_s, o.t_ref)
    return _step_spsp(pre, post, o.tau_m, o.tau_s, o.t_ref, torch.float32)


def _regulariser(weights: list[torch.Tensor], masks: list[torch.Tensor | None], o: STRSBPOptions,
                 denominator: torch.Tensor | float) -> list[torch.Tensor]:
    """+ λ·β·(w/W_L)·exp(β(q_i − 1)), q_i = Σ (w_i·/W_L)² over the neuron's synapses / denominator."""
    if o.lambda_reg == 0:
        return [torch.zeros_like(w) for w in weights]
    scaled = [(w / o.weight_limit) * (m if m is not None else 1) for w, m in zip(weights, masks, strict=True)]
    q = sum((s * s).sum(1) for s in scaled) / denominator
    factor = (o.lambda_reg * o.beta_reg * torch.exp(o.beta_reg * (q - 1))).unsqueeze(1)
    return [factor * s for s in scaled]


def self_consistency(weight: torch.Tensor, coeffs: torch.Tensor, pre_counts: torch.Tensor, post_counts: torch.Tensor,
                     threshold: float) -> torch.Tensor:
    """S_i = 1 − (1/ν)·Σ_j w_ij·D_ij ``[B, N]`` (float32), D_ij = P′_{clamp(o_j)}(o_i), 0 for a silent neuron i."""
    slope = weighted_slope_sum(weight, coeffs, pre_counts, post_counts)
    slope = torch.where(post_counts > 0, slope, torch.zeros_like(slope))
    return (1 - slope / threshold).float()


def layer_gradients(layer: STRSBPLayer, x: torch.Tensor, spikes: torch.Tensor, delta: torch.Tensor,
                    o: STRSBPOptions, coeffs: torch.Tensor, scale: torch.Tensor | None = None,
                    need_below: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """One layer's backward (§4 spiking/output, §6 reservoir), batched: returns (∂L/∂parameter averaged
    over the batch, δ for the layer below ``[B, N_in]`` or None). ``delta`` is ∂L/∂o ``[B, N]`` and
    ``scale`` the output layer's lateral factor λ."""
    w = layer.synapse.weight.detach()
    nu = layer.threshold
    o_in, o_out = x.sum(0), spikes.sum(0)
    e = _effects(x, spikes, o)
    r = ratios(e, o_out, o_in, o.zero_count_ratio) if need_below else None  # δ below's alone (none for layer 0)
    g = delta / nu
    lam = scale if scale is not None else torch.ones_like(g)
    batch = x.shape[1]
    if layer.kind == "reservoir":
        rec, mask = layer.recurrent.detach() * layer.mask, layer.mask.to(w.dtype)
        e_rec = _effects(spikes, spikes, o) * mask
        clamped = o_out.clamp(1, coeffs.shape[0])
        side = (weighted_slope_sum(w, coeffs, o_in, clamped) + weighted_slope_sum(rec, coeffs, o_out, clamped)) / nu
        d = (1 - side).float()
        d = torch.where((d >= 0) & (d < 1e-4), torch.full_like(d, 1e-4), d)
        d = torch.where((d < 0) & (d > -1e-4), torch.full_like(d, -1e-4), d)
        below = None
        if need_below:
            r_rec = ratios(e_rec, o_out, o_out, o.zero_count_ratio)
            off = 1 - torch.eye(w.shape[0], device=w.device, dtype=w.dtype)
            lhs = torch.diag_embed(d) - r_rec * rec * off / nu
            rhs = w * r
            if o.solve_layout == "math":
                solved = torch.linalg.solve(lhs, rhs)
            else:  # the code's column-major reading: X = (RHS viewed [N_in, N])·LHS⁻¹, viewed back [N, N_in]
                flipped = rhs.reshape(batch, w.shape[1], w.shape[0])
                solved = torch.linalg.solve(lhs.transpose(1, 2), flipped.transpose(1, 2)).transpose(1, 2)
                solved = solved.reshape(batch, w.shape[0], w.shape[1])
            below = torch.einsum("bn,bnj->bj", g, solved)
        gd = (g * lam / d).unsqueeze(2)
        n_conn = int(layer.mask.sum())
        reg_w, reg_rec = _regulariser([w, rec], [None, mask], o, n_conn + w.shape[1] + 1)
        grads = {"synapse.weight": (gd * e).mean(0) + reg_w, "recurrent": (gd * e_rec).mean(0) * mask + reg_rec}
        return grads, below
    if o.dadw == "strsbp":
        s = self_consistency(w, coeffs, o_in, o_out, nu)
        if o.s_min > 0:
            s = torch.where(s.abs() < o.s_min, torch.where(s < 0, -o.s_min, o.s_min) * torch.ones_like(s), s)
        s_w, s_below = s, s
    elif o.dadw == "first_order":  # mm-bp-snn: ∂a/∂w = e·(1 + Σ_l w_il·ρ_il/ν), ρ_il = e_il/o_i (0.5 at o_i = 0)
        side = (w.unsqueeze(0) * first_order_ratios(e, o_out)).sum(2) / nu
        s_w, s_below = 1.0 / (1 + side), torch.ones_like(side)
    else:
        s_w = torch.ones_like(g)
        s_below = s_w if o.dadw_scope == "both" else None
    if s_below is None:  # dadw=none, wgrad_only: δ still divides by S
        s_below = self_consistency(w, coeffs, o_in, o_out, nu)
    below = torch.einsum("bn,bnj->bj", g / s_below, w * r) if need_below else None
    denominator = w.shape[1] + 1 if o.reg_plus_one else w.shape[1]
    (reg,) = _regulariser([w], [None], o, denominator)
    grads = {"synapse.weight": ((g * lam / s_w).unsqueeze(2) * e).mean(0) + reg}
    return grads, below


def _patches(x: torch.Tensor, kernel: int, padding: int) -> torch.Tensor:
    """``[T, B, C, H, W]`` → ``[T, B, C·k·k, L]``: each output position's input window (``F.unfold``)."""
    steps, batch = x.shape[:2]
    cols = nn.functional.unfold(x.reshape(steps * batch, *x.shape[2:]).float(), kernel, padding=padding)
    return cols.reshape(steps, batch, cols.shape[1], cols.shape[2])


def conv_gradients(layer: STRSBPConv, x: torch.Tensor, spikes: torch.Tensor, delta: torch.Tensor,
                   o: STRSBPOptions, coeffs: torch.Tensor, need_below: bool = True
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """``ConvSpiking::backpropagation`` and ``getGrad`` (spec §8), batched. With e the analytic S-PSP
    (§2.4) of every output neuron and each input of its window, g = δ/ν and D = 1 − side:

        ∂L/∂w[o, k]      = mean over the batch of Σ_positions e·g/D  (+ the regulariser over C·k·k)
        δ_below[c, y, x] = Σ over the windows holding it of g/D · w · r,  r = e/o_in (0.5 at a zero count)
        side[o, pos]     = Σ_window w·P′_{clamp(o_in)}(clamp(o_out)) / ν  (0 for a silent neuron)

    The reference computes no side effect for a layer fed by the input (D = 1, and no δ below). With
    ``cnn_reference_quirks`` the side effect is the code's: truncated to an integer and accumulated over
    every sample seen (``side_state``, samples of a batch in order); otherwise it is each sample's own.

    ``dadw=first_order`` is HM2-BP's conv (mm-bp-snn ``g_ConvSpiking_wgrad_sideEffect``): the weight
    gradient is Σ e·(1 + side₁)·g with side₁ = Σ_window w·ρ/ν, ρ = e/o_out (0.5 for a silent neuron), on
    every conv layer, and δ below is not divided; ``dadw=none`` divides by nothing. The ratio at a zero count
    is ``zero_count_ratio`` (0.5 in the ST-RSBP code, 1 in HM2-BP's)."""
    w = layer.synapse.weight.detach()
    kernel = w.shape[-1]
    w2 = w.reshape(w.shape[0], -1)  # [O, C·k·k]
    steps, batch = spikes.shape[:2]
    post = spikes.reshape(steps, batch, w.shape[0], -1)  # [T, B, O, L]
    pre = _patches(x, kernel, layer.padding)  # [T, B, K, L]
    valid = _patches(torch.ones(1, 1, *x.shape[2:], device=x.device), kernel, layer.padding)[0, 0] > 0  # [K, L]
    o_out, o_in = post.sum(0), pre.sum(0)  # [B, O, L], [B, K, L]
    m = analytic_weights(post, tau_m=layer.tau_m, tau_s=layer.tau_s, t_ref=layer.t_ref, dtype=torch.float32)
    e = torch.einsum("tbol,tbkl->bokl", m, pre)
    silent = (o_out == 0).unsqueeze(2) & (o_in > 0).unsqueeze(1)
    e = e.masked_fill_(silent, SILENT_EFFECT)
    g = delta.reshape(batch, w.shape[0], -1).float() / layer.threshold
    gw = gd = g  # the weight gradient's and δ's factors
    if o.dadw == "first_order":
        gw = g * (1 + torch.einsum("ok,bokl->bol", w2, first_order_ratios(e, o_out) * valid) / layer.threshold)
    elif o.dadw == "strsbp" and need_below:
        rows = coeffs[(o_in.clamp(1, coeffs.shape[0]) - 1).long()] * valid.unsqueeze(-1)  # [B, K, L, 5]
        summed = torch.einsum("ok,bklc->bolc", w2.to(torch.float64), rows)
        side = _derivative(summed, o_out.clamp(1, coeffs.shape[0]).to(torch.float64)) / layer.threshold
        side = torch.where(o_out > 0, side, torch.zeros_like(side)).float()  # [B, O, L]
        if o.cnn_reference_quirks:  # int s = sum/vth; side_effect += s (never cleared)
            side = layer.side_state.reshape(1, w.shape[0], -1) + torch.cumsum(torch.trunc(side), 0)
            layer.side_state.copy_(side[-1].reshape(layer.side_state.shape))
        gw = gd = g / (1 - side)
    below = None
    if need_below:
        cols = torch.einsum("bol,ok,bokl->bkl", gd, w2, ratios(e, o_out, o_in, o.zero_count_ratio))
        below = nn.functional.fold(cols, x.shape[-2:], kernel, padding=layer.padding).reshape(batch, *x.shape[2:])
    (reg,) = _regulariser([w2], [None], o, w2.shape[1])
    grad = torch.einsum("bokl,bol->ok", e, gw) / batch + reg
    return {"synapse.weight": grad.reshape(w.shape)}, below


def pool_gradients(layer: STRSBPPool, x: torch.Tensor, spikes: torch.Tensor, delta: torch.Tensor,
                   zero_ratio: float = 0.0) -> torch.Tensor:
    """``g_PoolingSpiking_backpropagation_no_atomic`` (size = skip): δ below each window's input is
    δ_pool/p² · e/o_in (``zero_ratio`` where a count is 0: 0 in the ST-RSBP code, 1 in HM2-BP's), e the
    analytic S-PSP; no division by the pool's ν."""
    p = layer.size
    steps, batch, channels, height, width = spikes.shape
    m = analytic_weights(spikes, tau_m=layer.tau_m, tau_s=layer.tau_s, t_ref=layer.t_ref, dtype=torch.float32)
    windows = x.float().reshape(steps, batch, channels, height, p, width, p)
    e = torch.einsum("tbchw,tbchywx->bchwyx", m, windows)
    o_out, o_in = spikes.sum(0), windows.sum(0)  # [B, C, H, W], [B, C, H, p, W, p]
    r = e / o_in.permute(0, 1, 2, 4, 3, 5).clamp(min=1)
    empty = (o_out == 0)[..., None, None] | (o_in == 0).permute(0, 1, 2, 4, 3, 5)
    r = r.masked_fill_(empty, zero_ratio)
    d = delta.reshape(batch, channels, height, width, 1, 1).float() / (p * p) * r
    return d.permute(0, 1, 2, 4, 3, 5).reshape(batch, channels, height * p, width * p)


def network_gradients(net: STRSBPNetwork, labels: torch.Tensor, o: STRSBPOptions, coeffs: torch.Tensor,
                      sample_weight: torch.Tensor | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """The whole backward chain for the batch the network last ran in training mode: returns
    (gradient per parameter name, cost per sample). Per sample it is the reference's order (§3, then
    §4/§6 from the top layer down); the batch's gradient is the mean of the per-sample gradients."""
    layers, trains = net.spiking_layers(), net.trains
    if len(trains) != len(layers) + 1:
        raise RuntimeError("ST-RSBP's backward needs the trains of a training-mode forward pass")
    names = {id(p): n for n, p in net.named_parameters()}
    out = trains[-1]
    delta, cost = count_error(out.sum(0), labels, o)
    if sample_weight is not None:  # g_boostWeight_output: δ_i ·= the sample's boosting weight
        delta = delta * sample_weight.to(delta.dtype).unsqueeze(1)
    scale = lateral_factor(out, labels, o, layers[-1].threshold) if o.lateral_strength > 0 else None
    if o.label_repair:
        out = repair_label(out, labels)
    grads: dict[str, torch.Tensor] = {}
    spikes = out
    for k in range(len(layers) - 1, -1, -1):
        layer = layers[k]
        if isinstance(layer, STRSBPPool):
            local, below = {}, pool_gradients(layer, trains[k], spikes.reshape(*spikes.shape[:2], *layer.out_shape),
                                              delta, o.pool_zero_ratio)
        elif isinstance(layer, STRSBPConv):
            local, below = conv_gradients(layer, trains[k], spikes.reshape(*spikes.shape[:2], *layer.out_shape),
                                          delta, o, coeffs, need_below=k > 0)
        else:
            local, below = layer_gradients(layer, trains[k], spikes, delta.reshape(delta.shape[0], -1), o, coeffs,
                                           scale if k == len(layers) - 1 else None, need_below=k > 0)
        for name, grad in local.items():
            grads[names[id(layer.get_parameter(name))]] = grad
        if k > 0:
            delta, spikes = below, trains[k]
    return grads, cost


