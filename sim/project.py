"""Monte Carlo projection over every policy of a scenario, on common random numbers.

A path is one posterior draw (stratified over the equally weighted draws), one draw of every lever
strength, one starting state drawn from the filtered state at the last actual year T
(normal, rounded to whole firms), and integer binomial/Poisson moves each year to the
horizon. Random numbers come from ``SeedSequence(seed, key)`` with one fixed key per
purpose (resampling, start state, sub-unit split, each lever by a hash of its name,
moves), never from a spawn counter: every policy sees the same parameters, starts, lever
strengths and move stream, so differences between policies are not noise, and adding or
reordering policies or levers changes no other numbers.
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
from .starts import part_shares, unit_start_vector

if TYPE_CHECKING:   # results imports nothing from here at run time; the annotation only
    from .results import Results

KEY_RESAMPLE, KEY_START, KEY_SPLIT, KEY_LEVER, KEY_MOVES, KEY_YEAR = 11, 12, 13, 14, 15, 16


def stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, *key])))


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


def draw_paths(sc: Scenario, cal: Calibration, n_paths: int, seed: int, levers: dict[str, Lever]) -> Paths:
    c = Compiled(sc.structure)
    idx = draw_index(len(cal.draws), n_paths, stream(seed, KEY_RESAMPLE))
    theta = cal.draws[idx]
    nat = cal.space.natural(theta)
    rates = nat[:, : cal.n_rates]
    # start state at T: filtered mean + sqrt(cov) * z, rounded; one matrix root per distinct draw
    uniq, inv = np.unique(idx, return_inverse=True)
    roots = np.empty((len(uniq),) + cal.z_cov.shape[1:])
    for k, i in enumerate(uniq):
        vals, vecs = np.linalg.eigh(cal.z_cov[i])
        roots[k] = vecs * np.sqrt(np.clip(vals, 0.0, None))
    z = stream(seed, KEY_START).standard_normal((n_paths, cal.z_mean.shape[1]))
    zT = cal.z_mean[idx] + np.einsum("pij,pj->pi", roots[inv], z)
    zT = np.maximum(np.rint(zT), 0).astype(np.int64)
    xT, fT = zT[:, : c.K], zT[:, c.K:]
    spec = sc.starts[sc.unit].spec
    start = unit_start_vector(spec, sc.structure.start_names, sc.hierarchy, sc.regional, nat,
                              cal.space.index)[:, : len(sc.structure.level_names)]
    if sc.parts:   # split over sub-units by each draw's shares (multinomial: whole firms)
        share = part_shares(spec, nat, cal.space.index)
        rng = stream(seed, KEY_SPLIT)
        xs = np.stack([rng.multinomial(xT[:, k], share) for k in range(c.K)], axis=-1)
        fs = np.stack([rng.multinomial(fT[:, k], share) for k in range(c.F)], axis=-1)
    else:
        xs, fs = xT[:, None, :], fT[:, None, :]
    strengths = {name: draw_strengths(lv, stream(seed, KEY_LEVER, lever_key(name)).random(n_paths))
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
    names = sc.structure.prob_params + sc.structure.rate_params
    sd = np.array([sc.year_noise.get(n, 0.0) for n in names])
    if not sd.any():
        return np.zeros((paths.rates.shape[0], len(names)))
    z = stream(paths.seed, KEY_YEAR, year).standard_normal((paths.rates.shape[0], len(names)))
    return z * sd


def lever_costs(sc: Scenario, policy: Policy, states, flows, years_all: list[int]) -> dict:
    """Payments per lever, year and path (10k yuan). Year T uses the settings then in force."""
    out = {}
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
        out[name] = cost
    return out


def run_policy(sc: Scenario, c: Compiled, paths: Paths, pol: Policy, T: int, years: list[int], seed: int,
               rate_shift=None) -> Simulated:
    """One policy on the run's common random numbers: lever-shifted rates, the integer
    simulator from year T to the last of ``years``, and the payments per lever.
    ``rate_shift``: (rate name, link-scale shift) applied on top of the levers (goal seeking)."""
    rates, quota = policy_rates(sc, paths, pol, years)
    if rate_shift is not None:
        name, delta = rate_shift
        i = c.pidx[name]
        is_prob = name in sc.structure.prob_params
        rates[..., i] = from_link(to_link(rates[..., i], is_prob) + delta, is_prob)
    states, flows = c.simulate(paths.x_T, rates, stream(seed, KEY_MOVES), quota)
    flows = np.concatenate([paths.f_T[None], flows], axis=0)
    costs = lever_costs(sc, pol, states, flows, [T] + years)
    return Simulated(pol, states, flows, costs)


def project(sc: Scenario, cal: Calibration, n_paths: int | None = None, seed: int | None = None,
            policies=None) -> "Results":
    from .results import Results
    n_paths = n_paths or sc.paths
    seed = sc.seed if seed is None else seed
    T = cal.T
    years = list(range(T + 1, sc.horizon + 1))
    paths = draw_paths(sc, cal, n_paths, seed, sc.levers)
    c = Compiled(sc.structure)
    sims = []
    for pol in (policies or sc.policies):
        s = run_policy(sc, c, paths, pol, T, years, seed)
        sims.append(Simulated(pol, s.states.astype(np.int32), s.flows.astype(np.int32), s.costs))
    return Results(sc, cal, T, tuple([T] + years), tuple(sims), paths, seed, n_paths)
