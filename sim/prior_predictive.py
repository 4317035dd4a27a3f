"""Prior-predictive check: the growth that the priors alone imply, against regional evidence.

For each unit of a scenario's fit, parameters are drawn from the prior (rates, the
hierarchy's ratios and the unit's own start parameters), the unit's start tiers are built
as in the fit, and the expected dynamics (:meth:`sim.engine.Compiled.expected_step`) are
run forward. The one-year growth and the three-year annualised growth of every key
indicator are summarised by their quantiles and set against the regional evidence listed
in the priors file (``[[growth_evidence]]``: China, Zhejiang, Ningbo, Yuyao, each with its
source). A prior that cannot produce the evidence would make every forecast of a unit
without actuals wrong before any data is seen: the priors file gives the reasoning for
each rate's prior, and a test checks that the one-year valid-HTE growth's 90% interval
covers the 18% and 28% a year of the regional series for every shipped unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .calibrate import Model

QUANTILES = (0.05, 0.25, 0.50, 0.75, 0.95)


def prior_draws(model: Model, n: int, rng: np.random.Generator) -> np.ndarray:
    sp = model.space
    return sp.mean + sp.sd * rng.standard_normal((n, len(sp)))


def growth_table(sc, n: int = 4000, seed: int = 0, indicators=None) -> pd.DataFrame:
    """Quantiles of 1-year and 3-year (annualised) growth per unit and indicator under the
    prior: rows (unit, indicator, years, p05, p25, p50, p75, p95)."""
    model = Model(sc)
    c = sc.compiled
    rng = np.random.default_rng(np.random.SeedSequence([seed, 61]))
    theta = prior_draws(model, n, rng)
    nat = model.space.natural(theta)
    st = sc.structure
    inds = list(indicators or dict.fromkeys([st.headline] + [k for k in sc.key_indicators if not st.indicators[k].is_flow]))
    rows = []
    for unit in model.units:
        x0 = c.start_states(model.start_vector(nat, unit))
        rates = model.unit_rates(theta, nat, unit)
        z = [np.concatenate([x0, np.zeros((n, c.F))], axis=1)[:, None, :]]
        for _ in range(3):
            z.append(c.expected_step(rates, z[-1]))
        for ind in inds:
            w = st.indicator_weights(ind)
            v = [np.maximum(zz[:, 0, :] @ w, 1e-9) for zz in z]
            for years in (1, 3):
                g = (v[years] / v[0]) ** (1.0 / years) - 1.0
                q = np.quantile(g, QUANTILES)
                rows.append(dict(unit=unit, indicator=ind, years=years,
                                 **{f"p{int(round(100 * p)):02d}": float(x) for p, x in zip(QUANTILES, q)}))
    return pd.DataFrame(rows)


def evidence(sc) -> pd.DataFrame:
    """The regional growth evidence of the priors file, one row per statement."""
    return pd.DataFrame([dict(e) for e in sc.growth_evidence],
                        columns=["indicator", "growth", "years", "zh", "en", "source"])
