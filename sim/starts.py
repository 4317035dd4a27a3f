"""Start levels: how each unit's start-year stocks are tied to evidence (pure numpy).

A unit's start vector (``Structure.start_names``: levels such as the valid HTE stock, the
tech SMEs that are not HTEs and the reserve, then shares such as the leaders' share) comes
from the starts file in one of two ways:

* **explicit**: the unit states a level with a 90% range (a known level, or a synthetic
  test): a log-normal prior on the level itself;
* **hierarchical** (the default for the shipped districts): a level is a ratio to another
  quantity, shared across the districts of a scenario's fit, with a stated between-district
  spread:

      log level_u = log base_u + log ratio_L + between_sd_L * z_u,   z_u ~ N(0, 1),

  where base_u is the unit's level of another start level (tech SMEs per HTE, reserve per
  tech SME) or, for the first level, the regional per-unit average of the indicator at the
  unit's start year (a log-linear interpolation of the city's published totals divided by
  its number of county-level units). ratio_L has a log-normal prior and is learnt from the
  districts that publish actuals; a district without actuals draws its own z from N(0, 1),
  i.e. it borrows the ratio and carries the between-district spread. No level is ever
  taken from a target.

A plan's base-year column (e.g. the 2022 column of Cixi's 2026 plan table) may enter as a
*plan base*: a pseudo-observation of the start-year indicator with its own, stated
coefficient of variation, never as the level itself.

Sub-units (parts) split their unit's state in the first projection year by shares with a
Dirichlet prior: alpha = the counts + 1 when the split is published actuals, or a stated
concentration times the weights when it is a plan's split. The Dirichlet is carried as
independent log-gamma variables g_i (normal on log g with mean psi(alpha_i) and variance
psi1(alpha_i)), share_i = g_i / sum g. A sub-unit's own later actual is fitted as
share_i times the unit's indicator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Regional:
    """The regional series a first level is relative to: per-unit average by year."""
    indicator: str
    years: tuple[int, ...]
    values: tuple[float, ...]
    divisor: float
    source: str

    def per_unit(self, year: int) -> float:
        """Log-linear interpolation (flat extrapolation of the growth at the ends)."""
        t = np.array(self.years, float)
        v = np.log(np.array(self.values, float))
        if year <= t[0]:
            g = (v[1] - v[0]) / (t[1] - t[0])
            lv = v[0] + g * (year - t[0])
        elif year >= t[-1]:
            g = (v[-1] - v[-2]) / (t[-1] - t[-2])
            lv = v[-1] + g * (year - t[-1])
        else:
            lv = float(np.interp(year, t, v))
        return float(np.exp(lv) / self.divisor)


@dataclass(frozen=True)
class Hier:
    """A hierarchical level: relative to 'regional' or another level; its shared ratio
    parameter and between-district sd."""
    level: str
    relative_to: str
    ratio_param: str
    between_sd: float
    source: str


@dataclass(frozen=True)
class PlanBase:
    indicator: str
    year: int
    value: float
    cv: float
    source: str
    note: str


@dataclass(frozen=True)
class UnitStart:
    """How one unit's start vector is built. ``explicit`` maps a level or share to the
    name of its own parameter; ``z`` maps a hierarchical level to its z parameter."""
    unit: str
    year: int
    explicit: tuple[tuple[str, str], ...]
    z: tuple[tuple[str, str], ...]
    plan_base: PlanBase | None = None
    parts_year: int | None = None
    parts_indicator: str = ""
    parts_kind: str = ""
    parts: tuple[tuple[str, str], ...] = ()     # (sub-unit, its split parameter name)
    parts_weights: tuple[tuple[str, float], ...] = ()
    parts_source: str = ""

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.parts)


class StartPlan:
    """A unit's start vector as a fixed sequence of column operations, worked out once from
    its spec, the hierarchy and the parameter index (the sampler builds it thousands of
    times). ``vector(nat)`` gives (B, len(names)) from natural parameter values nat (B, n);
    ``shares(nat)`` the sub-units' shares (B, parts), or None without parts.
    """

    def __init__(self, spec: UnitStart, names: tuple[str, ...], hier: dict[str, Hier], regional: Regional | None,
                 index: dict[str, int]):
        explicit, z = dict(spec.explicit), dict(spec.z)
        steps: list[tuple] = []      # (name, explicit column) or (name, base, ratio column, sd, z column)
        done: set[str] = set()

        def level(name):
            if name in done:
                return
            if name in explicit:
                steps.append((name, index[explicit[name]]))
            else:
                h = hier[name]
                if h.relative_to == "regional":
                    base = float(np.log(regional.per_unit(spec.year)))
                else:
                    level(h.relative_to)
                    base = h.relative_to
                steps.append((name, base, index[h.ratio_param], h.between_sd, index[z[name]]))
            done.add(name)

        out = []
        for k, name in enumerate(names):
            if name in z:
                level(name)
                out.append((k, name, -1))
            else:
                out.append((k, None, index[explicit[name]]))
        self.steps, self.out = tuple(steps), tuple(out)
        self.share_cols = np.array([index[p] for _, p in spec.parts], dtype=int) if spec.parts else None

    def vector(self, nat: np.ndarray) -> np.ndarray:
        B = nat.shape[0]
        logs: dict[str, np.ndarray] = {}
        for st in self.steps:
            if len(st) == 2:
                logs[st[0]] = np.log(np.maximum(nat[:, st[1]], 1e-300))
            else:
                name, base, ratio, sd, zc = st
                b = np.full(B, base) if isinstance(base, float) else logs[base]
                logs[name] = b + np.log(nat[:, ratio]) + sd * nat[:, zc]
        out = np.empty((B, len(self.out)))
        for k, name, col in self.out:
            out[:, k] = np.exp(logs[name]) if name is not None else nat[:, col]
        return out

    def arrays(self):
        """The plan as arrays for the compiled posterior (:func:`sim.kalman.log_post_batch`):
        steps (S, 5) int rows (slot, kind, base slot, column, z column), kind 0 an explicit
        level, 1 relative to the regional base, 2 to the level in the base slot; step_base
        (S, 2) rows (regional log base, between-district sd); outs (L, 2) int rows (slot of
        the level or -1, column of an explicit share); share columns (parts,) int."""
        slot = {st[0]: i for i, st in enumerate(self.steps)}
        steps = np.zeros((len(self.steps), 5), dtype=np.int64)
        base = np.zeros((len(self.steps), 2))
        for i, st in enumerate(self.steps):
            if len(st) == 2:
                steps[i] = (i, 0, 0, st[1], 0)
            else:
                name, b, ratio, sd, zc = st
                regional = isinstance(b, float)
                steps[i] = (i, 1 if regional else 2, 0 if regional else slot[b], ratio, zc)
                base[i] = (b if regional else 0.0, sd)
        outs = np.array([(-1 if name is None else slot[name], 0 if col < 0 else col) for _, name, col in self.out],
                        dtype=np.int64).reshape(len(self.out), 2)
        cols = np.zeros(0, dtype=np.int64) if self.share_cols is None else self.share_cols.astype(np.int64)
        return steps, base, outs, cols

    def shares(self, nat: np.ndarray) -> np.ndarray | None:
        """(B, parts) shares of the sub-units from their log-gamma split parameters."""
        if self.share_cols is None:
            return None
        g = np.stack([nat[:, c] for c in self.share_cols], axis=1)   # C order: the sum as before
        return g / np.maximum(g.sum(axis=1, keepdims=True), 1e-300)


def fit_rows(spec: UnitStart, rows, indicators: dict, until: int | None = None, drop: dict | None = None):
    """The published rows a unit's fit uses, and why the others of the unit are left out.

    Returns (fitted, left_out): ``fitted`` is a list of (row, part) with part None for the
    unit's own rows or the sub-unit's id; ``left_out`` a list of (row, reason). Targets are
    never fitted; actuals are, from the start year on (flows of the start year are not
    modelled), except a sub-unit's rows that define the unit's split (they are the split's
    prior, so they are not counted twice) and figures another figure of the same cell makes
    redundant (``drop``: {index in rows: reason}, default :func:`sim.observations.superseded`).
    """
    from .observations import superseded
    rows = list(rows)
    drop = superseded(rows) if drop is None else drop
    fitted, left = [], []
    parts = set(spec.part_names)
    for k, r in enumerate(rows):
        if r.unit != spec.unit and r.unit not in parts:
            continue
        part = None if r.unit == spec.unit else r.unit
        if not r.is_actual:
            left.append((r, "a target (targets are never fitted)" if r.is_target else "derived from targets"))
        elif r.indicator not in indicators:
            left.append((r, "indicator not modelled"))
        elif r.year < spec.year:
            left.append((r, f"before the start year {spec.year}"))
        elif until is not None and r.year > until:
            left.append((r, f"after the fit year {until} (withheld)"))
        elif indicators[r.indicator].is_flow and r.year == spec.year:
            left.append((r, "a flow of the start year (not modelled)"))
        elif (part is not None and spec.parts_kind == "actual" and r.indicator == spec.parts_indicator
              and r.year == spec.parts_year):
            left.append((r, "defines the sub-unit split (its prior), not fitted twice"))
        elif k in drop:
            left.append((r, drop[k]))
        else:
            fitted.append((r, part))
    return fitted, left


def last_fit_year(spec: UnitStart, rows, indicators: dict, until: int | None = None) -> int:
    """The last year with a fitted figure of the unit (or its start year): projections start after it."""
    fitted, _ = fit_rows(spec, rows, indicators, until)
    years = [r.year for r, _ in fitted] + [spec.year]
    if spec.plan_base is not None:
        years.append(spec.plan_base.year)
    return max(years)
