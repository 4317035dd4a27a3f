"""Calibration: fit the transition rates to the published actuals -> a frozen Calibration.

Likelihood. For each fit unit the expected dynamics of :mod:`sim.engine` define a
linear-Gaussian state-space model over z = [tiers, flows] (the large-population
approximation of the multinomial moves). A Kalman filter runs from the unit's start year
to its last fitted figure and updates on every published actual (a row of the observation
matrix: the indicator's signed weights over states and flows), with reporting noise
r = (s * cv * y)^2 + 1/4 (1/4 for rounding to whole firms), where cv is the indicator's
(structure file) and s a fitted reporting-noise scale, bounded away from zero (priors
file). Missing years are simply not updated on. Targets never enter. Three kinds of rows
get their own treatment, each declared in the data:

* a lower bound ("more than 480", ledger ``bound = ge``) is a censored observation: the
  likelihood is P(published >= 480) and the state is updated by the moments of the
  truncated normal (as in a Tobit Kalman filter);
* a sub-unit's actual (e.g. the city-level part of Cixi) observes its share of the unit's
  indicator, share * h'z, with the binomial spread of the split added to the noise; the
  shares have Dirichlet priors (:mod:`sim.starts`);
* a plan's base-year column (``plan_base`` in the starts file) observes the start-year
  figure with its own stated cv.

Parameters: the shared rates (priors file), the reporting-noise scale, the hierarchy's
shared ratios and, per fit unit, its start parameters (:mod:`sim.starts`), all normal on
an unconstrained scale (:mod:`sim.params`). Units named in ``pool_with`` contribute their
own actuals and share the rates: completely, except the rates the priors file lists under
[pooling] partial, where each pooled unit has its own offset from the scenario's unit,
normal with sd tau on the link scale.

Posterior. The mode (L-BFGS-B on a batched finite-difference gradient) and its Laplace
covariance start an independence Metropolis-Hastings sampler whose proposal is adapted by
Pareto-smoothed importance sampling (:mod:`sim.sampler`); it runs in rounds until split
R-hat <= 1.01 and bulk and tail ESS >= 400 for every parameter, or its budget is spent,
in which case the fit is labelled *preliminary*. Parameters that no fitted figure depends
on (checked numerically: e.g. the start levels of a unit with no actuals) have the prior
as their posterior exactly: they are drawn from it, and the sampler works on the others.
For each draw, the filtered mean and covariance of the main unit's state at its last
fitted year are the projection's starting point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import sampler as smp
from .errors import raise_if_interrupted
from .observations import superseded
from .params import Param, ParamSpace
from .scenario import Scenario
from .starts import StartPlan, fit_rows, last_fit_year
from .workers import cores, run_shared

LOG2PI = np.log(2 * np.pi)
N_DRAWS = 4000


@dataclass(frozen=True)
class Obs:
    """One fitted figure: indicator weights h (K+F,), published value, cv, whether the cv
    is scaled by the fitted noise scale, lower bound or exact, and the sub-unit it is of."""
    h: np.ndarray
    value: float
    cv: float
    name: str
    year: int
    bound: str = "eq"
    part: int | None = None
    scaled: bool = True
    label: str = ""


@dataclass(frozen=True)
class Calibration:
    """The fitted posterior of one scenario's fit units."""
    space: ParamSpace
    n_rates: int
    mode: np.ndarray
    laplace_cov: np.ndarray
    draws: np.ndarray          # (M, n) unconstrained
    z_mean: np.ndarray         # (M, K+F) filtered state of the main unit at year T
    z_cov: np.ndarray          # (M, K+F, K+F)
    T: int
    n_obs: int
    notes: tuple[str, ...]
    diagnostics: dict
    rhat: tuple
    ess_bulk: tuple
    ess_tail: tuple
    derived_names: tuple = ()   # start levels and sub-unit shares, computed per draw
    derived: np.ndarray = None  # (M, k)
    derived_prior: np.ndarray = None   # (k, 3): prior 5%, 50%, 95%; then var of log under the prior

    @property
    def converged(self) -> bool:
        return bool(self.diagnostics.get("converged", False))

    def summary(self):
        """One row per parameter (and derived start level): prior, posterior, contraction, label."""
        import pandas as pd
        rows = []
        for i, p in enumerate(self.space.params):
            u = self.draws[:, i]
            nat = p.natural(u)
            contraction = 1.0 - np.var(u) / p.sd ** 2
            lo, hi = p.prior_interval(0.90)
            q05, q95 = np.quantile(nat, [0.05, 0.95])
            rows.append(dict(parameter=p.name, prior_median=float(p.natural(p.mean)), prior_p05=lo, prior_p95=hi,
                             prior_source=p.source, post_mean=float(np.mean(nat)), post_p05=float(q05),
                             post_p95=float(q95), contraction=float(contraction), label=label(contraction),
                             rhat=self.rhat[i], ess_bulk=self.ess_bulk[i], ess_tail=self.ess_tail[i]))
        for k, name in enumerate(self.derived_names):
            v = self.derived[:, k]
            lo, med, hi, var_prior = self.derived_prior[k]
            contraction = 1.0 - np.var(np.log(np.maximum(v, 1e-12))) / var_prior if var_prior > 0 else 0.0
            rows.append(dict(parameter=name, prior_median=med, prior_p05=lo, prior_p95=hi,
                             prior_source="derived: start level or sub-unit share (starts file)",
                             post_mean=float(v.mean()), post_p05=float(np.quantile(v, 0.05)),
                             post_p95=float(np.quantile(v, 0.95)), contraction=float(contraction),
                             label=label(contraction), rhat=np.nan, ess_bulk=np.nan, ess_tail=np.nan))
        return pd.DataFrame(rows)

    def labels(self) -> dict[str, str]:
        s = self.summary()
        return dict(zip(s.parameter, s.label))


