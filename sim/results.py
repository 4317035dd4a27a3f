"""Results of a projection: tidy tables of indicators, targets, flows, costs and comparisons.

All tables come from the simulated integer paths; quantiles are empirical over paths.
The Monte Carlo error of a probability p over P paths is sqrt(p (1 - p) / P).

What is kept per path (the projection runs in chunks of paths, see :func:`sim.project.project`):
per policy the main unit's tiers and flows per year (:class:`Kept`, uint16 while the counts fit,
else int32; the payments are computed from them), the sub-units' indicators (all of them in a
run of one block of paths, else those with a target), and the drawn rates, lever strengths and
start levels. Every other sub-unit indicator of a larger run is counted per value and year
(:class:`Hist`): its mean and quantiles are exactly those of the paths' values (numpy's linear
interpolation), whatever the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from .calibrate import Calibration
from .observations import actual_of
from .project import Paths, indicator_values, iter_lever_costs, part_indicator
from .scenario import BASE_POLICY, Scenario
from .text import pct


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def is_scored(row) -> bool:
    """Whether a row of targets.csv / scenarios.csv carries a probability (its outcome is not
    known yet): rows written before the status column existed always do."""
    p = row.get("p_met", float("nan"))
    return isinstance(p, (int, float)) and p == p


def target_phrase(row, lang: str = "en") -> str:
    """The state of a target that has no probability, from a row of targets.csv: 'met (actual
    1,010 >= 950)', 'missed (actual 900 < 950)', 'open (actual > 480, target 500)' or 'not
    scored'; for a scored row, its probability."""
    status = row.get("status", "projected")
    a, t = row.get("actual", float("nan")), row["target"]
    ge = row.get("actual_bound", "") == "ge"
    if status == "met":
        return (f"已达成（实际{'超过' if ge else ''}{_num(a)} ≥ 目标{_num(t)}）" if lang == "zh"
                else f"met (actual {'> ' if ge else ''}{_num(a)} >= {_num(t)})")
    if status == "missed":
        return f"未达成（实际{_num(a)} < 目标{_num(t)}）" if lang == "zh" else f"missed (actual {_num(a)} < {_num(t)})"
    if status == "open" and not is_scored(row):
        return (f"待定（实际超过{_num(a)}，目标{_num(t)}）" if lang == "zh"
                else f"open (actual > {_num(a)}, target {_num(t)})")
    if not is_scored(row):
        return ("未评估（该年无实际值，且早于预测起始年）" if lang == "zh"
                else "not scored (no actual for the year, which is before the projection starts)")
    p = pct(float(row["p_met"]))
    extra = ""
    if status == "open":
        extra = f"（实际超过{_num(a)}）" if lang == "zh" else f" (actual > {_num(a)})"
    return f"达成概率 {p}{extra}" if lang == "zh" else f"P(met) = {p}{extra}"


QUANTS = (0.05, 0.10, 0.25, 0.50, 0.75, 0.90, 0.95)
QCOLS = ("p05", "p10", "p25", "p50", "p75", "p90", "p95")


class Compact:
    """An integer array filled chunk by chunk: uint16 while every value is a count below 65,536
    (firms, flows), else int32."""

    def __init__(self, shape):
        self.array = np.zeros(shape, dtype=np.uint16)

    def put(self, where, values: np.ndarray) -> None:
        if values.size and self.array.dtype == np.uint16 and (values.min() < 0 or values.max() >= 2**16):
            self.array = self.array.astype(np.int32)
        self.array[where] = values


def hist_quantile(lo: int, counts: np.ndarray, qs) -> np.ndarray:
    """Quantiles ``qs`` of the integers lo, lo + 1, ... counted by ``counts``: exactly what
    ``np.quantile`` (method 'linear') gives on the values themselves."""
    cum = np.cumsum(counts)
    n = int(cum[-1])
    vi = (n - 1) * np.asarray(qs, dtype=float)
    prev = np.floor(vi)
    nxt = prev + 1
    top = vi >= n - 1
    prev[top] = -1
    nxt[top] = -1
    gamma = vi - prev
    order = lambda k: lo + np.searchsorted(cum, np.where(k < 0, n - 1, k), side="right")  # noqa: E731
    a, b = order(prev.astype(np.intp)), order(nxt.astype(np.intp))
    diff = b - a
    out = a + diff * gamma
    return np.where(gamma >= 0.5, b - diff * (1 - gamma), out)


