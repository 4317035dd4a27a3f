"""Parameters: names, priors, and the transforms to and from the unconstrained space.

Every parameter lives on an unconstrained scale u, where its prior is normal:

* probabilities (``logit``): u = logit(q). A Beta(a, b) belief maps to a normal with
  mean psi(a) - psi(b) and variance psi1(a) + psi1(b) (digamma, trigamma): the first two
  moments of logit(q) under the Beta, exactly.
* rates and counts (``log``): u = log(x), a log-normal prior given by its median and the
  standard deviation of log(x). A start level given as "value within +-r" (a 90% range)
  has sd = log(1 + r) / 1.645.
* a bounded scale (``bounded``): x = lo + (hi - lo) * expit(u), for a quantity that must
  stay inside [lo, hi] (the reporting-noise scale: bounded away from zero, so that the
  posterior has no funnel where the noise vanishes and the levels are pinned exactly).
* an additive offset (``shift``): x = u (a pooled unit's offset on another rate's scale).

This module is the only place where the order of the parameter vector exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma, expit, logit, ndtri, polygamma

from .errors import InputError
from .tomlio import Table

Z90 = 1.6448536269514722


@dataclass(frozen=True)
class Param:
    name: str
    kind: str          # "logit", "log", "bounded", or "shift" (an additive offset on another parameter's scale)
    mean: float        # prior mean of u
    sd: float          # prior sd of u
    source: str
    zh: str = ""
    en: str = ""
    lo: float = 0.0    # bounds of a "bounded" parameter
    hi: float = 1.0

    def natural(self, u):
        if self.kind == "shift":
            return u
        if self.kind == "bounded":
            return self.lo + (self.hi - self.lo) * expit(u)
        return expit(u) if self.kind == "logit" else np.exp(u)

    def prior_interval(self, level=0.90):
        """Prior interval on the natural scale."""
        z = ndtri(0.5 + level / 2)
        return float(self.natural(self.mean - z * self.sd)), float(self.natural(self.mean + z * self.sd))


def beta_to_logit_normal(a: float, b: float) -> tuple[float, float]:
    """Mean and sd of logit(q) for q ~ Beta(a, b)."""
    return float(digamma(a) - digamma(b)), float(np.sqrt(polygamma(1, a) + polygamma(1, b)))


def range_to_sd(r: float) -> float:
    """sd of log(x) such that the 90% prior interval is value * [1/(1+r), 1+r]."""
    return float(np.log1p(r) / Z90)


class ParamSpace:
    """An ordered set of parameters with normal priors on their unconstrained scales."""

    def __init__(self, params: list[Param]):
        self.params = tuple(params)
        self.names = tuple(p.name for p in params)
        self.index = {n: i for i, n in enumerate(self.names)}
        self.mean = np.array([p.mean for p in params])
        self.sd = np.array([p.sd for p in params])
        self._logit = np.array([p.kind == "logit" for p in params])
        self._shift = np.array([p.kind == "shift" for p in params])
        self._bounded = np.array([p.kind == "bounded" for p in params])
        self._lo = np.array([p.lo for p in params])
        self._hi = np.array([p.hi for p in params])
        kinds = {"logit": "logit", "shift": "shift", "bounded": "bounded"}
        how = [kinds.get(p.kind, "log") for p in params]
        self._groups = tuple((np.flatnonzero(np.array(how) == k), k) for k in ("log", "logit", "bounded", "shift")
                             if k in how)

    def __len__(self):
        return len(self.params)

    def natural(self, u: np.ndarray) -> np.ndarray:
        """Map u (..., n) to natural values (..., n), column by column: exp for log-normal,
        expit for logit-normal, lo + (hi - lo) expit for bounded, the identity for shifts."""
        u = np.asarray(u, dtype=float)
        out = np.empty(u.shape)
        for cols, how in self._groups:
            if how == "log":
                out[..., cols] = np.exp(u[..., cols])
            elif how == "logit":
                out[..., cols] = expit(u[..., cols])
            elif how == "bounded":
                out[..., cols] = self._lo[cols] + (self._hi[cols] - self._lo[cols]) * expit(u[..., cols])
            else:
                out[..., cols] = u[..., cols]
        return out

    def log_prior(self, u: np.ndarray) -> np.ndarray:
        z = (np.asarray(u) - self.mean) / self.sd
        return -0.5 * np.sum(z * z, axis=-1) - np.sum(np.log(self.sd)) - 0.5 * len(self) * np.log(2 * np.pi)

    def scaled(self, factor: float, which=None) -> "ParamSpace":
        """A copy with prior sd multiplied by ``factor`` (for sensitivity analysis)."""
        import dataclasses
        return ParamSpace([dataclasses.replace(p, sd=p.sd * factor) if (which is None or p.name in which) else p
                           for p in self.params])


def to_link(values: np.ndarray, is_prob: np.ndarray) -> np.ndarray:
    """Rates (..., n) to their link scale: logit for probabilities, log for inflow rates."""
    v = np.asarray(values, dtype=float)
    return np.where(is_prob, logit(np.clip(v, 1e-12, 1 - 1e-12)), np.log(np.maximum(v, 1e-300)))


def from_link(u: np.ndarray, is_prob: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_link`."""
    u = np.asarray(u, dtype=float)
    return np.where(is_prob, expit(u), np.exp(np.where(is_prob, 0.0, u)))


