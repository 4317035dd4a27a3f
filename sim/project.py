"""Monte Carlo projection over every policy of a scenario, on common random numbers.

A path is one posterior draw (stratified over the equally weighted draws), one draw of every lever
strength, one starting state drawn from the filtered state at the last actual year T
(normal, rounded to whole firms), and integer binomial/Poisson moves each year to the
horizon. Random numbers come from ``SeedSequence(seed, key)`` with one fixed key per
purpose (resampling, start state, sub-unit split, each lever by a hash of its name,
moves), never from a spawn counter: every policy sees the same parameters, starts, lever
strengths and move stream, so differences between policies are not noise, and adding or
reordering policies or levers changes no other numbers.

Paths come in blocks of ``BLOCK_PATHS`` (fixed): block 0 draws from the keys above, block
b >= 1 from ``SeedSequence(seed, KEY_BLOCK, b, key)``. A run of at most one block draws
exactly what it always drew; a larger one is projected a chunk of blocks at a time, and since
every block has its own streams, the result does not depend on how many blocks a chunk holds
(the posterior draw of each path comes from one systematic resample over all the paths).
:func:`project` keeps per path only what the tables need (see :mod:`sim.results`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .calibrate import Calibration
from .engine import Compiled
from .levers import Lever, draw_strengths, shift
from .params import from_link, to_link
from .scenario import Policy, Scenario
from .starts import StartPlan
from .workers import cores, run_shared

if TYPE_CHECKING:   # results imports this module; project() imports results when it runs (a cycle)
    from .results import Results

KEY_RESAMPLE, KEY_START, KEY_SPLIT, KEY_LEVER, KEY_MOVES, KEY_YEAR, KEY_BLOCK = 11, 12, 13, 14, 15, 16, 17
BLOCK_PATHS = 10_000      # paths per block of random numbers (a run of at most this many is one block)
CHUNK_BLOCKS = 1          # blocks projected at once by :func:`project` (memory only: the numbers do not change)


def stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


def block_stream(seed: int, block: int, *key: int) -> np.random.Generator:
    """The stream of ``key`` for the paths of ``block`` (block 0: the stream of ``key`` itself)."""
    return stream(seed, *key) if block == 0 else stream(seed, KEY_BLOCK, block, *key)


def block_layout(n_paths: int, block: int = BLOCK_PATHS) -> tuple[tuple[int, int, int], ...]:
    """(block index, first path, end) of every block of a run of ``n_paths`` paths."""
    return tuple((b, s, min(s + block, n_paths)) for b, s in enumerate(range(0, n_paths, block)))


def lever_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


@dataclass(frozen=True)
class Paths:
    """Everything shared by the policies: the common random numbers of one run."""
    rates: np.ndarray        # (P, n_rates) natural base rates
    x_T: np.ndarray          # (P, U, K) start state per unit
    f_T: np.ndarray          # (P, U, F) flows of year T per unit
    strengths: dict          # lever -> (P,)
    start: np.ndarray        # (P, L) the main unit's start levels (structure's level names)
    seed: int = 0            # the run's seed (keys the yearly rate shocks)
    blocks: tuple = ()       # (block index, first, end) of the blocks these paths hold; () = one block 0

    def layout(self) -> tuple:
        return self.blocks or ((0, 0, self.rates.shape[0]),)


@dataclass(frozen=True)
class Simulated:
    policy: Policy
    states: np.ndarray       # (Y + 1, P, U, K), index 0 is year T
    flows: np.ndarray        # (Y + 1, P, U, F)
    costs: dict              # lever -> (Y + 1, P), 10k yuan


def draw_index(n_draws: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
    """Posterior draw of each path: systematic (stratified) over the equally weighted draws."""
    u = (rng.random() + np.arange(n_paths)) / n_paths
    return np.minimum((u * n_draws).astype(int), n_draws - 1)


def draw_paths(sc: Scenario, cal: Calibration, n_paths: int, seed: int, levers: dict[str, Lever],
               block: int = BLOCK_PATHS, only=None) -> Paths:
    """The common random numbers of a run of ``n_paths`` paths, block by block; ``only``: the
    blocks (of :func:`block_layout`) to draw, by default all of them."""
    c = sc.compiled
    idx = draw_index(len(cal.draws), n_paths, stream(seed, KEY_RESAMPLE))
    layout = block_layout(n_paths, block) if only is None else tuple(only)
    parts = [_draw_block(sc, cal, c, idx[s:e], seed, b, levers) for b, s, e in layout]
    if len(parts) == 1:
        p = parts[0]
    else:
        p = Paths(np.concatenate([x.rates for x in parts]), np.concatenate([x.x_T for x in parts]),
                  np.concatenate([x.f_T for x in parts]),
                  {k: np.concatenate([x.strengths[k] for x in parts]) for k in parts[0].strengths},
                  np.concatenate([x.start for x in parts]), seed)
    off, blocks = 0, []
    for b, s, e in layout:
        blocks.append((b, off, off + e - s))
        off += e - s
    return Paths(p.rates, p.x_T, p.f_T, p.strengths, p.start, seed, tuple(blocks))


def _draw_block(sc: Scenario, cal: Calibration, c: Compiled, idx: np.ndarray, seed: int, b: int,
                levers: dict[str, Lever]) -> Paths:
    n_paths = len(idx)
    theta = cal.draws[idx]
    nat = cal.space.natural(theta)
    rates = nat[:, : cal.n_rates]
    # start state at T: filtered mean + sqrt(cov) * z, rounded; one matrix root per distinct draw
    uniq, inv = np.unique(idx, return_inverse=True)
    vals, vecs = np.linalg.eigh(cal.z_cov[uniq])      # one call for the stack (the same numbers as one by one)
    roots = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
    z = block_stream(seed, b, KEY_START).standard_normal((n_paths, cal.z_mean.shape[1]))
    zT = cal.z_mean[idx] + np.einsum("pij,pj->pi", roots[inv], z)
    zT = np.maximum(np.rint(zT), 0).astype(np.int64)
    xT, fT = zT[:, : c.K], zT[:, c.K:]
    plan = StartPlan(sc.starts[sc.unit].spec, sc.structure.start_names, sc.hierarchy, sc.regional, cal.space.index)
    start = plan.vector(nat)[:, : len(sc.structure.level_names)]
    if sc.parts:   # split over sub-units by each draw's shares (multinomial: whole firms)
        share = plan.shares(nat)
        rng = block_stream(seed, b, KEY_SPLIT)
        xs = np.stack([rng.multinomial(xT[:, k], share) for k in range(c.K)], axis=-1)
        fs = np.stack([rng.multinomial(fT[:, k], share) for k in range(c.F)], axis=-1)
    else:
        xs, fs = xT[:, None, :], fT[:, None, :]
    strengths = {name: draw_strengths(lv, block_stream(seed, b, KEY_LEVER, lever_key(name)).random(n_paths))
                 for name, lv in sorted(levers.items())}
    return Paths(rates, xs, fs, strengths, start, seed)


def policy_rates(sc: Scenario, paths: Paths, policy: Policy, years: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Rates (Y, P, n) after lever shifts, and quotas (Y, I), for the projection years."""
    names = sc.structure.prob_params + sc.structure.rate_params
    pidx = {n: i for i, n in enumerate(names)}
    Y, P = len(years), paths.rates.shape[0]
    base = paths.rates
    is_prob = np.array([n in sc.structure.prob_params for n in names])
    link = to_link(base, is_prob)
    out = np.empty((Y, P, len(names)))
    quota = np.zeros((Y, len(sc.structure.inflows)))
    for y, year in enumerate(years):
        delta = np.zeros_like(base)
        for name, lv in sc.levers.items():
            amount = policy.amount(name) if year >= policy.from_year else lv.calibrated_at
            if not lv.active(year):
                amount = lv.calibrated_at if lv.kind == "shift" else 0.0
            if lv.kind == "shift":
                d = shift(lv, amount, paths.strengths[name])
                for target in lv.acts_on:
                    delta[:, pidx[target]] += d
            else:
                for j, inf in enumerate(sc.structure.inflows):
                    if inf.param in lv.acts_on:
                        quota[y, j] = max(quota[y, j], amount)
        out[y] = from_link(link + delta + year_shocks(sc, paths, year), is_prob)
    return out, quota