def int_quantiles(v: np.ndarray, qs) -> np.ndarray:
    """``np.quantile(v, qs, axis=-1)`` of an integer array (..., paths), computed from the
    counts of each row's values (:func:`hist_quantile`, exactly numpy's numbers) when the
    values span fewer than a few times as many integers as there are paths, else by numpy;
    the tables ask for thousands of quantiles of 10,000 integers each."""
    v = np.asarray(v)
    qs_arr = np.asarray(qs, dtype=float)
    if v.dtype.kind not in "iub" or v.shape[-1] == 0:
        return np.quantile(v, qs, axis=-1)
    rows = v.reshape(-1, v.shape[-1])
    flat_qs = qs_arr.reshape(-1)
    out = np.empty((len(rows), len(flat_qs)))
    for k, row in enumerate(rows):
        lo, hi = int(row.min()), int(row.max())
        if hi - lo > 4 * len(row) + 1000:
            out[k] = np.quantile(row, flat_qs)
        else:
            out[k] = hist_quantile(lo, np.bincount((row - lo).astype(np.intp), minlength=hi - lo + 1), flat_qs)
    out = out.reshape(v.shape[:-1] + qs_arr.shape)
    return np.moveaxis(out, -1, 0) if qs_arr.ndim else out


def int_median(v: np.ndarray) -> float:
    """``np.median`` of a 1-d integer array, from its counts (see :func:`int_quantiles`)."""
    return float(int_quantiles(v, 0.5))


class Hist:
    """Counts of the integer values of one cell (per year row) over the paths seen so far."""

    def __init__(self, rows: int):
        self.lo = [0] * rows
        self.counts = [np.zeros(0, dtype=np.int64) for _ in range(rows)]

    def add(self, v: np.ndarray) -> None:
        for y, row in enumerate(v):
            lo = int(row.min())
            c = np.bincount(row - lo)
            old, olo = self.counts[y], self.lo[y]
            if len(old):
                new_lo = min(lo, olo)
                hi = max(lo + len(c), olo + len(old))
                merged = np.zeros(hi - new_lo, dtype=np.int64)
                merged[olo - new_lo: olo - new_lo + len(old)] += old
                merged[lo - new_lo: lo - new_lo + len(c)] += c
                c, lo = merged, new_lo
            self.lo[y], self.counts[y] = lo, c

    def mean(self, y: int) -> float:
        c = self.counts[y]
        total = int((c * np.arange(self.lo[y], self.lo[y] + len(c))).sum())
        return float(total) / int(c.sum())

    def quantiles(self, y: int, qs) -> np.ndarray:
        return hist_quantile(self.lo[y], self.counts[y], qs)


@dataclass(frozen=True)
class Kept:
    """One policy's paths as kept: the main unit's tiers and flows (years, paths, K + F);
    ``states``, ``flows`` are views with a units axis of one (the main unit), ``costs`` the
    payments per lever (years, paths), 10k yuan, computed on demand."""
    policy: object
    agg: np.ndarray
    scenario: object
    years: tuple

    @property
    def states(self) -> np.ndarray:
        return self.agg[:, :, None, : self.scenario.structure.K]

    @property
    def flows(self) -> np.ndarray:
        return self.agg[:, :, None, self.scenario.structure.K:]

    @property
    def costs(self) -> dict:
        return dict(self.iter_costs())

    def iter_costs(self):
        """(lever, payments) one lever at a time (a large run never holds them all at once)."""
        return iter_lever_costs(self.scenario, self.policy, self.states, self.flows, list(self.years))