def label(contraction: float) -> str:
    if contraction >= 0.5:
        return "data-informed"
    if contraction >= 0.1:
        return "partly informed"
    return "prior-dominated"


class Model:
    """The likelihood of one scenario's actuals as a function of the unconstrained vector.

    ``rows``: the published figures to use (default: the scenario's); ``until``: fit only
    figures up to this year (backtests); ``withheld``: units whose actuals are left out
    (leave-one-district-out), their start levels set exactly as a no-actuals unit's are.
    """

    def __init__(self, sc: Scenario, rows=None, until: int | None = None, prior_scale: float = 1.0,
                 withheld: tuple[str, ...] = ()):
        from .kalman import filter_batch, log_post_batch, structure_arrays, system   # numba: only when fitting
        self._filter, self._system, self._fused = filter_batch, system, log_post_batch
        self.sc = sc
        st = sc.structure
        self.full_c = sc.compiled
        rows = list(sc.rows if rows is None else rows)
        rows = [r for r in rows if r.unit not in withheld and sc.units[r.unit].parent not in withheld]
        self.rows = rows
        self.units = sc.fit_units
        self.specs = {u: sc.starts[u].spec for u in self.units}
        params = list(sc.rates.params) + [sc.noise]
        used_ratios = {h.ratio_param for u in self.units for lv, _ in self.specs[u].z
                       for h in [sc.hierarchy[lv]]}
        # a level relative to another hierarchical level needs that level's ratio too
        params += [p for p in sc.ratio_params if p.name in used_ratios]
        for u in self.units:
            params += list(sc.starts[u].params)
        for u in sc.pool_with:   # partial pooling: the pooled units' own offsets of some rates
            params += [Param(f"{u}.offset.{k}", "shift", 0.0, sc.pooling.tau, sc.pooling.source)
                       for k in sc.pooling.partial]
        space = ParamSpace(params)
        # prior_scale varies the rate priors only (sensitivity analysis); start levels keep theirs
        self.space = space.scaled(prior_scale, which=set(sc.rates.names)) if prior_scale != 1.0 else space
        self.n_rates = len(sc.rates)
        self.noise_index = self.space.index[sc.noise.name]
        self.obs, self.left_out = {}, {}
        drop = superseded(rows)   # duplicates, and bounds or derived values of a known cell
        for u in self.units:
            spec = self.specs[u]
            fitted, left = fit_rows(spec, rows, st.indicators, until, drop)
            self.left_out[u] = left
            part_pos = {p: i for i, p in enumerate(spec.part_names)}
            obs: dict[int, list[Obs]] = {}
            for r, part in fitted:
                ind = st.indicators[r.indicator]
                obs.setdefault(r.year, []).append(Obs(st.indicator_weights(r.indicator), r.value, ind.cv, r.indicator,
                                                      r.year, r.bound, None if part is None else part_pos[part],
                                                      True, r.unit))
            pb = spec.plan_base
            if pb is not None:
                obs.setdefault(pb.year, []).insert(0, Obs(st.indicator_weights(pb.indicator), pb.value, pb.cv,
                                                          pb.indicator, pb.year, "eq", None, False, f"{u} (plan base)"))
            self.obs[u] = obs
        self.T = {u: last_fit_year(self.specs[u], rows, st.indicators, until) for u in self.units}
        # flows nobody observed never feed back into the tiers: the filter can leave them out
        K = st.K
        seen = np.zeros(K + st.F, bool)
        seen[:K] = True
        for o in self.obs.values():
            for lst in o.values():
                for ob in lst:
                    seen |= ob.h != 0
        self.keep = np.flatnonzero(seen)
        self.c = self.full_c.restricted(self.keep)
        self.n_obs = sum(1 for o in self.obs.values() for v in o.values() for ob in v if ob.scaled)
        rate_pos = {n: i for i, n in enumerate(sc.rates.names)}
        self.offsets = {u: [(rate_pos[k], self.space.index[f"{u}.offset.{k}"]) for k in sc.pooling.partial]
                        for u in sc.pool_with}
        self._obs_cache = {}
        self._plans = {u: StartPlan(self.specs[u], st.start_names, sc.hierarchy, sc.regional, self.space.index)
                       for u in self.units}
        self._rate_space = ParamSpace(list(self.space.params[: self.n_rates]))
        self._sys = structure_arrays(self.c)
        self._sys_full = structure_arrays(self.full_c)
        # variance of each rate's year-to-year shock on its link scale (priors file [year_noise])
        var = sc.year_noise_sd ** 2
        q_idx, n_moves = self._sys[0], self._sys[1]
        used = np.arange(q_idx.shape[1])[None, :] < n_moves[:, None]          # padding past each origin's moves
        self._yn_move = np.where(used, var[np.where(used, q_idx, 0)], 0.0)
        names = st.prob_params + st.rate_params
        self._yn_in = np.array([var[names.index(j.param)] for j in st.inflows])
        self._packed = self._pack(self.units)
        self._unit_packs = {}
        # no start tiers, rates, shares or noise given: log_post_batch works them out
        self._none_given = (np.zeros((0, st.K)), np.zeros((0, self.n_rates)), np.zeros((0, 1)), np.zeros(0))

    def _pack(self, fit_units: tuple[str, ...], full: bool = False) -> tuple:
        """Everything :func:`sim.kalman.log_post_batch` needs besides theta, as a few arrays
        worked out once: per fit unit its offsets, start plan, share columns and figures,
        concatenated, with each unit's rows in ``units``; then the structure's arrays (over
        the observed flows, or all of them if ``full``)."""
        from .kalman import start_plan_arrays
        c = self.full_c if full else self.c
        prior, kinds = self.space.arrays()
        units, offsets, steps, bases, outs, cols, obs = [], [], [], [], [], [], []
        ends = np.zeros(4, dtype=np.int64)    # rows so far of offsets, steps, share columns, figures
        for u in fit_units:
            st, base, out, col = self._plans[u].arrays()
            off = np.array(self.offsets.get(u, []), dtype=np.int64).reshape(-1, 2)
            fig = self._obs_arrays(u, c.keep)[:7]
            lo, hi = ends.copy(), ends + (len(off), len(st), len(col), len(fig[0]))
            units.append((self.T[u] - self.specs[u].year + 1, lo[0], hi[0], lo[1], hi[1], lo[2], hi[2], lo[3], hi[3]))
            ends = hi
            offsets.append(off)
            steps.append(st)
            bases.append(base)
            outs.append(out)
            cols.append(col)
            obs.append(fig)
        figures = [np.concatenate([f[k] for f in obs]) for k in range(7)]
        figures[1] = np.ascontiguousarray(figures[1].reshape(-1, len(c.keep)), dtype=float)
        start_ops, start_w = start_plan_arrays(c)
        return (prior, kinds, self.n_rates, self.noise_index, np.array(units, dtype=np.int64),
                np.concatenate(offsets).astype(np.int64), np.concatenate(steps).astype(np.int64),
                np.concatenate(bases).astype(float), np.stack(outs).astype(np.int64),
                np.concatenate(cols).astype(np.int64), start_ops, start_w, *figures,
                *(self._sys_full if full else self._sys), self._yn_move, self._yn_in)

    # ---- pieces of a unit's model ---------------------------------------------------------
    def start_vector(self, nat: np.ndarray, unit: str) -> np.ndarray:
        return self._plans[unit].vector(nat)

    def unit_rates(self, theta: np.ndarray, nat: np.ndarray, unit: str) -> np.ndarray:
        rates = nat[:, : self.n_rates]
        if self.offsets.get(unit):
            u_rates = theta[:, : self.n_rates].copy()
            for k, j in self.offsets[unit]:
                u_rates[:, k] += theta[:, j]
            rates = self._rate_space.natural(u_rates)   # the transform is column by column
        return rates

    def shares(self, nat: np.ndarray, unit: str) -> np.ndarray | None:
        return self._plans[unit].shares(nat)

    def _obs_arrays(self, unit: str, keep: np.ndarray):
        """The unit's figures as flat arrays for the compiled filter (sorted by year)."""
        key = (unit, len(keep))
        if key not in self._obs_cache:
            start = self.specs[unit].year
            items = [ob for year in sorted(self.obs[unit]) for ob in self.obs[unit][year]]
            self._obs_cache[key] = (
                np.array([ob.year - start for ob in items], dtype=np.int64),
                np.array([ob.h[keep] for ob in items], dtype=float).reshape(len(items), len(keep)),
                np.array([ob.value for ob in items], dtype=float),
                np.array([(ob.cv * ob.value) ** 2 for ob in items], dtype=float),
                np.array([ob.scaled for ob in items], dtype=np.bool_),
                np.array([ob.bound == "ge" for ob in items], dtype=np.bool_),
                np.array([-1 if ob.part is None else ob.part for ob in items], dtype=np.int64),
                items)
        return self._obs_cache[key]

    def unit_filter(self, theta: np.ndarray, unit: str, full: bool = False, record: list | None = None):
        """Log-likelihood of a unit's figures and the filtered (mean, cov) at its year T.

        ``theta`` is (n,) or a batch (B, n); returns arrays with a leading batch axis. The
        state holds the tiers and the observed flows only, unless ``full`` (all flows).
        ``record``: a list that receives (unit, indicator, year, published, predicted mean,
        predicted variance, bound) per figure, the prediction made before seeing it.
        The mean and covariance are only computed with ``full`` or ``record``.
        """
        theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=float)
        if (unit, full) not in self._unit_packs:
            self._unit_packs[unit, full] = self._pack((unit,), full)
        # the start tiers, rates and shares in numpy as ever (the states the projection starts
        # from keep their bits), the filter in the call the sampler compiled anyway
        nat = self.space.natural(theta)
        x0 = np.ascontiguousarray(self.c.start_states(self.start_vector(nat, unit)))
        rates = np.ascontiguousarray(self.unit_rates(theta, nat, unit))
        shares = self.shares(nat, unit)
        shares = np.ones((len(theta), 1)) if shares is None else np.ascontiguousarray(shares)
        noise2 = nat[:, self.noise_index] ** 2
        ll, m, P, pred = self._fused(theta, False, full or record is not None, x0, rates, shares, noise2,
                                     *self._unit_packs[unit, full])
        if record is not None:   # one-step-ahead prediction of each published value
            items = self._obs_arrays(unit, (self.full_c if full else self.c).keep)[7]
            for k, ob in enumerate(items):
                record.append((ob.label or unit, ob.name, ob.year, ob.value, pred[:, k, 0], pred[:, k, 1], ob.bound))
        return ll, m, P

    def _unit_filter_reference(self, theta: np.ndarray, unit: str, full: bool = False, record: list | None = None,
                               nat: np.ndarray | None = None):
        """:meth:`unit_filter` step by step in numpy and two compiled calls (system,
        filter_batch): the reference the fused call is tested against."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        c = self.full_c if full else self.c
        nat = self.space.natural(theta) if nat is None else nat
        x0 = c.start_states(self.start_vector(nat, unit))
        noise2 = nat[:, self.noise_index] ** 2     # the reporting noise scale, squared (B,)
        rates = self.unit_rates(theta, nat, unit)
        shares = self.shares(nat, unit)
        if shares is None:
            shares = np.ones((theta.shape[0], 1))
        q_idx, n_moves, D, tier, inflow_param, V, size_rows, tier_pos = (
            self._sys_full if full else self._sys)
        G, pis, r_in = self._system(rates, q_idx, n_moves, D, tier, inflow_param, V, size_rows, tier_pos)
        yr, H, val, r, scaled, ge, part, items = self._obs_arrays(unit, c.keep)
        n_years = self.T[unit] - self.specs[unit].year + 1
        ll, m, P, pred = self._filter(x0, G, pis, D, tier, r_in, V, size_rows, noise2, shares, n_years,
                                      yr, H, val, r, scaled, ge, part, full or record is not None,
                                      n_moves, self._yn_move, self._yn_in)
        if record is not None:   # one-step-ahead prediction of each published value
            for k, ob in enumerate(items):
                record.append((ob.label or unit, ob.name, ob.year, ob.value, pred[:, k, 0], pred[:, k, 1], ob.bound))
        return ll, m, P

    def log_lik(self, theta: np.ndarray) -> np.ndarray:
        """Log-likelihood of (B, n) parameter vectors -> (B,), all fit units in one compiled call."""
        theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=float)
        return self._fused(theta, False, False, *self._none_given, *self._packed)[0]

    def log_post(self, theta: np.ndarray) -> np.ndarray:
        """Log posterior (up to a constant) of (B, n) parameter vectors -> (B,); -1e300 where
        it is not finite. One compiled call (:func:`sim.kalman.log_post_batch`)."""
        theta = np.ascontiguousarray(np.atleast_2d(theta), dtype=float)
        return self._fused(theta, True, False, *self._none_given, *self._packed)[0]

    def _log_lik_reference(self, theta: np.ndarray) -> np.ndarray:
        """:meth:`log_lik` unit by unit through :meth:`_unit_filter_reference` (the reference
        the fused call is tested against)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        nat = self.space.natural(theta)
        ll = np.zeros(theta.shape[0])
        for u in self.units:
            ll = ll + self._unit_filter_reference(theta, u, nat=nat)[0]
        return ll

    def _log_post_reference(self, theta: np.ndarray) -> np.ndarray:
        """:meth:`log_post` through :meth:`_log_lik_reference` and ``ParamSpace.log_prior``."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        lp = np.asarray(self.space.log_prior(theta), dtype=float) + self._log_lik_reference(theta)
        return np.where(np.isfinite(lp), lp, -1e300)

    def likelihood_free(self, rng: np.random.Generator | None = None) -> list[int]:
        """Indices of parameters no fitted figure depends on, found numerically: moving one
        of them changes no log-likelihood, at a few points drawn from the prior."""
        rng = rng or np.random.default_rng(0)
        sp = self.space
        d = len(sp)
        base = sp.mean + sp.sd * rng.standard_normal((3, d))
        pts = [base]
        for j in range(d):
            b = base.copy()
            b[:, j] += 0.5 * sp.sd[j] + 0.1
            pts.append(b)
        ll = self.log_lik(np.concatenate(pts)).reshape(d + 1, 3)
        return [j for j in range(d) if np.all(np.abs(ll[j + 1] - ll[0]) < 1e-10)]

    def derived(self, theta: np.ndarray) -> tuple[tuple[str, ...], np.ndarray]:
        """Start levels of every fit unit and sub-unit shares per draw: (names, (B, k))."""
        theta = np.atleast_2d(theta)
        nat = self.space.natural(theta)
        names, cols = [], []
        for u in self.units:
            vec = self.start_vector(nat, u)
            for k, name in enumerate(self.sc.structure.level_names):
                if name in dict(self.specs[u].z):
                    names.append(f"{u}.{name}")
                    cols.append(vec[:, k])
            sh = self.shares(nat, u)
            if sh is not None and u == self.sc.unit:
                for k, p in enumerate(self.specs[u].part_names):
                    names.append(f"{p}.share")
                    cols.append(sh[:, k])
        return tuple(names), (np.stack(cols, axis=1) if cols else np.zeros((len(theta), 0)))


def neg_log_post_and_grad(log_post, theta: np.ndarray, eps: float = 1e-5):
    """Negative log posterior and its central-difference gradient, in one batched call."""
    n = len(theta)
    E = np.eye(n) * eps
    f = -log_post(np.concatenate([theta[None], theta + E, theta - E]))
    return f[0], (f[1: n + 1] - f[n + 1:]) / (2 * eps)


class Reduced:
    """A Model restricted to some of its parameters; the others sit at their prior means
    (they do not enter the likelihood) and are drawn from the prior afterwards."""

    def __init__(self, model: Model, keep: list[int]):
        self.model, self.keep = model, np.array(keep, dtype=int)
        self.drop = np.array([i for i in range(len(model.space)) if i not in set(keep)], dtype=int)
        self.mean, self.sd = model.space.mean[self.keep], model.space.sd[self.keep]

    def full(self, theta_r: np.ndarray) -> np.ndarray:
        theta_r = np.atleast_2d(theta_r)
        out = np.tile(self.model.space.mean, (theta_r.shape[0], 1))
        out[:, self.keep] = theta_r
        return out

    def log_post(self, theta_r: np.ndarray) -> np.ndarray:
        # the dropped parameters' prior terms are constant here: they only shift the level
        return self.model.log_post(self.full(theta_r))

    def value_and_grad(self, theta_r: np.ndarray):
        return neg_log_post_and_grad(self.log_post, theta_r)

    def expand(self, x_r: np.ndarray, rng) -> np.ndarray:
        """Full vectors from reduced ones (any leading shape); dropped ones from the prior
        (or at the prior mean when rng is None)."""
        shape = x_r.shape[:-1]
        flat = x_r.reshape(int(np.prod(shape)), x_r.shape[-1])
        out = self.full(flat)
        if rng is not None and len(self.drop):
            sp = self.model.space
            out[:, self.drop] = sp.mean[self.drop] + sp.sd[self.drop] * rng.standard_normal((len(flat), len(self.drop)))
        return out.reshape(shape + (len(self.model.space),))

    def expand_cov(self, cov_r: np.ndarray) -> np.ndarray:
        cov = np.diag(self.model.space.sd ** 2)
        cov[np.ix_(self.keep, self.keep)] = cov_r
        return cov


def hessian(f_batch, x, eps=1e-3):
    """Central finite-difference Hessian of a scalar function evaluated in one batch."""
    n = len(x)
    E = np.eye(n) * eps
    iu, ju = np.triu_indices(n, 1)
    pts = np.concatenate([x[None], x + E, x - E, x + E[iu] + E[ju], x - E[iu] - E[ju]])
    f = smp.evaluate(f_batch, pts)
    f0, fp, fm = f[0], f[1: n + 1], f[n + 1: 2 * n + 1]
    fpp, fmm = f[2 * n + 1: 2 * n + 1 + len(iu)], f[2 * n + 1 + len(iu):]
    H = np.diag((fp - 2 * f0 + fm) / eps ** 2)
    H[iu, ju] = H[ju, iu] = (fpp - fp[iu] - fp[ju] + 2 * f0 - fm[iu] - fm[ju] + fmm) / (2 * eps ** 2)
    return H


def find_mode(model: Reduced, rng: np.random.Generator, starts: int = 3):
    """Best of a few L-BFGS-B runs (from the prior mean and from prior draws)."""
    from scipy import optimize   # a third of a second to import: only when fitting
    best = None
    x0s = [model.mean.copy()] + [model.mean + 0.5 * model.sd * rng.standard_normal(len(model.mean))
                                 for _ in range(starts - 1)]
    for x0 in x0s:
        res = optimize.minimize(model.value_and_grad, x0, jac=True, method="L-BFGS-B",
                                options=dict(maxiter=3000, maxfun=30000))
        if best is None or res.fun < best.fun:
            best = res
    return best


def fit(sc: Scenario, draws: int = N_DRAWS, seed: int | None = None, rows=None, until: int | None = None,
        prior_scale: float = 1.0, withheld: tuple[str, ...] = (), chains: int = 32, steps: int = 100,
        max_rounds: int = 80, **_) -> Calibration:   # 80: DEFAULT_ROUNDS
    """Fit a scenario's rates and start levels; return the posterior draws.

    The sampler runs in rounds of ``steps`` steps of ``chains`` chains until every
    parameter has split R-hat <= 1.01 and bulk and tail ESS >= 400, or ``max_rounds``
    rounds are spent (the fit is then labelled preliminary in its notes and diagnostics).
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):   # 30x30 matrices: BLAS threads only cost
        return _fit(sc, draws, seed, rows, until, prior_scale, withheld, chains, steps, max_rounds)


