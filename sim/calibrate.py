"""Calibration: fit the transition rates to the published actuals -> a frozen Calibration.

Likelihood. For each fit unit the expected dynamics of :mod:`sim.engine` define a
linear-Gaussian state-space model over z = [tiers, flows] (the large-population
approximation of the multinomial moves). A Kalman filter runs from the unit's start year
to its last actual, updating on every published actual (a row of the observation matrix:
the indicator's weights over states and flows), with reporting noise
r = (cv * y)^2 + 1/4 (cv per indicator from the structure file; 1/4 for rounding to whole
firms). Missing years are simply not updated on. Targets never enter.

Parameters: the shared rates (priors file) and, per fit unit, its start levels (starts
file), all normal on an unconstrained scale (:mod:`sim.params`). Units named in
``pool_with`` share the rates (complete pooling) and contribute their own actuals.

Posterior. The mode (L-BFGS-B) and the Laplace covariance (finite-difference Hessian)
give a proposal; importance sampling with a multivariate-t proposal (5 degrees of
freedom) corrects it. The weighted draws are what the projection uses; the report gives
the effective sample size and whether the Laplace approximation agreed.
For each draw, the filtered mean and covariance of the main unit's state at its last
actual year are kept: the projection starts from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from .engine import Compiled
from .params import ParamSpace
from .scenario import Scenario

LOG2PI = np.log(2 * np.pi)
START_NAMES = ("hte", "sme", "reserve", "leader_share")


@dataclass(frozen=True)
class Calibration:
    """The fitted posterior of one scenario's fit units."""
    space: ParamSpace
    n_rates: int
    mode: np.ndarray
    laplace_cov: np.ndarray
    draws: np.ndarray          # (M, n) unconstrained
    weights: np.ndarray        # (M,) normalised importance weights
    ess: float
    z_mean: np.ndarray         # (M, K+F) filtered state of the main unit at year T
    z_cov: np.ndarray          # (M, K+F, K+F)
    T: int
    n_obs: int
    laplace_agrees: bool
    notes: tuple[str, ...]

    def summary(self):
        """One row per parameter: prior, posterior, contraction and label (a DataFrame)."""
        import pandas as pd
        w = self.weights
        rows = []
        for i, p in enumerate(self.space.params):
            u = self.draws[:, i]
            nat = p.natural(u)
            mu = np.sum(w * u)
            var_post = np.sum(w * (u - mu) ** 2)
            contraction = 1.0 - var_post / p.sd ** 2
            lo, hi = p.prior_interval(0.90)
            q05, q95 = weighted_quantile(nat, w, [0.05, 0.95])
            rows.append(dict(parameter=p.name, prior_median=float(p.natural(p.mean)), prior_p05=lo, prior_p95=hi,
                             prior_source=p.source, post_mean=float(np.sum(w * nat)), post_p05=q05, post_p95=q95,
                             contraction=float(contraction), label=label(contraction)))
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


def weighted_quantile(x, w, qs):
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    cw = cw / cw[-1]
    return [float(x[order][min(np.searchsorted(cw, q), len(x) - 1)]) for q in qs]


class Model:
    """The likelihood of one scenario's actuals as a function of the unconstrained vector."""

    def __init__(self, sc: Scenario, rows=None, until: int | None = None, prior_scale: float = 1.0):
        self.sc = sc
        self.c = Compiled(sc.structure)
        params = list(sc.rates.params)
        for u in sc.fit_units:
            params += list(sc.starts[u].params)
        space = ParamSpace(params)
        self.space = space.scaled(prior_scale) if prior_scale != 1.0 else space
        self.n_rates = len(sc.rates)
        rows = sc.rows if rows is None else rows
        self.obs = {}
        for u in sc.fit_units:
            start = sc.starts[u].year
            obs = {}
            for r in rows:
                if r.unit != u or not r.is_actual or r.indicator not in sc.structure.indicators:
                    continue
                if r.year < start or (until is not None and r.year > until):
                    continue
                ind = sc.structure.indicators[r.indicator]
                if ind.is_flow and r.year == start:
                    continue   # flows of the start year are not modelled
                obs.setdefault(r.year, []).append(
                    (sc.structure.indicator_weights(r.indicator), r.value, (ind.cv * r.value) ** 2 + 0.25))
            self.obs[u] = obs
        self.T = {u: max(self.obs[u], default=sc.starts[u].year) for u in sc.fit_units}
        self.n_obs = sum(len(v) for o in self.obs.values() for v in o.values())
        self.start_index = {u: [self.space.index[f"{u}.{n}"] for n in START_NAMES] for u in sc.fit_units}

    def unit_filter(self, theta: np.ndarray, unit: str):
        """Log-likelihood of the unit's actuals, and the filtered (mean, cov) at its year T."""
        nat = self.space.natural(theta)
        rates = nat[: self.n_rates]
        hte, sme, res, ls = nat[self.start_index[unit]]
        x0 = self.c.start_state(hte, sme, res, ls)
        G, cvec, pis, lam = self.c.system(rates, self.c.sizes(x0))
        n = self.c.K + self.c.F
        m = np.concatenate([x0, np.zeros(self.c.F)])
        P = np.zeros((n, n))
        ll = 0.0
        start = self.sc.starts[unit].year
        for year in range(start, self.T[unit] + 1):
            if year > start:
                Q = self.c.noise(m[: self.c.K], pis, lam)
                m = G @ m + cvec
                P = G @ P @ G.T + Q
            for h, y, r in self.obs[unit].get(year, ()):
                Ph = P @ h
                S = h @ Ph + r
                e = y - h @ m
                ll += -0.5 * (LOG2PI + np.log(S) + e * e / S)
                K = Ph / S
                m = m + K * e
                P = P - np.outer(K, Ph)
        return ll, m, 0.5 * (P + P.T)

    def log_post(self, theta: np.ndarray) -> float:
        theta = np.asarray(theta, dtype=float)
        lp = float(self.space.log_prior(theta))
        for u in self.sc.fit_units:
            lp += self.unit_filter(theta, u)[0]
        return lp if np.isfinite(lp) else -1e300