@dataclass(frozen=True)
class Results:
    """The projection of every policy of a scenario on common random numbers.

    Attributes
    ----------
    scenario : Scenario
        The specification projected.
    calibration : Calibration
        The fit whose posterior draws the paths start from.
    T : int
        The last year with an actual (the projection's year 0).
    years : tuple of int
        ``(T, T + 1, ..., horizon)``.
    sims : tuple of Kept
        One per policy, in the scenario file's order: the main unit's states
        ``(Y + 1, P, 1, K)`` and flows ``(Y + 1, P, 1, F)`` in firms, payments per lever
        ``(Y + 1, P)`` in 10k yuan (computed on demand).
    paths : Paths
        The draws every policy shares (rates, start states, lever strengths).
    seed, n_paths : int
        The seed and number of paths P.
    cells, hists : dict
        Sub-unit indicators by (policy, sub-unit, indicator): per path ``(Y + 1, P)`` for
        those with a target, else counted per value (:class:`Hist`) in a run of several blocks.
    block : int
        Paths per block of random numbers (a sub-unit indicator is simulated again by block).

    Nothing in a Results changes after it is built: the payments to each target year and the
    prior-dominated factors are computed once, on first use (cached properties); every other
    table is computed from the fields each time it is asked for.
    """

    scenario: Scenario
    calibration: Calibration
    T: int
    years: tuple[int, ...]
    sims: tuple[Kept, ...]
    paths: Paths
    seed: int
    n_paths: int
    # the targets table with each sensitivity variant's P(met) (sim.sensitivity), if computed
    sensitivity: pd.DataFrame | None = None
    cells: dict = field(default_factory=dict, repr=False)   # (policy, sub-unit, indicator) -> (years, paths)
    hists: dict = field(default_factory=dict, repr=False)   # (policy, sub-unit, indicator) -> Hist
    block: int = 0                  # paths per block of random numbers (to simulate a sub-unit again)

    # ---- access ---------------------------------------------------------------------
    def policy_names(self):
        return [s.policy.name for s in self.sims]

    def sim(self, policy: str):
        return next(s for s in self.sims if s.policy.name == policy)

    def unit_slice(self, unit: str):
        sc = self.scenario
        if unit == sc.unit:
            return slice(None)
        return sc.parts.index(unit)

    def indicator(self, policy: str, unit: str, name: str) -> np.ndarray:
        """(years, paths) int64 values of an indicator for a unit (the main unit sums its parts):
        a new array on every call, from what the projection kept. A sub-unit indicator that a
        run of several blocks did not keep per path is simulated again on every call, so a
        caller that needs it more than once holds on to it."""
        if unit == self.scenario.unit:
            s = self.sim(policy)
            K = self.scenario.structure.K
            return indicator_values(self.scenario, name, s.agg[..., :K], s.agg[..., K:])
        if (policy, unit, name) in self.cells:
            return self.cells[policy, unit, name].astype(np.int64)
        return part_indicator(self.scenario, self.calibration, self.n_paths, self.seed, self.sim(policy).policy,
                              unit, name, self.block)

    def _summary(self, policy: str, unit: str, name: str, qs):
        """(means per year, quantiles (len(qs), years)) of an indicator over the paths."""
        h = self.hists.get((policy, unit, name))
        if h is None:
            v = self.indicator(policy, unit, name)
            return [float(v[y].mean()) for y in range(len(self.years))], int_quantiles(v, qs)
        return ([h.mean(y) for y in range(len(self.years))],
                np.stack([h.quantiles(y, qs) for y in range(len(self.years))], axis=1))

    def year_index(self, year: int) -> int:
        return self.years.index(year)

    def reported_indicators(self, unit: str) -> list[str]:
        """Every declared indicator (stocks and flows), so that any figure published later
        can be scored against the forecast made before it."""
        return list(self.scenario.structure.indicators)

    # ---- tables ---------------------------------------------------------------------
    def to_frame(self, paths: bool = False) -> pd.DataFrame:
        """Every projected indicator as a long table.

        Parameters
        ----------
        paths : bool
            False (default): one row per scenario, unit, indicator and year with the mean
            and the quantiles over paths (the run folder's ``projection.csv``). True: one
            row per path as well (``path``, ``value``), for one's own statistics.

        Returns
        -------
        pandas.DataFrame
            Columns ``unit, scenario, indicator, year`` then ``mean, p05, p10, p25, p50,
            p75, p90, p95`` (quantiles) or ``path, value`` (paths=True). Values are firms
            (stocks at the year's end, flows during the year); ``year`` runs from the last
            actual year T to the horizon. Rows are sorted in the scenario file's order of
            scenarios, units and the structure's indicators, then by year (and path).
        """
        if not paths:
            return self.projection_frame()
        parts = []
        n = self.n_paths
        for pol in self.policy_names():
            for unit in self.scenario.report_units:
                for ind in self.reported_indicators(unit):
                    v = self.indicator(pol, unit, ind)
                    parts.append(pd.DataFrame({
                        "unit": unit, "scenario": pol, "indicator": ind,
                        "year": np.repeat(np.asarray(self.years), n), "path": np.tile(np.arange(n), len(self.years)),
                        "value": v.reshape(-1)}))
        return pd.concat(parts, ignore_index=True)

    def projection_frame(self) -> pd.DataFrame:
        rows = []
        for pol in self.policy_names():
            for unit in self.scenario.report_units:
                for ind in self.reported_indicators(unit):
                    mean, q = self._summary(pol, unit, ind, QUANTS)
                    for y, year in enumerate(self.years):
                        if year == self.T and self.scenario.structure.indicators[ind].is_flow and year == self.scenario.starts[self.scenario.unit].year:
                            continue
                        rows.append(dict(unit=unit, scenario=pol, indicator=ind, year=year, mean=mean[y],
                                         **{c: float(q[k, y]) for k, c in enumerate(QCOLS)}))
        return pd.DataFrame(rows)

    def target_state(self, tg) -> tuple[str, object]:
        """(status, actual) of a target: 'met' or 'missed' when its year already has an actual
        (a lower bound that clears the target counts as met), 'open' when only a lower bound
        below the target is known, 'projected' when the projection covers its year, and
        'not_projected' when it does not (a year before the last actual year, no actual)."""
        a = actual_of(self.scenario, tg.unit, tg.indicator, tg.year)
        if a is not None and a.value >= tg.value:
            return "met", a
        if a is not None and a.bound == "eq":
            return "missed", a
        if a is not None:
            return "open", a
        return ("projected" if tg.year in self.years else "not_projected"), None

    def _scored(self, tg) -> bool:
        """Whether a target gets a probability: its outcome is not known and its year is projected."""
        status, _ = self.target_state(tg)
        return status in ("projected", "open") and tg.year in self.years

    def _state_columns(self, tg) -> dict:
        status, a = self.target_state(tg)
        return dict(status=status, actual=float("nan") if a is None else a.value,
                    actual_bound="" if a is None else a.bound)

    def targets_frame(self) -> pd.DataFrame:
        if self.sensitivity is not None:
            return self.sensitivity
        rows = []
        drivers = self._prior_dominated_drivers
        nan = float("nan")
        for tg in self.scenario.targets:
            for pol in self.policy_names():
                base = dict(unit=tg.unit, scenario=pol, indicator=tg.indicator, year=tg.year, target=tg.value)
                if not self._scored(tg):
                    rows.append(dict(base, p_met=nan, mc_se=nan, median=nan, p10=nan, p90=nan,
                                     depends_on_prior_dominated="", **self._state_columns(tg)))
                    continue
                v = self.indicator(pol, tg.unit, tg.indicator)[self.year_index(tg.year)]
                met = v >= tg.value
                p = float(np.mean(met))
                q50, q10, q90 = (float(x) for x in int_quantiles(v, (0.5, 0.1, 0.9)))
                rows.append(dict(base, p_met=p,
                                 mc_se=float(np.sqrt(max(p * (1 - p), 0.25 / self.n_paths) / self.n_paths)),
                                 median=q50, p10=q10, p90=q90,
                                 depends_on_prior_dominated=";".join(
                                     name for name, lo, hi in drivers if abs(met[hi].mean() - met[lo].mean()) > 0.10),
                                 **self._state_columns(tg)))
        return pd.DataFrame(rows)

    @cached_property
    def _prior_dominated_drivers(self) -> list:
        """(factor, bottom-decile mask, top-decile mask) of every prior-dominated rate and of
        every start level of the main unit that is not data-informed (an assumption of the
        starts file): a target depends on it when P(met) differs by more than 0.10 between
        the two deciles."""
        labels = self.calibration.labels()
        sc = self.scenario
        factors = [(p.name, self.paths.rates[:, i]) for i, p in enumerate(self.calibration.space.params[: self.calibration.n_rates])
                   if labels.get(p.name) == "prior-dominated"]
        factors += [(f"{sc.unit}.{name}", self.paths.start[:, k]) for k, name in enumerate(sc.structure.level_names)
                    if labels.get(f"{sc.unit}.{name}", "prior-dominated") != "data-informed"]
        out = []
        for name, f in factors:
            lo, hi = np.quantile(f, [0.1, 0.9])
            if hi > lo:
                out.append((name, f <= lo, f >= hi))
        return out

    def flows_frame(self) -> pd.DataFrame:
        rows = []
        sc = self.scenario
        for s in self.sims:
            for f, name in enumerate(sc.structure.flows):
                v = s.agg[..., sc.structure.K + f].astype(np.int64)
                q = int_quantiles(v, (0.1, 0.5, 0.9))
                for y, year in enumerate(self.years):
                    if y == 0:
                        continue
                    rows.append(dict(unit=sc.unit, scenario=s.policy.name, flow=name, year=year,
                                     mean=float(v[y].mean()), p10=float(q[0, y]), p50=float(q[1, y]), p90=float(q[2, y])))
        return pd.DataFrame(rows)

    def costs_frame(self) -> pd.DataFrame:
        rows = []
        for s in self.sims:
            for name, c in s.iter_costs():
                q = np.quantile(c, (0.1, 0.5, 0.9), axis=1)
                for y, year in enumerate(self.years):
                    rows.append(dict(scenario=s.policy.name, lever=name, year=year, mean_10k_yuan=float(c[y].mean()),
                                     p10_10k_yuan=float(q[0, y]), p50_10k_yuan=float(q[1, y]),
                                     p90_10k_yuan=float(q[2, y])))
        return pd.DataFrame(rows)

    def total_cost(self, policy: str, until: int) -> np.ndarray:
        """(paths,) total payments over the projection years T+1..until, 10k yuan."""
        got = self._costs_to_target_years.get((policy, until))
        return got if got is not None else self._costs_to(policy, (until,))[until]

    def _costs_to(self, policy: str, untils) -> dict:
        """{until: (paths,) total payments over T+1..until} for each of ``untils``, 10k yuan:
        one pass over the policy's payments, lever by lever."""
        ys = {u: [y for y, year in enumerate(self.years) if self.T < year <= u] for u in untils}
        total = {u: 0 for u in untils}
        for _, c in self.sim(policy).iter_costs():
            for u in untils:
                total[u] = total[u] + c[ys[u]].sum(axis=0)
        return {u: v if isinstance(v, np.ndarray) else np.zeros(self.n_paths) for u, v in total.items()}

    @cached_property
    def _costs_to_target_years(self) -> dict:
        """{(policy, year): total payments to the year} for every policy and every target year
        the projection covers (the years the tables ask about), computed once."""
        untils = tuple(sorted({t.year for t in self.scenario.targets if t.year in self.years[1:]}))
        return {(p, u): v for p in self.policy_names() for u, v in self._costs_to(p, untils).items()}

    def scenarios_frame(self) -> pd.DataFrame:
        """Per policy and target: p_met, extra units vs baseline, cost, cost per extra unit."""
        rows = []
        nan = float("nan")
        for tg in self.scenario.targets:
            if not self._scored(tg):
                for pol in self.policy_names():
                    rows.append(dict(unit=tg.unit, scenario=pol, indicator=tg.indicator, year=tg.year, target=tg.value,
                                     p_met=nan, extra_vs_baseline_p50=nan, extra_vs_baseline_p10=nan,
                                     extra_vs_baseline_p90=nan, extra_vs_baseline_mean=nan, extra_mc_se=nan,
                                     cost_to_year_p50_10k_yuan=nan, cost_to_year_p10_10k_yuan=nan,
                                     cost_to_year_p90_10k_yuan=nan, extra_cost_mean_10k_yuan=nan,
                                     cost_per_extra_unit_10k_yuan=nan, **self._state_columns(tg)))
                continue
            yi = self.year_index(tg.year)
            base = self.indicator(BASE_POLICY, tg.unit, tg.indicator)[yi]
            base_cost = self.total_cost(BASE_POLICY, tg.year)
            for pol in self.policy_names():
                v = self.indicator(pol, tg.unit, tg.indicator)[yi]
                d = v - base
                cost = self.total_cost(pol, tg.year)
                extra_cost = cost - base_cost
                mean_d = float(d.mean())
                d50, d10, d90 = (float(x) for x in int_quantiles(d, (0.5, 0.1, 0.9)))
                c10, c90 = (float(x) for x in np.quantile(cost, (0.1, 0.9)))
                se = float(d.std(ddof=1) / np.sqrt(len(d)))  # a cost per extra firm only where the gain is real
                rows.append(dict(unit=tg.unit, scenario=pol, indicator=tg.indicator, year=tg.year, target=tg.value,
                                 p_met=float(np.mean(v >= tg.value)),
                                 extra_vs_baseline_p50=d50, extra_vs_baseline_p10=d10,
                                 extra_vs_baseline_p90=d90, extra_vs_baseline_mean=mean_d,
                                 extra_mc_se=se,
                                 cost_to_year_p50_10k_yuan=float(np.median(cost)),
                                 cost_to_year_p10_10k_yuan=c10,
                                 cost_to_year_p90_10k_yuan=c90,
                                 extra_cost_mean_10k_yuan=float(extra_cost.mean()),
                                 cost_per_extra_unit_10k_yuan=(float(extra_cost.mean() / mean_d)
                                                               if pol != BASE_POLICY and mean_d > max(0.5, 2 * se) else float("nan")),
                                 **self._state_columns(tg)))
        return pd.DataFrame(rows)

    def headline_target(self):
        """The target the meeting asks about first: the main unit's valid HTE target in the
        latest target year (else its latest target), among the targets the projection covers
        when there are any (the others already have an actual or are not scored)."""
        sc = self.scenario
        main = [t for t in sc.targets if t.unit == sc.unit]
        ahead = [t for t in main if t.year in self.years]   # prefer a target the projection covers
        main = ahead or main
        hte = [t for t in main if t.indicator == sc.structure.headline]
        pool = hte or main or list(sc.targets)
        return max(pool, key=lambda t: t.year) if pool else None

    def tornado_frame(self) -> pd.DataFrame:
        """Sensitivity of the headline target-year outcome to each rate and lever strength.

        For each factor (a rate's value per path, a lever's strength per path, the start
        level), the median outcome among the paths in the factor's bottom decile and in its
        top decile: a conditional-expectation tornado from the same simulated paths (no
        re-simulation). Lever strengths matter only where a scenario changes the lever.
        """
        tg = self.headline_target()
        if tg is None or tg.year not in self.years:
            return pd.DataFrame()
        sc = self.scenario
        yi = self.year_index(tg.year)
        space = self.calibration.space
        factors = [(p.name, "rate", self.paths.rates[:, i]) for i, p in enumerate(space.params[: self.calibration.n_rates])]
        factors += [(name, "lever", s) for name, s in sorted(self.paths.strengths.items())]
        w = sc.structure.indicator_weights(sc.structure.headline)[: sc.structure.K]
        factors.append((f"start_{sc.structure.headline}", "start", (self.paths.x_T.sum(axis=1) @ w)))
        rows = []
        for pol in self.policy_names():
            v = self.indicator(pol, tg.unit, tg.indicator)[yi]
            med = int_median(v)
            for name, kind, f in factors:
                if kind == "lever":
                    lv = sc.levers[name]
                    if lv.kind != "shift" or self.sim(pol).policy.amount(name) == lv.calibrated_at:
                        continue
                lo_q, hi_q = np.quantile(f, [0.1, 0.9])
                if hi_q <= lo_q:
                    continue
                lo = int_median(v[f <= lo_q])
                hi = int_median(v[f >= hi_q])
                rows.append(dict(scenario=pol, unit=tg.unit, indicator=tg.indicator, year=tg.year, target=tg.value,
                                 factor=name, kind=kind, factor_p10=float(lo_q), factor_p90=float(hi_q),
                                 outcome_at_p10=lo, outcome_at_p90=hi, outcome_median=med, swing=abs(hi - lo)))
        return pd.DataFrame(rows)

    # ---- pipeline and lever ranking (the meeting's "which lever?") ----------------------
    def tiers_frame(self) -> pd.DataFrame:
        """Stocks of every tier of the main unit per policy and year (firms: mean, median,
        80% interval), from the last actual year to the horizon: the pipeline figure's data."""
        rows = []
        sc = self.scenario
        for s in self.sims:
            for k, tier in enumerate(sc.structure.tiers):
                st = s.agg[..., k].astype(np.int64)            # (Y + 1, P)
                q = int_quantiles(st, (0.1, 0.5, 0.9))   # (3, Y + 1)
                mean = st.mean(axis=1)
                for y, year in enumerate(self.years):
                    rows.append(dict(unit=sc.unit, scenario=s.policy.name, tier=tier, year=year,
                                     mean=float(mean[y]), p10=float(q[0, y]), p50=float(q[1, y]),
                                     p90=float(q[2, y])))
        return pd.DataFrame(rows)

    def ranking_frame(self) -> pd.DataFrame:
        """Scenarios against the baseline for the headline target, ranked by cost per extra firm.

        Per path: d = extra firms in the target year, c = extra payments T+1..target year
        (10k yuan). ``per_100wan`` = 100 d / c (extra firms per 1,000,000 yuan) where the
        median extra cost is positive; its quantiles give the cost per extra firm (100 /
        per_100wan, monotone, so the median and the 80% interval carry over; an interval that
        reaches 0 extra firms is open: NaN). ``low``/``high``: the extra firms and cost with
        the strengths of the levers the scenario changes at the bottom / top of their assumed
        ranges (a least-squares line of d and c on the strengths over the paths), and the
        cost per extra firm there: how far the ranking rests on the assumed effect sizes.
        A scenario that changes one lever is a single lever (``levers`` names it).
        """
        tg = self.headline_target()
        sc = self.scenario
        if tg is None or len(self.sims) < 2 or tg.year not in self.years:   # nothing projected to rank
            return pd.DataFrame()
        yi = self.year_index(tg.year)
        names = self.policy_names()
        base = BASE_POLICY if BASE_POLICY in names else names[0]
        base_v = self.indicator(base, tg.unit, tg.indicator)[yi]
        base_c = self.total_cost(base, tg.year)
        base_set = dict(self.sim(base).policy.settings)
        rows = []
        for s in [x for x in self.sims if x.policy.name != base]:
            pol = s.policy
            changed = [k for k, v in pol.settings if base_set.get(k) != v]
            di = self.indicator(pol.name, tg.unit, tg.indicator)[yi] - base_v
            d = di.astype(float)
            c = self.total_cost(pol.name, tg.year) - base_c
            e50, e10, e90 = (float(x) for x in int_quantiles(di, (0.5, 0.1, 0.9)))
            row = dict(scenario=pol.name, levers=";".join(changed), single_lever=len(changed) == 1,
                       unit=tg.unit, indicator=tg.indicator, year=tg.year,
                       extra_p50=e50, extra_p10=e10, extra_p90=e90, extra_mean=float(d.mean()),
                       extra_cost_mean_10k_yuan=float(c.mean()), extra_cost_p50_10k_yuan=float(np.median(c)))
            row.update(_efficiency(d, c))
            u = _strength_position(sc, self.paths.strengths, changed)
            for end, at in (("low", 0.0), ("high", 1.0)):
                dx, cx = _line_at(u, d, at), _line_at(u, c, at)
                row[f"extra_{end}"] = dx
                row[f"cost_per_extra_{end}_10k_yuan"] = cx / dx if dx > 0.5 and cx > 0 else float("nan")
            row["strength_assumed"] = u is not None
            rows.append(row)
        df = pd.DataFrame(rows)
        for col, out in (("cost_per_extra_p50_10k_yuan", "rank"), ("cost_per_extra_low_10k_yuan", "rank_low"),
                         ("cost_per_extra_high_10k_yuan", "rank_high")):
            df[out] = _rank(df, col)
        return df.sort_values(["rank", "scenario"], kind="stable").reset_index(drop=True)


