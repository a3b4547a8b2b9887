"""ST-RSBP and HM2-BP: the reservoir's topology (Reservoir::initReservoirConnection)."""


from __future__ import annotations

import numpy as np

from snnbench.config import ConfigError

RAND_MAX = 2147483647
TOPOLOGIES = ("reference", "symmetric")  # the reference's asymmetric draw, or a symmetric one


def glibc_rand(seed: int):
    """glibc's ``srand(seed)``/``rand()`` (the TYPE_3 additive generator) as an endless iterator."""
    r = [seed or 1]
    for _ in range(1, 31):
        hi, lo = divmod(r[-1], 127773)
        word = 16807 * lo - 2836 * hi
        r.append(word + 2147483647 if word < 0 else word)
    r += r[:3]  # r[31..33] = r[0..2]
    for i in range(34, 344):
        r.append((r[i - 31] + r[i - 3]) & 0xFFFFFFFF)
    state = r[-34:]
    while True:
        value = (state[-31] + state[-3]) & 0xFFFFFFFF
        state.append(value)
        del state[0]
        yield value >> 1


def reservoir_topology(lattice: tuple[int, int, int], init_w: float, kind: str = "reference") -> np.ndarray:
    """Recurrent weights ``[N, N]`` (row = post) of a reservoir on a d1×d2×d3 lattice, as the reference
    lays them out after ``srand(5)``: 20 % of neurons inhibitory; pre i → post j connects with probability
    c·exp(−dist²/4), c = 1.5 × {0.3 E→E, 0.2 E→I, 0.4 I→E, 0.1 I→I}, weight initW·U(−1, 1), in float32.
    ``reference`` keeps the code's unsigned coordinate differences (i → j only where i's coordinates are
    all ≥ j's: a DAG plus self-loops); ``symmetric`` uses signed distances (the published model)."""
    if kind not in TOPOLOGIES:
        raise ConfigError(f"unknown reservoir_topology {kind!r}; valid: {', '.join(TOPOLOGIES)}")
    d1, d2, d3 = lattice
    n = d1 * d2 * d3
    rng = glibc_rand(5)
    excitatory = [next(rng) % 100 >= 20 for _ in range(n)]
    coords = np.array([(i, j, k) for i in range(d1) for j in range(d2) for k in range(d3)], dtype=np.int64)
    diff = coords[:, None, :] - coords[None, :, :]  # [pre i, post j, axis]: x_i − x_j
    if kind == "reference":
        diff = diff % (1 << 32)  # dim3 coordinates are unsigned
    dist = diff.astype(np.float32)
    distsq = (dist[..., 0] * dist[..., 0] + dist[..., 1] * dist[..., 1] + dist[..., 2] * dist[..., 2])
    decay = np.exp(-distsq / np.float32(4)).astype(np.float32)
    c_of = {(True, True): 0.3, (True, False): 0.2, (False, True): 0.4, (False, False): 0.1}
    weights = np.zeros((n, n), dtype=np.float32)
    w0 = np.float32(init_w)
    for j in range(n):
        for i in range(n):
            c = np.float32(c_of[(excitatory[i], excitatory[j])] * 1.5)
            if next(rng) % 100000 < np.float32(100000) * c * decay[i, j]:
                draw = np.float32(2.0) * np.float32(next(rng)) / np.float32(RAND_MAX) - np.float32(1.0)
                weights[j, i] = w0 * np.float32(draw)
    return weights


