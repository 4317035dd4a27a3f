"""Backtests: fit on the actuals up to a year, project, and score every later actual.

Scores per later published value y, against the projection of the published value (the
simulated indicator plus its reporting noise): inside the 80% and 90% intervals, the PIT
P(X < y) + P(X = y)/2, and the CRPS E|X - y| - E|X - X'|/2 (from the sorted samples). Two
naive baselines, where the unit has at least two actuals of the indicator up to the year:
a log-linear trend through them, and constant growth from the last two; a point forecast's
CRPS is its absolute error.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .calibrate import fit
from .errors import InputError
from .project import project


def crps_samples(x: np.ndarray, y: float) -> float:
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    spread = 2.0 / n ** 2 * np.sum((2 * np.arange(1, n + 1) - n - 1) * x)
    return float(np.mean(np.abs(x - y)) - 0.5 * spread)


def naive_forecasts(history: list[tuple[int, float]], year: int):
    """(log-linear trend, constant growth) point forecasts, or None where not computable."""
    h = [(t, v) for t, v in sorted(history) if v > 0]
    if len(h) < 2:
        return None, None
    t = np.array([a for a, _ in h], float)
    v = np.log([b for _, b in h])
    b, a = np.polyfit(t, v, 1)
    loglin = float(np.exp(a + b * year))
    (t1, v1), (t2, v2) = h[-2], h[-1]
    growth = float(v2 * (v2 / v1) ** ((year - t2) / (t2 - t1)))
    return loglin, growth


def backtest(sc, until: int, n_paths: int = 4000, seed: int | None = None):
    """Returns (scores DataFrame, Results of the backtest projection)."""
    start = sc.starts[sc.unit].year
    if until < start:
        raise InputError(sc.path, "--until", f"a year >= the start year {start}", str(until))
    later = [r for r in sc.rows if r.unit in sc.report_units and r.is_actual and r.year > until
             and r.indicator in sc.structure.indicators]
    horizon = max([sc.horizon] + [r.year for r in later])
    sc_b = dataclasses.replace(sc, horizon=horizon, policies=sc.policies[:1])
    cal = fit(sc_b, until=until, seed=seed)
    res = project(sc_b, cal, n_paths=n_paths, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence([sc.seed if seed is None else seed, 77]))
    rows = []
    for r in sorted(later, key=lambda r: (r.unit, r.indicator, r.year)):
        if r.year not in res.years:
            continue
        ind = sc.structure.indicators[r.indicator]
        v = res.indicator("baseline", r.unit, r.indicator)[res.year_index(r.year)].astype(float)
        x = v + ind.cv * v * rng.standard_normal(len(v))
        q = np.quantile(x, [0.05, 0.10, 0.50, 0.90, 0.95])
        hist = [(h.year, h.value) for h in sc.rows if h.unit == r.unit and h.indicator == r.indicator
                and h.is_actual and h.year <= until]
        ll, gr = naive_forecasts(hist, r.year)
        rows.append(dict(unit=r.unit, indicator=r.indicator, year=r.year, actual=r.value, fit_until=until,
                         model_p05=q[0], model_p10=q[1], model_p50=q[2], model_p90=q[3], model_p95=q[4],
                         inside80=bool(q[1] <= r.value <= q[3]), inside90=bool(q[0] <= r.value <= q[4]),
                         pit=float(np.mean(x < r.value) + 0.5 * np.mean(x == r.value)),
                         crps=crps_samples(x, r.value),
                         loglinear_forecast=ll, loglinear_crps=None if ll is None else abs(ll - r.value),
                         growth_forecast=gr, growth_crps=None if gr is None else abs(gr - r.value),
                         source=f"{r.source_file}: {r.passage}"))
    cols = ["unit", "indicator", "year", "actual", "fit_until", "model_p05", "model_p10", "model_p50", "model_p90",
            "model_p95", "inside80", "inside90", "pit", "crps", "loglinear_forecast", "loglinear_crps",
            "growth_forecast", "growth_crps", "source"]
    return pd.DataFrame(rows, columns=cols), res
