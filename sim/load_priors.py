"""Prior tables of the priors file (``calibration/priors.toml``): a TOML table -> a :class:`sim.params.Param`.

The reading and validation at the edge; :mod:`sim.params` holds the parameter types and
transforms and never sees TOML. Every problem is one sentence naming the file, the key, what
was expected and what was found (:class:`sim.errors.InputError`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logit

from .errors import InputError
from .params import Param, beta_to_logit_normal
from .tomlio import Table


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