def hessian(f, x, eps=1e-3):
    """Central finite-difference Hessian of a scalar function."""
    n = len(x)
    H = np.zeros((n, n))
    f0 = f(x)
    E = np.eye(n) * eps
    fp = np.array([f(x + E[i]) for i in range(n)])
    fm = np.array([f(x - E[i]) for i in range(n)])
    for i in range(n):
        H[i, i] = (fp[i] - 2 * f0 + fm[i]) / eps ** 2
        for j in range(i + 1, n):
            H[i, j] = H[j, i] = (f(x + E[i] + E[j]) - fp[i] - fp[j] + 2 * f0 - fm[i] - fm[j]
                                 + f(x - E[i] - E[j])) / (2 * eps ** 2)
    return H


def fit(sc: Scenario, draws: int = 2000, seed: int | None = None, rows=None, until: int | None = None,
        prior_scale: float = 1.0) -> Calibration:
    """Fit a scenario's rates and start levels; return the importance-weighted posterior."""
    model = Model(sc, rows=rows, until=until, prior_scale=prior_scale)
    space = model.space
    notes = []
    neg = lambda th: -model.log_post(th)  # noqa: E731
    res = optimize.minimize(neg, space.mean.copy(), method="L-BFGS-B",
                            options=dict(maxiter=2000, maxfun=200000))
    mode = res.x
    if not res.success:
        notes.append(f"the optimiser stopped early ({res.message}); the importance sampler corrects the proposal")
    H = -hessian(model.log_post, mode)
    H = 0.5 * (H + H.T)
    vals, vecs = np.linalg.eigh(H)
    floor = 1.0 / (4.0 * np.max(space.sd) ** 2)
    if np.any(vals < floor):
        notes.append("the Hessian was not positive definite in some directions; floored at a quarter of the prior precision")
    vals = np.maximum(vals, floor)
    cov = (vecs / vals) @ vecs.T

    rng = np.random.default_rng(np.random.SeedSequence([sc.seed if seed is None else seed, 1]))
    df = 5
    prop = stats.multivariate_t(loc=mode, shape=cov * 1.2, df=df, seed=rng)
    X = np.atleast_2d(prop.rvs(size=draws))
    logq = prop.logpdf(X)
    main = sc.unit
    n = model.c.K + model.c.F
    logp = np.empty(draws)
    zm = np.empty((draws, n))
    zc = np.empty((draws, n, n))
    for i, th in enumerate(X):
        lp = float(space.log_prior(th))
        for u in sc.fit_units:
            ll, m, P = model.unit_filter(th, u)
            lp += ll
            if u == main:
                zm[i], zc[i] = m, P
        logp[i] = lp if np.isfinite(lp) else -np.inf
    logw = logp - logq
    logw -= np.max(logw)
    w = np.exp(logw)
    w /= w.sum()
    ess = float(1.0 / np.sum(w ** 2))
    if ess < 0.05 * draws:
        notes.append(f"importance sampling effective sample size is low ({ess:.0f} of {draws}); intervals are rougher")
    mu_is = w @ X
    sd_is = np.sqrt(w @ (X - mu_is) ** 2)
    sd_la = np.sqrt(np.diag(cov))
    agrees = bool(np.all(np.abs(mu_is - mode) <= 0.25 * sd_is + 1e-9) and np.all((sd_la / sd_is > 0.75) & (sd_la / sd_is < 1.33)))
    notes.append("the Laplace approximation agreed with the importance sampler" if agrees else
                 "the Laplace approximation disagreed with the importance sampler; the sampler's answer is used")
    if model.n_obs == 0:
        notes.append(f"no actuals for {', '.join(sc.fit_units)}: the posterior is the prior (prior-only projection)")
    return Calibration(space, model.n_rates, mode, cov, X, w, ess, zm, zc, model.T[main], model.n_obs, agrees,
                       tuple(notes))
