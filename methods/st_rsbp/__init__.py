"""ST-RSBP (Zhang & Li, NeurIPS 2019) and HM2-BP (Jin, Zhang & Li, NeurIPS 2018): the spiking layer
and the spike-train-level post-synaptic potentials (S-PSPs) they backpropagate spike counts through.

Reference code: stonezwr/ST-RSBP (``layers/Spiking.cu``, ``layers/Reservoir.cu``, ``common/cuBase.cu``),
a fork of jinyyy666/mm-bp-snn. Time-major like the rest of the suite (``[T, B, N]``). In order:
the functional core (forward scan, S-PSP, HM2-BP's analytic S-PSP), the effect polynomial generator
(a port of the MATLAB Monte-Carlo fit), the reservoir topology (with glibc ``rand()``), the layers, the
explicit backward chain (§3–§6 of the spec) and the two registered methods, ``st-rsbp`` and ``hm2-bp``.

**Forward** (one step is one time unit; v membrane, ep synaptic state, all zero at t = 0)::

    v  ← v − v/τm;   ep ← ep − ep/τs              every step, t = 0 included
    t = 0: no spike
    ep ← ep + (W·s_in)[t−1] + (W_rec·s_self)[t−1]   one-step synaptic delay
    v  ← v + ep/τs
    refractory (t_ref > 0): v ← 0, t_ref ← t_ref − 1
    s[t] = v > ν − 1e-6;  on a spike: t_ref ← T_REF, v ← 0    (ep is not reset)

**S-PSP** e_ij: the sum over i's spikes of the potential j's whole train left on i (unit weight) just
before the spike, replaying the forward for one synapse. Computed as one product E = K·Pᵀ over time:
P_j(t) = b·P_j(t−1) + s_j(t−1) (b = 1 − 1/τs), and K_i(t) = a^{t_f − t}/τs (a = 1 − 1/τm) for t in
(t_{f−1} + T_REF, t_f], t_f being i's next spike, zero elsewhere (after the last spike, in refractory
steps, and for a spike that falls in a refractory window). Because ep is never reset and v resets to
exactly 0, superposition gives the T-PSP identity Σ_{spikes of i} v_i(t) = Σ_j w_ij e_ij (+ recurrent).
"""

# one module per concern: scan (the neuron), psp (S-PSPs), effect (the effect polynomial), reservoir (its
# topology), layers (dense, recurrent, conv and pool), chain (loss and the explicit backward), recipes, rule
# (the two registered methods); the package re-exports their public names
from __future__ import annotations

from .chain import (
    DADW,
    DADW_SCOPES,
    REPAIR_SPIKES,
    SOLVE_LAYOUTS,
    SPSP_KERNELS,
    STRSBPOptions,
    conv_gradients,
    count_error,
    first_order_ratios,
    lateral_factor,
    layer_gradients,
    network_gradients,
    pool_gradients,
    ratios,
    repair_label,
    self_consistency,
)
from .effect import (
    EFFECT_DEGREE,
    EFFECT_GRID,
    JAM_FRACTION,
    effect_grid,
    effect_means,
    effect_slope,
    effect_table,
    fit_effect_polynomial,
    load_effect_file,
    max_spikes,
    random_spike_trains,
    weighted_slope_sum,
)
from .layers import RULE_LAYERS, STRSBPConv, STRSBPLayer, STRSBPNetwork, STRSBPPool
from .psp import SILENT_EFFECT, analytic_spsp, analytic_weights, post_kernel, pre_trace, spsp
from .recipes import (
    BATCHED,
    HM2BP_DEFAULT,
    HM2BP_OPTIONS,
    HM2BP_RECIPES,
    HM2BP_SOURCES,
    MNIST,
    STRSBP_RECIPES,
    STRSBP_SOURCES,
)
from .reservoir import RAND_MAX, TOPOLOGIES, glibc_rand, reservoir_topology
from .rule import HM2BP, STRSBP, add_boosting_state, boost_update
from .scan import spiking_forward

__all__ = [
    "BATCHED",
    "DADW",
    "DADW_SCOPES",
    "EFFECT_DEGREE",
    "EFFECT_GRID",
    "HM2BP",
    "HM2BP_DEFAULT",
    "HM2BP_OPTIONS",
    "HM2BP_RECIPES",
    "HM2BP_SOURCES",
    "JAM_FRACTION",
    "MNIST",
    "RAND_MAX",
    "REPAIR_SPIKES",
    "RULE_LAYERS",
    "SILENT_EFFECT",
    "SOLVE_LAYOUTS",
    "SPSP_KERNELS",
    "STRSBP",
    "STRSBP_RECIPES",
    "STRSBP_SOURCES",
    "TOPOLOGIES",
    "STRSBPConv",
    "STRSBPLayer",
    "STRSBPNetwork",
    "STRSBPOptions",
    "STRSBPPool",
    "add_boosting_state",
    "analytic_spsp",
    "analytic_weights",
    "boost_update",
    "conv_gradients",
    "count_error",
    "effect_grid",
    "effect_means",
    "effect_slope",
    "effect_table",
    "first_order_ratios",
    "fit_effect_polynomial",
    "glibc_rand",
    "lateral_factor",
    "layer_gradients",
    "load_effect_file",
    "max_spikes",
    "network_gradients",
    "pool_gradients",
    "post_kernel",
    "pre_trace",
    "random_spike_trains",
    "ratios",
    "repair_label",
    "reservoir_topology",
    "self_consistency",
    "spiking_forward",
    "spsp",
    "weighted_slope_sum",
]