def year_shocks(sc: Scenario, paths: Paths, year: int) -> np.ndarray:
    """(P, n) link-scale shocks of every rate in ``year``: sd (priors file [year_noise]) times a
    standard normal drawn from SeedSequence(seed, KEY_YEAR, year), the same for every policy
    (common random numbers): rates move from year to year around each path's own values."""
    sd = sc.year_noise_sd
    if not sd.any():
        return np.zeros((paths.rates.shape[0], len(sd)))
    z = np.concatenate([block_stream(paths.seed, b, KEY_YEAR, year).standard_normal((e - s, len(sd)))
                        for b, s, e in paths.layout()])
    return z * sd


def lever_costs(sc: Scenario, policy: Policy, states, flows, years_all: list[int]) -> dict:
    """Payments per lever, year and path (10k yuan). Year T uses the settings then in force."""
    return dict(iter_lever_costs(sc, policy, states, flows, years_all))


def iter_lever_costs(sc: Scenario, policy: Policy, states, flows, years_all: list[int]):
    """(lever, payments (years, paths)) one lever at a time, in the order of :func:`lever_costs`."""
    for name, lv in sorted(sc.levers.items()):
        cost = np.zeros((len(years_all), states.shape[1]))
        for y, year in enumerate(years_all):
            if not lv.active(year):
                continue
            amount = policy.amount(name) if (y > 0 and year >= policy.from_year) else lv.calibrated_at
            fixed = lv.events_per_year(amount)   # a fixed count, or the setting itself ("setting")
            if fixed is not None:
                events = np.full(states.shape[1], fixed)
            elif lv.pays_on.startswith("flow:"):
                cols = [sc.structure.flow(f) for f in lv.pays_on[5:].split("+")]
                events = flows[y][..., cols].sum(axis=(-1, -2))
            else:
                events = states[y][..., sc.structure.tier(lv.pays_on[6:])].sum(axis=-1)
            cost[y] = lv.unit_cost(amount) * events
        yield name, cost


