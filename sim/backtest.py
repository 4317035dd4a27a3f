"""Backtests: how the model's forecasts fare against figures it did not see.

Two designs (METHODS.md s.7, V3):

* **until a year** (``until``): fit on the actuals up to that year, project, and score
  every later actual of the scenario's unit and its sub-units;
* **leave one district out** (``leave_out``): withhold every actual of one unit, fit on
  the other districts of the ledger that publish actuals (its rates borrowed, its start
  levels set exactly as a unit's without actuals are: the hierarchy of the starts file
  and its plan base, if any), project the unit from its start year, and score all of its
  withheld actuals. This is the honest test of what the model says about a district
  that publishes nothing, such as Cixi in the seeds.

Scores per withheld value y, against the projection of the published value (the
simulated indicator plus its reporting noise): inside the 80% and 90% intervals, the PIT
P(X < y) + P(X = y)/2, and the CRPS E|X - y| - E|X - X'|/2 (from the sorted samples).
Three naive forecasts a planner would make, each scored by its absolute error (the CRPS
of a point forecast), where it can be computed:

* ``plan``: the plan's own target path (log-linear through the unit's targets of the
  indicator, at least two);
* ``growth``: the pooled regional growth (the median of the priors file's growth
  evidence for the indicator) applied to the unit's last known level (its last actual up
  to the fit year, or its plan base);
* ``trend``: a log-linear trend through the unit's actuals up to the fit year (at least two).

CRPS skill against a baseline is 1 - CRPS_model / CRPS_baseline (> 0: the model is better).
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from .calibrate import fit
from .errors import InputError, did_you_mean
from .project import project
from .report import new_folder
from .scenario import load_scenario
from .starts import fit_rows

COLUMNS = ["unit", "indicator", "year", "actual", "design", "fit_until", "model_p05", "model_p10", "model_p50",
           "model_p90", "model_p95", "inside80", "inside90", "pit", "crps", "plan_forecast", "plan_crps",
           "growth_forecast", "growth_crps", "trend_forecast", "trend_crps", "source"]


def crps_samples(x: np.ndarray, y: float) -> float:
    x = np.sort(np.asarray(x, dtype=float))
    n = len(x)
    spread = 2.0 / n ** 2 * np.sum((2 * np.arange(1, n + 1) - n - 1) * x)
    return float(np.mean(np.abs(x - y)) - 0.5 * spread)


def loglinear(points: list[tuple[int, float]], year: int) -> float | None:
    """Log-linear fit through (year, value) points evaluated at ``year``; None if < 2 points."""
    h = [(t, v) for t, v in sorted(points) if v > 0]
    if len(h) < 2:
        return None
    b, a = np.polyfit([t for t, _ in h], np.log([v for _, v in h]), 1)
    return float(np.exp(a + b * year))


def naive_forecasts(history: list[tuple[int, float]], year: int):
    """(log-linear trend, constant growth from the last two) point forecasts, or None."""
    h = [(t, v) for t, v in sorted(history) if v > 0]
    if len(h) < 2:
        return None, None
    (t1, v1), (t2, v2) = h[-2], h[-1]
    return loglinear(h, year), float(v2 * (v2 / v1) ** ((year - t2) / (t2 - t1)))


def regional_growth(sc, indicator: str) -> float | None:
    g = [e["growth"] for e in sc.growth_evidence if e["indicator"] == indicator]
    return float(np.median(g)) if g else None


def _scores(sc, res, rows, design: str, fit_until, rng, last_level, main: str) -> list[dict]:
    """Score ``rows`` (sorted by unit, indicator and year) against the first policy's paths,
    taking each unit's indicator from ``res`` once (a sub-unit indicator a large run did not
    keep is simulated again on every call)."""
    out = []
    scored = [r for r in rows if r.year in res.years]
    for (unit, name), group in itertools.groupby(scored, key=lambda r: (r.unit, r.indicator)):
        values = res.indicator(res.policy_names()[0], unit, name)
        out += [_score(sc, values[res.year_index(r.year)], r, design, fit_until, rng, last_level if unit == main else {})
                for r in group]
    return out


def _score(sc, values, r, design: str, fit_until, rng, last_level):
    ind = sc.structure.indicators[r.indicator]
    v = values.astype(float)
    x = v + ind.cv * np.abs(v) * rng.standard_normal(len(v))
    q = np.quantile(x, [0.05, 0.10, 0.50, 0.90, 0.95])
    plan = loglinear([(row.year, row.value) for row in sc.rows
                      if row.unit == r.unit and row.indicator == r.indicator and row.is_target], r.year)
    g = regional_growth(sc, r.indicator)
    base = last_level.get(r.indicator)
    growth = None if g is None or base is None else float(base[1] * (1 + g) ** (r.year - base[0]))
    hist = [(h.year, h.value) for h in sc.rows if h.unit == r.unit and h.indicator == r.indicator and h.is_actual
            and fit_until is not None and h.year <= fit_until]
    trend = loglinear(hist, r.year)

    def err(f):
        return None if f is None else abs(f - r.value)

    return dict(unit=r.unit, indicator=r.indicator, year=r.year, actual=r.value, design=design, fit_until=fit_until,
                model_p05=q[0], model_p10=q[1], model_p50=q[2], model_p90=q[3], model_p95=q[4],
                inside80=bool(q[1] <= r.value <= q[3]), inside90=bool(q[0] <= r.value <= q[4]),
                pit=float(np.mean(x < r.value) + 0.5 * np.mean(x == r.value)), crps=crps_samples(x, r.value),
                plan_forecast=plan, plan_crps=err(plan), growth_forecast=growth, growth_crps=err(growth),
                trend_forecast=trend, trend_crps=err(trend), source=f"{r.source_file}: {r.passage}")


def backtest(sc, until: int, n_paths: int = 4000, seed: int | None = None):
    """Fit on the actuals up to ``until``; score every later actual of the unit and its
    sub-units. Returns (scores DataFrame, Results of the projection)."""
    start = sc.starts[sc.unit].year
    if until < start:
        raise InputError(sc.path, "--until", f"a year >= the start year {start}", str(until))
    fitted, _ = fit_rows(sc.starts[sc.unit].spec, sc.rows, sc.structure.indicators)
    later = [r for r, _ in fitted if r.year > until]
    if not later:
        raise InputError(sc.path, "--until", f"a year before the last actual of {sc.unit} (there is nothing after it "
                         "to score)", str(until), f"try --until {start} or --leave-out {sc.unit}"
                         if start < sc.last_actual_year(sc.unit) else f"try --leave-out with a unit that has actuals")
    horizon = max([sc.horizon] + [r.year for r in later])
    sc_b = dataclasses.replace(sc, horizon=horizon, policies=sc.policies[:1])
    cal = fit(sc_b, until=until, seed=seed)
    res = project(sc_b, cal, n_paths=n_paths, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence([sc.seed if seed is None else seed, 77]))
    last = {}
    for r in sorted(sc.rows, key=lambda r: r.year):
        if r.unit == sc.unit and r.is_actual and r.year <= until:
            last[r.indicator] = (r.year, r.value)
    rows = _scores(sc_b, res, sorted(later, key=lambda r: (r.unit, r.indicator, r.year)), "until", until, rng, last,
                   sc.unit)
    return pd.DataFrame(rows, columns=COLUMNS), res


def donors(sc, unit: str) -> tuple[str, ...]:
    """Units of the ledger with a start table and fitted actuals, other than ``unit``."""
    out = []
    for u, st in sorted(sc.starts.items()):
        if u == unit or sc.units[u].parent:
            continue
        fitted, _ = fit_rows(st.spec, sc.rows, sc.structure.indicators)
        if any(part is None for _, part in fitted):
            out.append(u)
    return tuple(out)


def leave_out(sc, unit: str, n_paths: int = 4000, seed: int | None = None):
    """Withhold ``unit``'s actuals, fit on the other districts, score the withheld ones.
    Returns (scores DataFrame, Results of the projection)."""
    if unit not in sc.starts or sc.units.get(unit) is None or sc.units[unit].parent:
        choices = [u for u in sc.starts if not sc.units[u].parent]
        raise InputError(sc.path, "--leave-out", "a district with a start table (" + ", ".join(sorted(choices)) + ")",
                         repr(unit), did_you_mean(unit, choices))
    spec = sc.starts[unit].spec
    withheld, _ = fit_rows(spec, sc.rows, sc.structure.indicators)
    if not withheld:
        raise InputError(sc.path, "--leave-out", "a district with published actuals to withhold", repr(unit),
                         "the seeds publish actuals for " + ", ".join(donors(sc, "")))
    pool = donors(sc, unit)
    parts = tuple(u.unit for u in sc.units.values() if u.parent == unit)
    horizon = max(r.year for r, _ in withheld)
    targets = tuple(t for t in sc.targets if t.unit in (unit,) + parts)
    sc_l = dataclasses.replace(sc, unit=unit, parts=parts, pool_with=pool, horizon=max(horizon, spec.year + 1),
                               policies=sc.policies[:1], targets=targets)
    cal = fit(sc_l, seed=seed, withheld=(unit,))
    res = project(sc_l, cal, n_paths=n_paths, seed=seed)
    rng = np.random.default_rng(np.random.SeedSequence([sc.seed if seed is None else seed, 78]))
    last = {}
    if spec.plan_base is not None:
        last[spec.plan_base.indicator] = (spec.plan_base.year, spec.plan_base.value)
    rows = _scores(sc_l, res, [r for r, _ in sorted(withheld, key=lambda x: (x[0].unit, x[0].indicator, x[0].year))],
                   "leave-out", None, rng, last, unit)
    return pd.DataFrame(rows, columns=COLUMNS), res


def skill(scores: pd.DataFrame) -> dict:
    """Summary: coverage, mean PIT, mean CRPS and CRPS skill against each naive forecast
    (on the rows where that forecast exists)."""
    out = dict(n=int(len(scores)), inside80=float(scores.inside80.mean()) if len(scores) else np.nan,
               inside90=float(scores.inside90.mean()) if len(scores) else np.nan,
               mean_pit=float(scores.pit.mean()) if len(scores) else np.nan,
               crps=float(scores.crps.mean()) if len(scores) else np.nan)
    for b in ("plan", "growth", "trend"):
        ok = scores[f"{b}_crps"].notna() if len(scores) else []
        if len(scores) and ok.any():
            sub = scores[ok]
            out[f"skill_vs_{b}"] = float(1 - sub.crps.sum() / max(sub[f"{b}_crps"].astype(float).sum(), 1e-9))
            out[f"n_{b}"] = int(ok.sum())
        else:
            out[f"skill_vs_{b}"], out[f"n_{b}"] = np.nan, 0
    return out


def run_backtest(scenario_path, until, leave, n_paths, seed, out, lang):
    """The `sim backtest` command: run, write backtest.csv, skill.csv and the figure into a
    new folder; return (folder, summary lines)."""
    from . import figures as fg   # matplotlib loads with the first figure, not with the command
    sc = load_scenario(scenario_path)
    if leave is not None and until is not None:
        raise InputError(str(scenario_path), "--leave-out", "either --until or --leave-out, not both",
                         f"--until {until} --leave-out {leave}")
    if leave is not None:
        scores, res = leave_out(sc, leave, n_paths=n_paths, seed=seed)
        fit_until, design = None, f"leave-out {leave}"
    else:
        if until is None:
            until = max(sc.starts[sc.unit].year, sc.last_actual_year(sc.unit) - 1)
        scores, res = backtest(sc, until, n_paths=n_paths, seed=seed)
        fit_until, design = until, f"until {until}"
    summary = skill(scores)
    sk = pd.DataFrame([dict(design=design, **summary)])
    units = {u: {"zh": x.zh, "en": x.en} for u, x in sc.units.items()}
    inds = {k: {"zh": v.zh, "en": v.en} for k, v in sc.structure.indicators.items()}
    with new_folder(Path(out) / Path(scenario_path).stem, "backtest") as f:
        d = f["path"]
        scores.to_csv(d / "backtest.csv", index=False, float_format="%.4f", lineterminator="\n")
        sk.to_csv(d / "skill.csv", index=False, float_format="%.4f", lineterminator="\n")
        history = {}
        for r in sc.rows:
            if r.is_actual and fit_until is not None and r.year <= fit_until and r.unit in res.scenario.report_units:
                history.setdefault((r.unit, r.indicator), []).append((r.year, r.value))
        fg.save(fg.backtest_chart(scores, res, history, units, inds, lang).flat[0], str(d / "backtest"), svg=True)
    lines = []
    for _, r in scores.iterrows():
        base = "".join(f", {n} CRPS {float(r[f'{n}_crps']):,.1f}" for n in ("plan", "growth", "trend")
                       if pd.notna(r[f"{n}_crps"]))
        lines.append(f"{r.unit} {r.indicator} {r.year}: actual {r.actual:,.0f}, model median {r.model_p50:,.0f} "
                     f"(90% {r.model_p05:,.0f}-{r.model_p95:,.0f}), inside90 {r.inside90}, PIT {r.pit:.2f}, "
                     f"CRPS {r.crps:,.1f}{base}")
    lines.append(f"{design}: {summary['n']} values, inside 80% {summary['inside80']:.0%}, inside 90% "
                 f"{summary['inside90']:.0%}, mean PIT {summary['mean_pit']:.2f}, CRPS skill vs plan "
                 f"{summary['skill_vs_plan']:+.2f}, vs regional growth {summary['skill_vs_growth']:+.2f}, "
                 f"vs trend {summary['skill_vs_trend']:+.2f} (nan: that forecast cannot be made)")
    return f["path"], lines