def _efficiency(d: np.ndarray, c: np.ndarray) -> dict:
    """Extra firms per 100 (10k yuan) and its reciprocal, the cost per extra firm."""
    nan = float("nan")
    out = {k: nan for k in ("per_100wan_p10", "per_100wan_p50", "per_100wan_p90", "cost_per_extra_p10_10k_yuan",
                            "cost_per_extra_p50_10k_yuan", "cost_per_extra_p90_10k_yuan")}
    med = float(np.median(c))
    if not med > 0:
        return out
    # a path whose extra payments are near zero has no meaningful ratio: floor the cost at a
    # tenth of the median extra cost so that such paths do not dominate the tails
    e = 100.0 * d / np.maximum(c, 0.1 * med)
    q10, q50, q90 = (float(x) for x in np.quantile(e, (0.1, 0.5, 0.9)))
    out.update(per_100wan_p10=q10, per_100wan_p50=q50, per_100wan_p90=q90)
    inv = lambda x: 100.0 / x if x > 0 else nan  # noqa: E731
    out.update(cost_per_extra_p50_10k_yuan=inv(q50), cost_per_extra_p10_10k_yuan=inv(q90),
               cost_per_extra_p90_10k_yuan=inv(q10))
    return out


def _strength_position(sc, strengths: dict, levers: list[str]):
    """(P, L) position of each changed lever's drawn strength in its assumed range (0 = low
    end, 1 = high end), or None when none of the levers has an uncertain strength."""
    cols = []
    for name in levers:
        lv = sc.levers.get(name)
        if lv is None or name not in strengths or not lv.strength[1] > lv.strength[0]:
            continue
        lo, hi = lv.strength
        cols.append((np.asarray(strengths[name], float) - lo) / (hi - lo))
    return np.column_stack(cols) if cols else None


def _line_at(u, y: np.ndarray, at: float) -> float:
    """The least-squares line of ``y`` on the columns of ``u`` evaluated with every column at
    ``at`` (the mean of ``y`` when there is nothing to regress on)."""
    if u is None:
        return float(y.mean())
    X = np.column_stack([np.ones(len(y)), u])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    return float(coef[0] + at * coef[1:].sum())


def _rank(df: pd.DataFrame, col: str) -> list:
    """1 = cheapest per extra firm; scenarios without a positive gain for positive money last."""
    v = df[col].to_numpy(float)
    order = sorted(range(len(v)), key=lambda i: (np.isnan(v[i]), v[i] if not np.isnan(v[i]) else 0.0,
                                                 df.scenario.iloc[i]))
    r = [0] * len(v)
    for k, i in enumerate(order, start=1):
        r[i] = k
    return r