def run_policy(sc: Scenario, c: Compiled, paths: Paths, pol: Policy, T: int, years: list[int], seed: int,
               rate_shift=None, costs: bool = True) -> Simulated:
    """One policy on the run's common random numbers: lever-shifted rates, the integer
    simulator from year T to the last of ``years``, and the payments per lever.
    ``rate_shift``: (rate name, link-scale shift) applied on top of the levers (goal seeking)."""
    rates, quota = policy_rates(sc, paths, pol, years)
    if rate_shift is not None:
        name, delta = rate_shift
        i = c.pidx[name]
        is_prob = name in sc.structure.prob_params
        rates[..., i] = from_link(to_link(rates[..., i], is_prob) + delta, is_prob)
    out = [c.simulate(paths.x_T[s:e], rates[:, s:e], block_stream(seed, b, KEY_MOVES), quota)
           for b, s, e in paths.layout()]
    states = out[0][0] if len(out) == 1 else np.concatenate([o[0] for o in out], axis=1)
    flows = out[0][1] if len(out) == 1 else np.concatenate([o[1] for o in out], axis=1)
    flows = np.concatenate([paths.f_T[None], flows], axis=0)
    return Simulated(pol, states, flows, lever_costs(sc, pol, states, flows, [T] + years) if costs else {})


def indicator_values(sc: Scenario, name: str, states: np.ndarray, flows: np.ndarray) -> np.ndarray:
    """int64 values of an indicator from states (..., K) and flows (..., F) of one unit."""
    ind = sc.structure.indicators[name]
    v = np.zeros(states.shape[:-1], dtype=np.int64)
    for k in ind.states:
        v += states[..., k]
    for f in ind.flows:
        v += flows[..., f]
    for f in ind.minus_flows:
        v -= flows[..., f]
    return v


