"""ST-RSBP and HM2-BP: the effect polynomial (∂e/∂o_i), generated as the MATLAB scripts do."""


from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from snnbench.config import ConfigError
from snnbench.files import atomic_write_bytes

from .psp import post_kernel, pre_trace

EFFECT_GRID = 100  # input and output counts 1..100 (the shipped p_Tau_64_400-100.txt)
EFFECT_DEGREE = 4
JAM_FRACTION = 0.75  # counts above this share of the densest packing jam the rejection sampler too often


def effect_grid(steps: int, t_ref: int) -> int:
    """The counts the table covers: 1..100 as the reference (T = 400), fewer where T cannot hold them
    (at most 75 % of the densest packing of spikes T_REF + 1 apart; 100 for T = 400, T_REF = 2). A T
    too short to hold the EFFECT_DEGREE + 1 counts the quartic fit needs is refused."""
    if max_spikes(steps, t_ref) < EFFECT_DEGREE + 1:
        shortest = EFFECT_DEGREE * (t_ref + 1)
        raise ConfigError(f"steps={steps} is too short for the generated effect polynomial: with t_ref={t_ref} a "
                          f"train holds at most {max_spikes(steps, t_ref)} spikes, and the fit needs counts "
                          f"1..{EFFECT_DEGREE + 1}; use steps >= {shortest}, or pass effect_file")
    return max(EFFECT_DEGREE + 1, min(EFFECT_GRID, int(JAM_FRACTION * (steps + 1) / (t_ref + 1))))


def max_spikes(steps: int, t_ref: int) -> int:
    """The most spikes a train over times 0..T holds with spikes at least T_REF + 1 apart."""
    return steps // (t_ref + 1) + 1


def random_spike_trains(counts: torch.Tensor, end_time: int, t_ref: int, generator: torch.Generator) -> torch.Tensor:
    """``random_time.m`` for each row: ``counts[r]`` spike times drawn one by one as round(rand·T) and
    rejected within ±T_REF of an earlier one; returns 0/1 trains ``[end_time + 1, R]`` (times 0..T).

    Each draw is taken directly from the free times with round()'s weights (½ at 0 and T), the
    distribution rejection sampling converges to; a row that jams (no free time left) starts over."""
    positions, rows = end_time + 1, counts.shape[0]
    if rows and int(counts.max()) > max_spikes(end_time, t_ref):  # it would jam and start over for ever
        raise ValueError(f"{int(counts.max())} spikes do not fit times 0..{end_time} at least {t_ref + 1} apart")
    base = torch.ones(positions, dtype=torch.float64)
    base[0] = base[-1] = 0.5
    trains = torch.zeros(rows, positions, dtype=torch.float32)
    placed = torch.zeros(rows, dtype=torch.long)
    while True:
        active = (placed < counts).nonzero().squeeze(1)
        if active.numel() == 0:
            return trains.t().contiguous()
        blocked = torch.nn.functional.max_pool1d(trains[active].unsqueeze(1), 2 * t_ref + 1, 1, t_ref).squeeze(1)
        weights = base * (blocked == 0)
        jammed = weights.sum(1) == 0
        if bool(jammed.any()):
            trains[active[jammed]] = 0
            placed[active[jammed]] = 0
        go = active[~jammed]
        if go.numel():
            pick = torch.multinomial(weights[~jammed], 1, generator=generator).squeeze(1)
            trains[go, pick] = 1
            placed[go] += 1


def effect_means(steps: int, tau_m: float, tau_s: float, t_ref: int, *, grid: int = 0, trials: int = 256,
                 seed: int = 0, chunk: int = 64) -> np.ndarray:
    """``eij_function.m``: the mean S-PSP ``[grid, grid]`` (row = input count, column = output count) over
    ``trials`` random train pairs per cell, each simulated over times 0..T by ``eij_step.m`` (= the step
    recursion; an output spike drawn at time 0 is never matched there, so such a pair gives 0). Trains
    of one count are shared across the cells of their row or column (each cell's mean stays unbiased)."""
    grid = grid or effect_grid(steps, t_ref)
    if grid > effect_grid(steps, t_ref):
        raise ValueError(f"a grid of {grid} counts does not fit T = {steps} with T_REF = {t_ref}; "
                         f"at most {effect_grid(steps, t_ref)}")
    generator = torch.Generator().manual_seed(seed)
    sums = torch.zeros(grid, grid, dtype=torch.float64)
    done = 0
    while done < trials:
        c = min(chunk, trials - done)
        counts = torch.arange(1, grid + 1).repeat_interleave(c)  # row r: count r // c + 1
        pre = random_spike_trains(counts, steps, t_ref, generator)
        post = random_spike_trains(counts, steps, t_ref, generator)
        p = pre_trace(pre.unsqueeze(2), tau_s).squeeze(2)
        k = post_kernel(post.unsqueeze(2), tau_m, tau_s, t_ref).squeeze(2)
        k[:, post[0] > 0] = 0
        sums += torch.einsum("tnk,tmk->nm", p.view(-1, grid, c), k.view(-1, grid, c))
        done += c
    return (sums / trials).numpy()


