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
        self._lo = np.array([p.lo for p in params])
        self._hi = np.array([p.hi for p in params])
        # columns of each transform, for natural(): as Param.natural, any other kind is log-normal
        kinds = np.array([p.kind if p.kind in ("logit", "bounded", "shift") else "log" for p in params])
        self._groups = tuple((np.flatnonzero(kinds == k), k) for k in ("log", "logit", "bounded", "shift")
                             if (kinds == k).any())

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

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """For the compiled posterior (:func:`sim.kalman.log_post_batch`): the priors (n, 4)
        (mean, sd, lo, hi) and each transform's code (n,): 0 log, 1 logit, 2 bounded, 3 shift."""
        codes = {"logit": 1, "bounded": 2, "shift": 3}
        kinds = np.array([codes.get(p.kind, 0) for p in self.params], dtype=np.int64)
        return np.stack([self.mean, self.sd, self._lo, self._hi], axis=1).reshape(len(self), 4), kinds

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


__all__ = ["Param", "ParamSpace", "beta_to_logit_normal", "range_to_sd",
           "to_link", "from_link", "logit", "expit", "Z90"]