def project(sc: Scenario, cal: Calibration, n_paths: int | None = None, seed: int | None = None,
            policies=None, block: int = BLOCK_PATHS, chunk: int = CHUNK_BLOCKS) -> "Results":
    """Project every policy over ``n_paths`` paths, ``chunk`` blocks of ``block`` paths at a
    time. Kept per path (see :class:`sim.results.Results`): the main unit's tiers and flows,
    the drawn rates, lever strengths and start levels, and every sub-unit indicator when the
    run is one block, else only the sub-unit indicators that have a target (the others are
    counted per value: exact quantiles and means whatever the chunk size)."""
    from .results import Compact, Hist, Kept, Results   # results imports this module (a cycle)
    n_paths = n_paths or sc.paths
    seed = sc.seed if seed is None else seed
    if block < 1 or chunk < 1:
        raise ValueError("block and chunk must be positive")
    T = cal.T
    years = list(range(T + 1, sc.horizon + 1))
    years_all = tuple([T] + years)
    pols = list(policies or sc.policies)
    layout = block_layout(n_paths, block)
    st = sc.structure
    K, F, Y1 = st.K, st.F, len(years_all)
    whole = len(layout) == 1
    kept_cells = [(u, i) for u in sc.parts for i in st.indicators] if whole else \
        sorted({(t.unit, t.indicator) for t in sc.targets if t.unit in sc.parts})
    counted = [] if whole else [(u, i) for u in sc.parts for i in st.indicators if (u, i) not in kept_cells]
    agg = {p.name: Compact((Y1, n_paths, K + F)) for p in pols}
    cells = {(p.name, u, i): Compact((Y1, n_paths)) for p in pols for u, i in kept_cells}
    hists = {(p.name, u, i): Hist(Y1) for p in pols for u, i in counted}
    n_rates = cal.n_rates
    rates = np.empty((n_paths, n_rates))
    start = np.empty((n_paths, len(st.level_names)))
    x_T = Compact((n_paths, 1, K))
    strengths = {name: np.empty(n_paths) for name in sorted(sc.levers)}
    c = sc.compiled
    for k in range(0, len(layout), chunk):
        blocks = layout[k: k + chunk]
        a, b = blocks[0][1], blocks[-1][2]
        paths = draw_paths(sc, cal, n_paths, seed, sc.levers, block, only=blocks)
        rates[a:b], start[a:b] = paths.rates, paths.start
        x_T.put(np.s_[a:b], paths.x_T.sum(axis=1, keepdims=True))
        for name in strengths:
            strengths[name][a:b] = paths.strengths[name]

        def summary(pol, paths=paths):
            """What the tables keep of one policy on this chunk: the unit's tiers and flows
            (summed over its parts) and each sub-unit cell, in the smallest integer type."""
            sim = run_policy(sc, c, paths, pol, T, years, seed, costs=False)
            out = [_small(sim.states.sum(axis=2)), _small(sim.flows.sum(axis=2))]
            for u, i in kept_cells + counted:
                part = sc.parts.index(u)
                out.append(_small(indicator_values(sc, i, sim.states[:, :, part, :], sim.flows[:, :, part, :])))
            return out

        done = run_shared([(summary, (pol,), 1.0) for pol in pols], cores() > 1)
        for pol, (states, flows, *values) in zip(pols, done):
            agg[pol.name].put(np.s_[:, a:b, :K], states)
            agg[pol.name].put(np.s_[:, a:b, K:], flows)
            for (u, i), v in zip(kept_cells + counted, values):
                if (pol.name, u, i) in cells:
                    cells[pol.name, u, i].put(np.s_[:, a:b], v)
                else:
                    hists[pol.name, u, i].add(v.astype(np.int64))
    slim = Paths(rates, x_T.array, None, strengths, start, seed, layout)
    sims = tuple(Kept(p, agg[p.name].array, sc, years_all) for p in pols)
    return Results(sc, cal, T, years_all, sims, slim, seed, n_paths,
                   cells={k: v.array for k, v in cells.items()}, hists=hists, block=block)


def _small(v: np.ndarray) -> np.ndarray:
    """The same integers in uint16 or int32 when they fit (less to send between processes)."""
    if v.size == 0:
        return v
    lo, hi = int(v.min()), int(v.max())
    if lo >= 0 and hi < 2 ** 16:
        return v.astype(np.uint16)
    return v.astype(np.int32) if -2 ** 31 <= lo and hi < 2 ** 31 else v


def part_indicator(sc: Scenario, cal: Calibration, n_paths: int, seed: int, pol: Policy, unit: str, name: str,
                   block: int = BLOCK_PATHS) -> np.ndarray:
    """(years, paths) int64 values of a sub-unit's indicator under one policy, simulated again
    block by block (the same numbers as the run's)."""
    T = cal.T
    years = list(range(T + 1, sc.horizon + 1))
    c = sc.compiled
    part = sc.parts.index(unit)
    out = []
    for blk in block_layout(n_paths, block):
        paths = draw_paths(sc, cal, n_paths, seed, sc.levers, block, only=[blk])
        sim = run_policy(sc, c, paths, pol, T, years, seed, costs=False)
        out.append(indicator_values(sc, name, sim.states[:, :, part, :], sim.flows[:, :, part, :]))
    return np.concatenate(out, axis=1)