def fit_effect_polynomial(means: np.ndarray) -> np.ndarray:
    """MATLAB's ``polyfit(1:N, means(n, :), 4)`` per input count n: ``[N, 5]``, highest power first."""
    x = np.arange(1, means.shape[1] + 1, dtype=np.float64)
    return np.stack([np.polyfit(x, row, EFFECT_DEGREE) for row in means])


def effect_table(steps: int, tau_m: float, tau_s: float, t_ref: int, *, trials: int, seed: int,
                 cache_dir: Path | None) -> np.ndarray:
    """The effect polynomial ``[G, 5]`` (G = :func:`effect_grid`, 100 for T = 400) for (τm, τs, T_REF, T),
    generated once and kept in the data cache under a name that holds every parameter of the estimate."""
    name = f"effect-tm{tau_m:g}-ts{tau_s:g}-ref{t_ref}-T{steps}-n{trials}-seed{seed}.npy"
    path = Path(cache_dir) / "st-rsbp" / name if cache_dir is not None else None
    if path is not None and path.is_file():
        table = np.load(path)
        if table.shape == (effect_grid(steps, t_ref), EFFECT_DEGREE + 1) and np.isfinite(table).all():
            return table
    table = fit_effect_polynomial(effect_means(steps, tau_m, tau_s, t_ref, trials=trials, seed=seed))
    if path is not None:
        import io

        buffer = io.BytesIO()
        np.save(buffer, table)
        atomic_write_bytes(path, buffer.getvalue())
    return table


def load_effect_file(path: str | Path) -> np.ndarray:
    """A reference table (``Effect_Ratio_file/p_Tau_<τm>_<T>-100.txt``: rows of 5 coefficients)."""
    table = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if table.ndim != 2 or table.shape[1] != EFFECT_DEGREE + 1 or len(table) < 1:
        raise ConfigError(f"effect_file {path} must hold rows of {EFFECT_DEGREE + 1} coefficients, "
                          f"got shape {table.shape}")
    bad = np.argwhere(~np.isfinite(table))
    if len(bad):
        row, column = (int(v) for v in bad[0])
        raise ConfigError(f"effect_file {path}: {len(bad)} entries are not finite numbers (the first: row {row + 1}, "
                          f"column {column + 1} is {table[row, column]}); every coefficient must be finite")
    return table


def _derivative(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P′(x) = 4c₀x³ + 3c₁x² + 2c₂x + c₃ for coefficients ``c[..., 0:5]`` (highest power first)."""
    return 4 * c[..., 0] * x ** 3 + 3 * c[..., 1] * x ** 2 + 2 * c[..., 2] * x + c[..., 3]


def effect_slope(coeffs: torch.Tensor, pre_counts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P′_{clamp(o_j, 1, R)}(x) ``[B, N, N_in]`` for the table's rows (``d_Compute_poly``)."""
    rows = coeffs[(pre_counts.clamp(1, coeffs.shape[0]) - 1).long()]  # [B, N_in, 5]
    return _derivative(rows.unsqueeze(1), x.to(torch.float64).unsqueeze(2))


def weighted_slope_sum(weight: torch.Tensor, coeffs: torch.Tensor, pre_counts: torch.Tensor, x: torch.Tensor
                       ) -> torch.Tensor:
    """Σ_j w_ij·P′_{clamp(o_j)}(x_i) ``[B, N]`` without forming the [B, N, N_in] slopes: the sum of
    polynomials is the polynomial of the weighted coefficient sums."""
    rows = coeffs[(pre_counts.clamp(1, coeffs.shape[0]) - 1).long()]  # [B, N_in, 5]
    return _derivative(torch.einsum("nj,bjk->bnk", weight.to(torch.float64), rows), x.to(torch.float64))


