"""Calibration: fit the transition rates to the published actuals -> a frozen Calibration.

Likelihood. For each fit unit the expected dynamics of :mod:`sim.engine` define a
linear-Gaussian state-space model over z = [tiers, flows] (the large-population
approximation of the multinomial moves). A Kalman filter runs from the unit's start year
to its last actual, updating on every published actual (a row of the observation matrix:
the indicator's weights over states and flows), with reporting noise
r = (s * cv * y)^2 + 1/4 (1/4 for rounding to whole firms), where the cv of each indicator (structure file) is multiplied by a fitted reporting-
noise scale with its own prior (priors file, [reporting_noise]). Missing years are simply not
updated on. Targets never enter.

Parameters: the shared rates (priors file), the reporting-noise scale and, per fit unit,
its start levels (starts file), all normal on an unconstrained scale (:mod:`sim.params`).
Units named in ``pool_with`` contribute their own actuals and share the rates: completely,
except the rates the priors file lists under [pooling] partial, where each pooled unit has
its own offset from the scenario's unit, normal with sd tau on the link scale.

Posterior. The mode (L-BFGS-B) and the Laplace covariance (finite-difference Hessian)
are checked against a random-walk Metropolis sampler whose chains all advance in one
batched filter evaluation; the sampler's draws are what the projection uses, and the
report gives split R-hat, the effective sample size and whether Laplace agreed. (Plain
importance sampling from the Laplace fit was tried first: with 17-25 parameters and
heavier-than-normal tails in the prior-dominated directions its effective sample size
fell to a few dozen, so the sampler replaced it.)
For each draw, the filtered mean and covariance of the main unit's state at its last
actual year are kept: the projection starts from them.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import optimize

from .engine import Compiled
from .params import Param, ParamSpace
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
    diagnostics: dict
    rhat: tuple
    ess_per_param: tuple

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
                             contraction=float(contraction), label=label(contraction),
                             rhat=self.rhat[i], ess=self.ess_per_param[i]))
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
        params = list(sc.rates.params) + [sc.noise]
        for u in sc.fit_units:
            params += list(sc.starts[u].params)
        partial, tau, src = sc.pooling
        for u in sc.pool_with:   # partial pooling: the pooled units' own offsets of some rates
            params += [Param(f"{u}.offset.{k}", "shift", 0.0, tau, src) for k in partial]
        space = ParamSpace(params)
        # prior_scale varies the rate priors only (sensitivity analysis); start levels keep theirs
        self.space = space.scaled(prior_scale, which=set(sc.rates.names)) if prior_scale != 1.0 else space
        self.n_rates = len(sc.rates)
        self.noise_index = self.space.index[sc.noise.name]
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
                    (sc.structure.indicator_weights(r.indicator), r.value, (ind.cv * r.value) ** 2, r.indicator))
            self.obs[u] = obs
        self.T = {u: max(self.obs[u], default=sc.starts[u].year) for u in sc.fit_units}
        # flows nobody observed never feed back into the tiers: the filter can leave them out
        n = self.c.K + self.c.F
        seen = np.zeros(n, bool)
        seen[: self.c.K] = True
        for o in self.obs.values():
            for lst in o.values():
                for h, *_ in lst:
                    seen |= h != 0
        self.keep = np.flatnonzero(seen)
        self.n_obs = sum(len(v) for o in self.obs.values() for v in o.values())
        self.start_index = {u: [self.space.index[f"{u}.{n}"] for n in START_NAMES] for u in sc.fit_units}
        rate_pos = {n: i for i, n in enumerate(sc.rates.names)}
        self.offsets = {u: [(rate_pos[k], self.space.index[f"{u}.offset.{k}"]) for k in sc.pooling[0]]
                        for u in sc.pool_with}

    def unit_filter(self, theta: np.ndarray, unit: str, full: bool = False, record: list | None = None):
        """Log-likelihood of a unit's actuals and the filtered (mean, cov) at its year T.

        ``theta`` is (n,) or a batch (B, n); returns arrays with a leading batch axis. The
        state holds the tiers and the observed flows only, unless ``full`` (all flows).
        ``record``: a list that receives (unit, indicator, year, published, predicted mean,
        predicted variance) per observation, the prediction made before seeing it.
        """
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        c = self.c
        nat = self.space.natural(theta)
        x0 = c.start_states(nat[:, self.start_index[unit]])
        noise2 = nat[:, self.noise_index] ** 2     # the reporting noise scale, squared (B,)
        rates = nat[:, : self.n_rates]
        if self.offsets.get(unit):
            u_rates = theta[:, : self.n_rates].copy()
            for k, j in self.offsets[unit]:
                u_rates[:, k] += theta[:, j]
            rates = self.space.natural(np.concatenate([u_rates, theta[:, self.n_rates:]], axis=1))[:, : self.n_rates]
        G, cvec, pis, lam = c.system_batch(rates, c.sizes(x0))
        keep = np.arange(c.K + c.F) if full else self.keep
        G, cvec = G[:, keep][:, :, keep], cvec[:, keep]
        B, n = theta.shape[0], len(keep)
        m = np.concatenate([x0, np.zeros((B, c.F))], axis=1)[:, keep]
        P = np.zeros((B, n, n))
        ll = np.zeros(B)
        start = self.sc.starts[unit].year
        for year in range(start, self.T[unit] + 1):
            if year > start:
                Q = c.noise_batch(m[:, : c.K], pis, lam)[:, keep][:, :, keep]
                m = np.einsum("bij,bj->bi", G, m) + cvec
                P = G @ P @ G.transpose(0, 2, 1) + Q
            for h, y, r, name in self.obs[unit].get(year, ()):
                h = h[keep]
                Ph = P @ h
                S = Ph @ h + r * noise2 + 0.25
                e = y - m @ h
                if record is not None:   # one-step-ahead prediction of the published value
                    record.append((unit, name, year, y, m @ h, S))
                ll += -0.5 * (LOG2PI + np.log(S) + e * e / S)
                K = Ph / S[:, None]
                m = m + K * e[:, None]
                P = P - K[:, :, None] * Ph[:, None, :]
        return ll, m, 0.5 * (P + P.transpose(0, 2, 1))

    def likelihood_free(self) -> list[int]:
        """Indices of parameters no actual depends on: the main unit's start levels when it
        has no actual (its state feeds only the projection, never the likelihood)."""
        u = self.sc.unit
        if any(self.obs[u].values()):
            return []
        return list(self.start_index[u])

    def log_post(self, theta: np.ndarray) -> np.ndarray:
        """Log posterior (up to a constant) of (B, n) parameter vectors -> (B,)."""
        theta = np.atleast_2d(np.asarray(theta, dtype=float))
        lp = np.asarray(self.space.log_prior(theta), dtype=float)
        for u in self.sc.fit_units:
            lp = lp + self.unit_filter(theta, u)[0]
        return np.where(np.isfinite(lp), lp, -1e300)



def neg_log_post_and_grad(log_post, theta: np.ndarray, eps: float = 1e-5):
    """Negative log posterior and its central-difference gradient, in one batched call."""
    n = len(theta)
    E = np.eye(n) * eps
    f = -log_post(np.concatenate([theta[None], theta + E, theta - E]))
    return f[0], (f[1: n + 1] - f[n + 1:]) / (2 * eps)


class Reduced:
    """A Model restricted to some of its parameters; the others sit at their prior means
    (they do not enter the likelihood) and are drawn from the prior afterwards."""

    def __init__(self, model: "Model", keep: list[int]):
        self.model, self.keep = model, np.array(keep, dtype=int)
        self.drop = np.array([i for i in range(len(model.space)) if i not in set(keep)], dtype=int)
        self.mean, self.sd = model.space.mean[self.keep], model.space.sd[self.keep]

    def full(self, theta_r: np.ndarray) -> np.ndarray:
        theta_r = np.atleast_2d(theta_r)
        out = np.tile(self.model.space.mean, (theta_r.shape[0], 1))
        out[:, self.keep] = theta_r
        return out

    def log_post(self, theta_r: np.ndarray) -> np.ndarray:
        theta = self.full(theta_r)
        # the dropped parameters' prior terms are constant here: they only shift the level
        return self.model.log_post(theta)

    def value_and_grad(self, theta_r: np.ndarray):
        return neg_log_post_and_grad(self.log_post, theta_r)

    def expand(self, x_r: np.ndarray, rng) -> np.ndarray:
        """Full vectors from reduced ones (any leading shape); dropped ones from the prior
        (or at the prior mean when rng is None)."""
        shape = x_r.shape[:-1]
        flat = x_r.reshape(-1, x_r.shape[-1])
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
    f = f_batch(pts)
    f0, fp, fm = f[0], f[1: n + 1], f[n + 1: 2 * n + 1]
    fpp, fmm = f[2 * n + 1: 2 * n + 1 + len(iu)], f[2 * n + 1 + len(iu):]
    H = np.diag((fp - 2 * f0 + fm) / eps ** 2)
    H[iu, ju] = H[ju, iu] = (fpp - fp[iu] - fp[ju] + 2 * f0 - fm[iu] - fm[ju] + fmm) / (2 * eps ** 2)
    return H


_BLOCK_JOB = None   # (model, mode, cov, seed, chains, steps, burn) for forked workers


def _run_block(k: int):
    model, mode, cov, seed, chains, steps, burn = _BLOCK_JOB
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1, k]))
    return metropolis(model, mode, cov, rng, chains=chains, steps=steps, burn=burn)


def run_chains(model: Model, mode, cov, seed: int, chains: int, steps: int, burn: int, blocks: int = 2):
    """The sampler's chains in ``blocks`` independent groups with fixed seeds, run on the
    machine's cores at once where it has more than one (the result does not depend on it)."""
    import multiprocessing as mp
    global _BLOCK_JOB
    _BLOCK_JOB = (model, mode, cov, seed, chains // blocks, steps, burn)
    try:
        if (os.cpu_count() or 1) > 1 and "fork" in mp.get_all_start_methods():
            with mp.get_context("fork").Pool(min(blocks, os.cpu_count())) as pool:
                parts = pool.map(_run_block, range(blocks))
        else:
            parts = [_run_block(k) for k in range(blocks)]
    finally:
        _BLOCK_JOB = None
    return np.concatenate([p[0] for p in parts], axis=1), float(np.mean([p[1] for p in parts]))


def metropolis(model: Model, mode, cov, rng, chains=32, steps=1200, burn=400):
    """Random-walk Metropolis, all chains advanced together in one batched evaluation.

    Proposal N(0, s^2 Sigma) with Sigma the Laplace covariance, s = 2.38 / sqrt(d) adapted
    during burn-in toward an acceptance rate of about 0.25; chains start from the Laplace
    approximation. Returns the post-burn-in states (steps - burn, chains, d) and the
    acceptance rate after burn-in.
    """
    d = len(mode)
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(d))
    x = mode + rng.standard_normal((chains, d)) @ L.T
    lp = model.log_post(x)
    scale = 2.38 / np.sqrt(d)
    out = np.empty((steps - burn, chains, d))
    hist = np.empty((burn, chains, d))
    acc, acc_window = 0, 0
    for s in range(steps):
        prop = x + scale * (rng.standard_normal((chains, d)) @ L.T)
        lpp = model.log_post(prop)
        ok = np.log(rng.random(chains)) < lpp - lp
        x[ok], lp[ok] = prop[ok], lpp[ok]
        acc_window += ok.mean()
        if s < burn:
            hist[s] = x
        if s < burn and (s + 1) % 50 == 0:
            scale *= np.exp((acc_window / 50) - 0.25)
            acc_window = 0
        if s + 1 in (burn // 2, 3 * burn // 4):
            # adapt the proposal shape to the chains' own covariance (the Laplace one can be off)
            recent = hist[s + 1 - burn // 4: s + 1].reshape(-1, d)
            L = np.linalg.cholesky(np.cov(recent.T) + 1e-9 * np.eye(d))
            scale = 2.38 / np.sqrt(d)
        if s >= burn:
            out[s - burn] = x
            acc += ok.mean()
    return out, acc / (steps - burn)


def split_rhat(x: np.ndarray) -> np.ndarray:
    """Split R-hat per parameter of chains x (n, chains, d) (Gelman et al. 2013)."""
    n = x.shape[0] // 2
    halves = np.concatenate([x[:n], x[n: 2 * n]], axis=1)
    W = halves.var(axis=0, ddof=1).mean(axis=0)
    B = n * halves.mean(axis=0).var(axis=0, ddof=1)
    var = (n - 1) / n * W + B / n
    return np.sqrt(var / np.maximum(W, 1e-300))


def ess_bulk(x: np.ndarray) -> np.ndarray:
    """Effective sample size per parameter (chain-averaged autocorrelation, Geyer's pairs)."""
    n, C, d = x.shape
    xc = x - x.mean(axis=0)
    f = np.fft.rfft(xc, n=2 * n, axis=0)
    ac = np.fft.irfft(f * np.conj(f), axis=0)[:n] / n
    var = x.var(axis=(0, 1))
    rho = 1 - (ac[0].mean(axis=0) - ac.mean(axis=1)) / np.maximum(var, 1e-300)
    out = np.empty(d)
    for j in range(d):
        s, t = 0.0, 1
        while t + 1 < n:
            pair = rho[t, j] + rho[t + 1, j]
            if pair < 0:
                break
            s += pair
            t += 2
        out[j] = n * C / (1 + 2 * s)
    return out


def fit(sc: Scenario, draws: int = 4000, seed: int | None = None, rows=None, until: int | None = None,
        prior_scale: float = 1.0, chains: int = 32, steps: int = 1600, burn: int = 800) -> Calibration:
    """Fit a scenario's rates and start levels; return the posterior draws.

    Parameters the likelihood cannot see (the start levels of a main unit with no actuals)
    have the prior as their posterior exactly: they are drawn from it, and the sampler works
    on the others only.
    """
    full = Model(sc, rows=rows, until=until, prior_scale=prior_scale)
    space = full.space
    free = full.likelihood_free()
    model = Reduced(full, [i for i in range(len(space)) if i not in free])
    notes = []
    res = optimize.minimize(model.value_and_grad, model.mean.copy(), jac=True, method="L-BFGS-B",
                            options=dict(maxiter=2000, maxfun=20000))
    mode_r = res.x
    if not res.success:
        notes.append(f"the optimiser stopped early ({res.message}); the sampler corrects the proposal")
    H = -hessian(model.log_post, mode_r)
    H = 0.5 * (H + H.T)
    vals, vecs = np.linalg.eigh(H)
    floor = 1.0 / (4.0 * np.max(model.sd) ** 2)
    if np.any(vals < floor):
        notes.append("the Hessian was not positive definite in some directions; floored at a quarter of the prior precision")
    vals = np.maximum(vals, floor)
    cov_r = (vecs / vals) @ vecs.T

    seed = sc.seed if seed is None else seed
    chains_r, accept = run_chains(model, mode_r, cov_r, seed, chains, steps, burn)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    chains_x = model.expand(chains_r, rng)                  # likelihood-free parameters from the prior
    mode, cov = model.expand(mode_r[None], None)[0], model.expand_cov(cov_r)
    rhat, ess_par = split_rhat(chains_x), ess_bulk(chains_x)
    if free:
        rhat[free], ess_par[free] = 1.0, float(chains_x.shape[0] * chains_x.shape[1])
    flat = chains_x.reshape(-1, len(mode))
    keep = np.linspace(0, len(flat) - 1, min(draws, len(flat))).astype(int)
    X = flat[keep]
    w = np.full(len(X), 1.0 / len(X))
    _, zm, zc = full.unit_filter(X, sc.unit, full=True)
    ess = float(np.min(ess_par))
    if np.max(rhat) > 1.05:
        worst = space.names[int(np.argmax(rhat))]
        notes.append(f"the sampler has not fully converged (split R-hat up to {np.max(rhat):.2f}, for {worst})")
    if ess < 100:
        notes.append(f"the sampler's effective sample size is low (minimum {ess:.0f}); intervals are rougher")
    mu_s, sd_s = flat.mean(0), flat.std(0)
    sd_la = np.sqrt(np.diag(cov))
    agrees = bool(np.all(np.abs(mu_s - mode) <= 0.25 * sd_s + 1e-9) and np.all((sd_la / sd_s > 0.75) & (sd_la / sd_s < 1.33)))
    notes.append("the Laplace approximation agreed with the sampler" if agrees else
                 "the Laplace approximation disagreed with the sampler; the sampler's answer is used")
    if full.n_obs == 0:
        notes.append(f"no actuals for {', '.join(sc.fit_units)}: the posterior is the prior (prior-only projection)")
    elif not any(full.obs[sc.unit].values()):
        donors = [u for u in sc.pool_with if any(full.obs[u].values())]
        notes.append(f"no actuals for {sc.unit}: its start levels are assumptions (starts file) and its rates are "
                     f"borrowed from {', '.join(donors) or 'the priors'}")
    diag = dict(rhat_max=float(np.max(rhat)), ess_min=ess, acceptance=float(accept),
                chains=chains, steps=steps, burn=burn)
    return Calibration(space, full.n_rates, mode, cov, X, w, ess, zm, zc, full.T[sc.unit], full.n_obs, agrees,
                       tuple(notes), diag, tuple(map(float, rhat)), tuple(map(float, ess_par)))


ARRAYS = ("mode", "laplace_cov", "draws", "weights", "z_mean", "z_cov")


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
        "starts": {u: repr(sc.starts[u]) for u in sc.fit_units},
        "fit_units": sc.fit_units,
        "actuals": sorted(repr((r.unit, r.indicator, r.year, r.value, r.kind, r.derived_from)) for r in sc.rows
                          if r.unit in sc.fit_units and r.is_actual),
        "settings": {k: repr(v) for k, v in sorted(settings.items()) if k not in ("chains", "steps", "burn", "draws")},
        "seed": sc.seed,
    }
    return hashlib.sha256(json.dumps(model_inputs, sort_keys=True).encode("utf-8")).hexdigest()[:20]


THOROUGH = dict(chains=64, steps=6000, burn=2000)


def cached_fit(sc: Scenario, seed: int | None = None, use_cache: bool = True, thorough: bool = False,
               notify=None, **kw):
    """Fit, or reuse the fit cached under ``sc.fit_cache`` for the same inputs.

    The key covers the inputs, not the sampler's settings: ``sim calibrate`` fits with long
    chains (``thorough``) and every later ``sim run`` of the same inputs reuses that fit;
    a run that finds no cached fit makes a quick one. Returns (calibration, key, reused);
    key is None when a new fit could not be cached.
    The cache is a convenience: a damaged cache file is fitted again and an unwritable
    folder just means no cache; ``notify`` (a function of one line of text) is told either.
    """
    say = notify or (lambda msg: None)
    key = fit_key(sc, seed=seed, **kw)
    path = Path(sc.fit_cache) / f"{key}.npz" if sc.fit_cache else None
    if use_cache and path is not None and (path.exists() or path.is_symlink()):
        try:
            cal = load_fit(sc, path, seed=seed, **kw)
        except Exception as exc:   # noqa: BLE001  (any unreadable cache: fit again)
            say(f"the cached fit {key} is damaged ({_reason(exc)}); fitting again")
        else:
            if not thorough or cal.diagnostics.get("steps", 0) >= THOROUGH["steps"]:
                return cal, key, True
    cal = fit(sc, seed=seed, **(THOROUGH if thorough else {}), **kw)
    if path is None:
        return cal, None, False
    try:
        save_fit(cal, path)
    except (OSError, ValueError) as exc:
        say(f"the fit was not cached ({_reason(exc)}); the next run fits again")
        return cal, None, False
    return cal, key, False


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    text = " ".join(str(text).split())
    return text if len(text) <= 100 else text[:97] + "..."


MAX_CACHE_BYTES = 1 << 30


def save_fit(cal: Calibration, path: Path) -> None:
    """Write ``cal`` to ``path`` atomically (a temporary file renamed into place); a fit with
    non-finite numbers is refused (ValueError), so a broken fit is never reused."""
    import contextlib
    bad = [k for k in ARRAYS if not np.all(np.isfinite(getattr(cal, k)))]
    if bad:
        raise ValueError(f"non-finite values in {', '.join(bad)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(T=cal.T, n_obs=cal.n_obs, ess=cal.ess, laplace_agrees=cal.laplace_agrees, notes=list(cal.notes),
                diagnostics=cal.diagnostics, rhat=list(cal.rhat), ess_per_param=list(cal.ess_per_param),
                n_rates=cal.n_rates, names=list(cal.space.names))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-fit-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **{k: getattr(cal, k) for k in ARRAYS})
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_fit(sc: Scenario, path: Path, rows=None, until=None, prior_scale: float = 1.0, **_) -> Calibration:
    """Read a cached fit; raise ValueError (or OSError) unless every part is there, of the
    right shape and finite."""
    import stat
    model = Model(sc, rows=rows, until=until, prior_scale=prior_scale)
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
    zdim = arrays["z_mean"].shape[-1] if arrays["z_mean"].ndim == 2 else -1
    shapes = {"mode": (n,), "laplace_cov": (n, n), "draws": (M, n), "weights": (M,), "z_mean": (M, zdim),
              "z_cov": (M, zdim, zdim)}
    for k, shape in shapes.items():
        if M < 1 or zdim < 1 or arrays[k].shape != shape:
            raise ValueError(f"{k} has shape {arrays[k].shape}")
        if not np.all(np.isfinite(arrays[k])):
            raise ValueError(f"{k} has non-finite values")
    w = arrays["weights"]
    if np.any(w < 0) or not abs(w.sum() - 1.0) < 1e-6:
        raise ValueError("the weights are not a distribution")
    try:
        diag = meta["diagnostics"]
        cal = Calibration(model.space, int(meta["n_rates"]), arrays["mode"], arrays["laplace_cov"], arrays["draws"],
                          w, float(meta["ess"]), arrays["z_mean"], arrays["z_cov"], int(meta["T"]), int(meta["n_obs"]),
                          bool(meta["laplace_agrees"]), tuple(str(x) for x in meta["notes"]), diag,
                          tuple(float(x) for x in meta["rhat"]), tuple(float(x) for x in meta["ess_per_param"]))
        if not isinstance(diag, dict) or not all(isinstance(diag.get(k), (int, float)) for k in
                                                 ("rhat_max", "ess_min", "acceptance", "chains", "steps", "burn")):
            raise ValueError("diagnostics")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"its summary is incomplete ({_reason(exc)})") from None
    return cal


def fitted_vs_published(sc: Scenario, cal: Calibration, seed: int = 0):
    """Posterior predictive of every fitted actual: its one-step-ahead prediction (before the
    filter sees it) with reporting noise, mixed over the posterior draws (a DataFrame)."""
    import pandas as pd
    model = Model(sc)
    rng = np.random.default_rng(seed)
    rows = []
    for u in sc.fit_units:
        rec = []
        model.unit_filter(cal.draws, u, record=rec)
        for unit, name, year, y, mean, var in rec:
            sim = mean + np.sqrt(np.maximum(var, 0)) * rng.standard_normal(mean.shape)
            q = np.quantile(sim, [0.05, 0.5, 0.95])
            rows.append(dict(unit=unit, indicator=name, year=year, published=y, predicted_p05=q[0],
                             predicted_p50=q[1], predicted_p95=q[2], pit=float(np.mean(sim <= y))))
    return pd.DataFrame(rows)