def _fit(sc, draws, seed, rows, until, prior_scale, withheld, chains, steps, max_rounds) -> Calibration:
    seed = sc.seed if seed is None else seed
    full = Model(sc, rows=rows, until=until, prior_scale=prior_scale, withheld=withheld)
    space = full.space
    free = full.likelihood_free(np.random.default_rng(np.random.SeedSequence([seed, 4])))
    model = Reduced(full, [i for i in range(len(space)) if i not in free])
    notes = []
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    if len(model.keep):
        res = find_mode(model, rng, starts=1)
        mode_r = res.x
        H = -hessian(model.log_post, mode_r)
        H = 0.5 * (H + H.T)
        vals, vecs = np.linalg.eigh(H)
        floor = 1.0 / (4.0 * np.max(model.sd) ** 2)
        vals = np.maximum(vals, floor)
        cov_r = (vecs / vals) @ vecs.T
        chains_r, diag = smp.sample(model.log_post, mode_r, cov_r, rng, chains=chains, steps=steps,
                                    max_rounds=max_rounds)
    else:   # nothing is fitted: the posterior is the prior
        mode_r, cov_r = np.zeros(0), np.zeros((0, 0))
        chains_r = np.zeros((N_DRAWS // chains + 1, chains, 0))
        diag = dict(evals_per_step=0.0, khat=0.0, rounds=0)
    rng_free = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    chains_x = model.expand(chains_r, rng_free)                  # likelihood-free parameters from the prior
    mode, cov = model.expand(mode_r[None], None)[0], model.expand_cov(cov_r)
    # per-parameter diagnostics: the sampler's last check for the sampled parameters (the
    # same draws), computed here only for those drawn from the prior
    rhat, ess_b, ess_t = (np.empty(len(mode)) for _ in range(3))
    rest = np.array(free, dtype=int) if "rhat" in diag else np.arange(len(mode))
    if len(rest) < len(mode):
        rhat[model.keep], ess_b[model.keep], ess_t[model.keep] = diag["rhat"], diag["ess_bulk"], diag["ess_tail"]
    if len(rest):
        d_rest = smp.check(chains_x[:, :, rest], parallel=cores() >= 2)[0]
        rhat[rest], ess_b[rest], ess_t[rest] = d_rest["rhat"], d_rest["ess_bulk"], d_rest["ess_tail"]
    converged = bool(np.max(rhat) <= smp.RHAT_MAX and min(ess_b.min(), ess_t.min()) >= smp.ESS_MIN)
    flat = chains_x.reshape(-1, len(mode))
    keep = np.linspace(0, len(flat) - 1, min(draws, len(flat))).astype(int)
    # draws are stored as float32 (the cache); round them here so a fresh and a cached fit agree
    X = flat[keep].astype(np.float32).astype(np.float64)
    zm, zc = full.unit_filter(X, sc.unit, full=True)[1:]
    if not converged:
        worst = space.names[int(np.argmax(rhat))]
        notes.append(f"preliminary: the fit has not converged (split R-hat up to {np.max(rhat):.3f} for {worst}, "
                     f"minimum ESS {min(ess_b.min(), ess_t.min()):.0f}; needed R-hat <= 1.01 and ESS >= 400)")
    if full.n_obs == 0:
        notes.append(f"no actuals for {', '.join(sc.fit_units)}: the posterior is the prior (prior-only projection)")
    elif not any(ob.scaled for v in full.obs[sc.unit].values() for ob in v):
        donors = [u for u in sc.pool_with if any(full.obs[u].values())]
        notes.append(f"no actuals for {sc.unit}: its start levels come from the hierarchy of the starts file"
                     + (" and its plan base" if full.specs[sc.unit].plan_base else "")
                     + f", its rates are borrowed from {', '.join(donors) or 'the priors'}")
    names_d, der = full.derived(X)
    der = der.astype(np.float32).astype(np.float64)   # as the cache stores it
    prior_x = space.mean + space.sd * np.random.default_rng(np.random.SeedSequence([seed, 5])).standard_normal(
        (4000, len(space)))
    _, der_prior = full.derived(prior_x)
    dprior = np.array([[*np.quantile(der_prior[:, k], [0.05, 0.5, 0.95]),
                        np.var(np.log(np.maximum(der_prior[:, k], 1e-12)))] for k in range(len(names_d))]).reshape(-1, 4)
    diagnostics = dict(rhat_max=float(np.max(rhat)), ess_bulk_min=float(ess_b.min()), ess_tail_min=float(ess_t.min()),
                       evals_per_step=float(diag.get("evals_per_step", np.nan)),
                       pareto_khat=float(diag.get("khat", np.nan)),
                       rounds=int(diag.get("rounds", 0)), chains=int(chains), steps_per_round=int(steps),
                       converged=converged, max_rounds=int(max_rounds), sampled_parameters=int(len(model.keep)),
                       prior_parameters=int(len(free)))
    return Calibration(space, full.n_rates, mode, cov, X, zm, zc, full.T[sc.unit], full.n_obs, tuple(notes),
                       diagnostics, tuple(map(float, rhat)), tuple(map(float, ess_b)), tuple(map(float, ess_t)),
                       names_d, der, dprior)


ARRAYS = ("mode", "laplace_cov", "draws", "derived", "derived_prior")


def fit_key(sc: Scenario, **settings) -> str:
    """Hash of everything a fit depends on: structure, priors, start levels and actuals of the
    fit units, the fit settings, the seed and the package version."""
    from . import __version__
    model_inputs = {
        "version": __version__,
        "structure": repr(sc.structure),
        "rates": [repr(p) for p in sc.rates.params],
        "noise": repr(sc.noise),
        "pooling": repr(sc.pooling),
        "year_noise": repr(sorted(sc.year_noise.items())),
        "hierarchy": repr(sorted(sc.hierarchy.items())) + repr(sc.ratio_params) + repr(sc.regional),
        "starts": {u: repr(sc.starts[u]) for u in sc.fit_units},
        "fit_units": sc.fit_units,
        "rows": sorted(repr(r) for r in sc.rows if r.unit in sc.fit_units or sc.units[r.unit].parent in sc.fit_units),
        "settings": {k: repr(v) for k, v in sorted(settings.items()) if k not in ("chains", "steps", "max_rounds", "draws")},
        "seed": sc.seed,
    }
    return hashlib.sha256(json.dumps(model_inputs, sort_keys=True).encode("utf-8")).hexdigest()[:20]


THOROUGH = dict(max_rounds=160)
DEFAULT_ROUNDS = 80


def cached_fit(sc: Scenario, seed: int | None = None, use_cache: bool = True, thorough: bool = False,
               notify=None, meanwhile=None, **kw):
    """Fit, or reuse the fit cached under ``sc.fit_cache`` for the same inputs.

    The key covers the inputs, not the sampler's budget: a fit stops when it has converged,
    so a longer budget (``thorough``, for ``sim calibrate``) only matters for a fit that had
    not; a cached preliminary fit is refitted unless it already had the budget asked for.
    Returns (calibration, key, reused); key is None when a new fit could not be cached.
    The cache is a convenience: a damaged cache file is fitted again and an unwritable
    folder just means no cache; ``notify`` (a function of one line of text) is told either.

    ``meanwhile``: a function of no arguments that this process runs while a forked one
    reads the cached fit (the compiled filter's start-up, about a third of a second, is
    then hidden behind it); it runs in any case, also when there is no cache to read.
    """
    say = notify or (lambda msg: None)
    key = fit_key(sc, seed=seed, **kw)
    path = Path(sc.fit_cache) / f"{key}.npz" if sc.fit_cache else None
    budget = (THOROUGH if thorough else {}).get("max_rounds", kw.get("max_rounds", DEFAULT_ROUNDS))
    if use_cache and path is not None and (path.exists() or path.is_symlink()):
        if meanwhile is None:
            cal, why = _try_load(sc, path, seed, kw)
        else:
            (cal, why), _ = run_shared([(_try_load, (sc, path, seed, kw), 2.0), (meanwhile, (), 1.0)],
                                       cores() >= 2)
            meanwhile = None
        if cal is None:
            say(f"the cached fit {key} is damaged ({why}); fitting again")
        # a preliminary fit is reused only when it already had the budget a new one would get
        elif cal.converged or cal.diagnostics.get("max_rounds", 0) >= budget:
            return cal, key, True
    if meanwhile is not None:
        meanwhile()
    cal = fit(sc, seed=seed, **(THOROUGH if thorough else {}), **kw)
    if path is None:
        return cal, None, False
    try:
        save_fit(cal, path)
    except (OSError, ValueError) as exc:
        say(f"the fit was not cached ({_reason(exc)}); the next run fits again")
        return cal, None, False
    return cal, key, False


def _try_load(sc: Scenario, path: Path, seed, kw: dict):
    """(the cached fit, None) or (None, why it could not be read)."""
    try:
        return load_fit(sc, path, seed=seed, **kw), None
    except Exception as exc:   # noqa: BLE001  (any unreadable cache: fit again)
        return None, _reason(exc)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 100 else text[:97] + "..."


MAX_CACHE_BYTES = 64 << 20


def save_fit(cal: Calibration, path: Path) -> None:
    """Write ``cal`` to ``path`` atomically (a temporary file renamed into place): the draws
    (as float32, which :func:`fit` already rounded to), the mode and Laplace covariance, the
    derived start levels and the diagnostics; the filtered states are recomputed on load."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(T=cal.T, n_obs=cal.n_obs, notes=list(cal.notes), diagnostics=cal.diagnostics, rhat=list(cal.rhat),
                ess_bulk=list(cal.ess_bulk), ess_tail=list(cal.ess_tail), n_rates=cal.n_rates,
                names=list(cal.space.names), derived_names=list(cal.derived_names))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-fit-", suffix=".npz", dir=path.parent)
    arrays = {k: getattr(cal, k) for k in ARRAYS}
    arrays["draws"] = arrays["draws"].astype(np.float32)
    arrays["derived"] = arrays["derived"].astype(np.float32)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)
        os.chmod(tmp, 0o644)
        raise_if_interrupted()   # an interrupt Python swallowed leaves no cache behind
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_fit(sc: Scenario, path: Path, rows=None, until=None, prior_scale: float = 1.0, withheld=(), **_) -> Calibration:
    """Read a cached fit; raise ValueError (or OSError) unless every part is there, of the
    right shape and finite. The filtered states at T are recomputed from the draws."""
    import stat
    model = Model(sc, rows=rows, until=until, prior_scale=prior_scale, withheld=withheld)
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= MAX_CACHE_BYTES:
        raise ValueError("not a regular file of a plausible size" if st.st_size else "an empty file")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            arrays = {k: np.asarray(z[k], dtype=float) for k in ARRAYS}
    except (OSError, ValueError) as exc:
        raise ValueError(_reason(exc)) from None
    except Exception as exc:   # noqa: BLE001  (zip, json and CRC errors of a damaged file)
        raise ValueError(f"{type(exc).__name__}: {_reason(exc)}") from None
    n = len(model.space)
    if not isinstance(meta, dict) or meta.get("names") != list(model.space.names):
        raise ValueError("it holds other parameters")
    M = arrays["draws"].shape[0] if arrays["draws"].ndim == 2 else -1
    k = len(meta.get("derived_names", []))
    shapes = {"mode": (n,), "laplace_cov": (n, n), "draws": (M, n), "derived": (M, k), "derived_prior": (k, 4)}
    for name, shape in shapes.items():
        if M < 1 or arrays[name].shape != shape:
            raise ValueError(f"{name} has shape {arrays[name].shape}")
        if not np.all(np.isfinite(arrays[name])):
            raise ValueError(f"{name} has non-finite values")
    try:
        diag = meta["diagnostics"]
        if not isinstance(diag, dict) or not all(isinstance(diag.get(x), (int, float)) for x in
                                                 ("rhat_max", "ess_bulk_min", "ess_tail_min", "rounds", "chains")):
            raise ValueError("diagnostics")
        zm, zc = model.unit_filter(arrays["draws"], sc.unit, full=True)[1:]
        return Calibration(model.space, int(meta["n_rates"]), arrays["mode"], arrays["laplace_cov"], arrays["draws"],
                           zm, zc, int(meta["T"]), int(meta["n_obs"]), tuple(str(x) for x in meta["notes"]), diag,
                           tuple(float(x) for x in meta["rhat"]), tuple(float(x) for x in meta["ess_bulk"]),
                           tuple(float(x) for x in meta["ess_tail"]), tuple(str(x) for x in meta["derived_names"]),
                           arrays["derived"], arrays["derived_prior"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"its summary is incomplete ({_reason(exc)})") from None


def fitted_vs_published(sc: Scenario, cal: Calibration, seed: int = 0):
    """Posterior predictive of every fitted figure: its one-step-ahead prediction (before the
    filter sees it) with reporting noise, mixed over the posterior draws (a DataFrame)."""
    import pandas as pd
    model = Model(sc)
    rng = np.random.default_rng(seed)
    rows = []
    for u in sc.fit_units:
        rec = []
        model.unit_filter(cal.draws, u, record=rec)
        for unit, name, year, y, mean, var, bound in rec:
            sim = mean + np.sqrt(np.maximum(var, 0)) * rng.standard_normal(mean.shape)
            q = np.quantile(sim, [0.05, 0.5, 0.95])
            rows.append(dict(unit=unit, indicator=name, year=year, published=y, bound=bound, predicted_p05=q[0],
                             predicted_p50=q[1], predicted_p95=q[2], pit=float(np.mean(sim <= y))))
    return pd.DataFrame(rows)
