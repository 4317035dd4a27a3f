"""Validation of the calibration (METHODS.md s.7), a test helper outside the package:
recovery on dense synthetic data (V1) and simulation-based calibration with a scenario's
real pattern of published cells (V2).

Synthetic truth: parameters drawn from the prior (V2) or fixed (V1); start levels from
their priors; the exact integer simulator moves the firms from the start year; published
values get the indicator's reporting noise; only the chosen cells are kept; the fit sees
those and nothing else. Coverage is the share of truths inside the posterior's central
interval.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sim.calibrate import Model, fit
from sim.data import Row
from sim.params import from_link, to_link


def synthetic(sc, theta: np.ndarray, cells, rng, horizon: int):
    """Simulate one truth: returns (rows of published values, true valid HTE per year dict).

    cells: iterable of (unit, indicator, year) to publish. Only the main unit is simulated.
    """
    model = Model(sc)
    c = model.full_c
    theta = np.atleast_2d(theta)
    nat = model.space.natural(theta)
    unit = sc.unit
    start = sc.starts[unit].year
    expected = c.start_states(model.start_vector(nat, unit))
    x0 = np.rint(expected).astype(np.int64)[:, None, :]
    Y = horizon - start
    base = model.unit_rates(theta, nat, unit)
    names = sc.structure.prob_params + sc.structure.rate_params
    is_prob = np.array([n in sc.structure.prob_params for n in names])
    sd = sc.year_noise_sd
    # the rates move from year to year as the model says (priors file [year_noise])
    rates = np.stack([from_link(to_link(base, is_prob) + sd * rng.standard_normal(base.shape), is_prob)
                      for _ in range(Y)])
    states, flows = c.simulate(x0, rates, rng)
    nat = nat[0]
    rows, truth = [], {}
    for y in range(Y + 1):
        year = start + y
        z = np.concatenate([states[y, 0, 0], flows[y - 1, 0, 0] if y > 0 else np.zeros(c.F, np.int64)])
        truth[year] = float(z[: c.K] @ sc.structure.indicator_weights(sc.structure.headline)[: c.K])
        for (u, ind, yr) in cells:
            if u == unit and yr == year:
                ind_obj = sc.structure.indicators[ind]
                if ind_obj.is_flow and y == 0:
                    continue
                v = float(z @ sc.structure.indicator_weights(ind))
                v = round(v + rng.normal(0, ind_obj.cv * nat[model.noise_index] * abs(v)))
                v = float(v if ind_obj.minus_flows else max(0.0, v))
                rows.append(Row(u, ind, yr, v, "actual", "", "synthetic", "synthetic", "synthetic", ""))
    return rows, truth


def real_cells(sc):
    """The (unit, indicator, year) cells of the main unit that the ledger publishes as actuals."""
    from sim.starts import fit_rows
    fitted, _ = fit_rows(sc.starts[sc.unit].spec, sc.rows, sc.structure.indicators)
    return sorted({(r.unit, r.indicator, r.year) for r, part in fitted if part is None})


def coverage_run(sc, n_rep: int, seed: int, cells=None, level: float = 0.90, project_to: int | None = None,
                 theta_fixed=None, fit_kw=None):
    """Repeat: draw a truth, publish the cells, fit, check interval coverage.

    Returns a dict with per-replication coverage indicators of the parameters and of the
    projected valid-HTE total at ``project_to`` (filtered state carried forward by the
    posterior draws' mean dynamics plus binomial noise via the integer simulator).
    """
    sc = dataclasses.replace(sc, pool_with=())
    cells = real_cells(sc) if cells is None else cells
    fit_kw = dict(draws=1000, chains=16, steps=100, max_rounds=4) | (fit_kw or {})
    model = Model(sc)
    rng = np.random.default_rng(seed)
    lo_q, hi_q = (1 - level) / 2, 1 - (1 - level) / 2
    par_hits, hte_hits, z_scores = [], [], []
    horizon = project_to or sc.horizon
    for rep in range(n_rep):
        theta = theta_fixed if theta_fixed is not None else model.space.mean + model.space.sd * rng.standard_normal(len(model.space))
        rows, truth = synthetic(sc, theta, cells, rng, horizon)
        sc_r = dataclasses.replace(sc, rows=tuple(rows))
        cal = fit(sc_r, seed=int(rng.integers(2**31)), **fit_kw)
        X = cal.draws
        lo, hi = np.quantile(X, [lo_q, hi_q], axis=0)
        par_hits.append((theta >= lo) & (theta <= hi))
        z_scores.append((X.mean(0) - theta) / X.std(0))
        # projected valid HTE at the horizon from the fit (posterior predictive, integer moves)
        from sim.project import project
        sc_p = dataclasses.replace(sc_r, horizon=horizon, policies=sc_r.policies[:1])
        res = project(sc_p, cal, n_paths=1000, seed=int(rng.integers(2**31)))
        v = res.indicator(sc_p.policies[0].name, sc.unit, sc.structure.headline)[res.year_index(horizon)]
        a, b = np.quantile(v, [lo_q, hi_q])
        hte_hits.append(a <= truth[horizon] <= b)
    return dict(params=np.array(par_hits), hte=np.array(hte_hits), z=np.array(z_scores), names=model.space.names)