def rate_prior(t: Table, name: str, kind: str) -> Param:
    """Read one [rates.NAME] table of a priors file."""
    source = t.string("source")
    zh, en = t.string("zh", default=name), t.string("en", default=name)
    fixed = t.number("fixed", default=None, lo=0.0, hi=100.0)   # an inflow above 100 per firm is a typo
    if fixed is not None:   # a rate known exactly (synthetic tests, or a planner's what-if)
        if kind == "logit" and not 0 < fixed < 1:
            raise InputError(t.file, f"{t.where}.fixed", "a probability strictly between 0 and 1", repr(fixed))
        t.close()
        return Param(name, kind, float(logit(fixed) if kind == "logit" else np.log(max(fixed, 1e-300))), 1e-4, source, zh, en)
    if kind == "logit":
        a, b = t.pair("beta", lo=1e-6, ordered=False)
        if a <= 0 or b <= 0:
            raise InputError(t.file, f"{t.where}.beta", "[a, b] with a > 0 and b > 0", repr([a, b]))
        if a + b > 60:
            raise InputError(t.file, f"{t.where}.beta", "a pseudo-sample size a + b <= 60 (a province is not a district)",
                             f"a + b = {a + b:g}")
        mean, sd = beta_to_logit_normal(a, b)
    else:
        median = t.number("median", lo=0.0, hi=100.0)
        if median <= 0:
            raise InputError(t.file, f"{t.where}.median", "a number > 0", repr(median))
        sd = t.number("log_sd", lo=0.01, hi=5.0)
        mean = float(np.log(median))
    t.close()
    return Param(name, kind, mean, sd, source, zh, en)


def bounded_prior(t: Table, name: str) -> Param:
    """A bounded scale: ``bounds = [lo, hi]``, ``median`` inside, ``logit_sd`` the prior sd of
    u = logit((x - lo) / (hi - lo))."""
    source = t.string("source")
    zh, en = t.string("zh", default=name), t.string("en", default=name)
    lo, hi = t.pair("bounds", lo=0.0)
    if not hi > lo:
        raise InputError(t.file, f"{t.where}.bounds", "[lo, hi] with lo < hi", repr([lo, hi]))
    median = t.number("median", lo=lo, hi=hi)
    if not lo < median < hi:
        raise InputError(t.file, f"{t.where}.median", f"a number strictly between {lo:g} and {hi:g}", repr(median))
    sd = t.number("logit_sd", lo=0.01, hi=5.0)
    t.close()
    return Param(name, "bounded", float(logit((median - lo) / (hi - lo))), sd, source, zh, en, lo, hi)


__all__ = ["Param", "ParamSpace", "beta_to_logit_normal", "range_to_sd", "rate_prior", "bounded_prior",
           "to_link", "from_link", "logit", "expit", "Z90"]
