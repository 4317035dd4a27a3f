"""Levers: response curves and costs (pure numpy).

A lever set to x shifts each rate it acts on, on the rate's link scale, by

    delta = beta * (g(x) - g(x_cal)),   g(x) = 1 - exp(-x / scale),

so the response saturates in the amount, is monotone in x for beta >= 0, is zero at the
setting in force during calibration (x = x_cal: the baseline reproduces the fit), and
beta (the shift at saturation) is uncertain: drawn per path uniformly from a stated range.
A quota lever sets a minimum yearly count of an inflow instead.
Costs are paid per event: amount (or a fixed cost) times the events, times a factor; a
lever that pays on "setting" pays its cost per event for every unit of its setting (a pool
of x firms a year costs x times the cost per firm).

Who holds a lever (``controlled_by``: district, city or province; a district lever names its
district) decides what goal seeking may vary; ``capacity`` is the range goal seeking
searches (a plan's floor such as "at least 250 firms a year", a stated ceiling), and
``grain`` the step a bureau sets it in: whole 10k yuan for money, whole firms for counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Lever:
    name: str
    zh: str
    en: str
    acts_on: tuple[str, ...]
    kind: str                 # "shift" | "quota"
    amount: str               # "money" | "count" | "intensity"
    calibrated_at: float
    bounds: tuple[float, float]
    scale: float
    strength: tuple[float, float]
    strength_source: str
    pays_on: str              # "flow:NAME" | "state:TIER" | "fixed"
    fixed_count: float
    cost_per_event: float
    cost_factor: float
    cost_note: str
    source_file: str
    passage: str
    start: int | None = None
    end: int | None = None
    controlled_by: str = "district"      # "district" | "city" | "province"
    district: str = ""                    # the unit that holds a district lever
    control_passage: str = ""             # the passage (in control_source) that says who holds it
    control_source: str = ""              # the file of control_passage (default: source_file)
    capacity: tuple[float, float] | None = None   # range goal seeking searches (default: bounds)
    capacity_note: str = ""               # where the capacity comes from (seed or assumption)
    capacity_basis: tuple[str, str] = ("assumption", "assumption")   # floor, ceiling: "seed" | "assumption"
    cost_basis: str = "seed"              # "seed" | "assumption": is the cost per event assumed?

    @property
    def grain(self) -> float:
        """The step a bureau sets the lever in: 1 (10k yuan, or one firm), 0.05 for an intensity."""
        return 0.05 if self.amount == "intensity" else 1.0

    @property
    def search_range(self) -> tuple[float, float]:
        return self.capacity if self.capacity is not None else self.bounds

    def held_by(self, unit: str) -> bool:
        """True for a lever the district ``unit`` itself holds."""
        return self.controlled_by == "district" and self.district == unit

    @property
    def is_free(self) -> bool:
        """True when the lever costs nothing at any setting (it then needs a capacity)."""
        if self.amount == "money":
            return self.cost_factor == 0 or (self.pays_on == "fixed" and self.fixed_count == 0)
        return self.cost_per_event * self.cost_factor == 0 or (self.pays_on == "fixed" and self.fixed_count == 0)

    def active(self, year: int) -> bool:
        return (self.start is None or year >= self.start) and (self.end is None or year <= self.end)

    def unit_cost(self, x: float) -> float:
        """Cost of one event at setting x, 10k yuan."""
        return (x if self.amount == "money" else self.cost_per_event) * self.cost_factor

    def events_per_year(self, x: float) -> float | None:
        """Events a year that do not depend on the simulated firms: the fixed count, or the
        setting itself for a lever paying on "setting"; None when they follow the flows."""
        if self.pays_on == "fixed":
            return self.fixed_count
        if self.pays_on == "setting":
            return x
        return None


def response(x, scale: float):
    """Saturating response g(x) = 1 - exp(-x / scale), with g(0) = 0 and g(inf) = 1."""
    return -np.expm1(-np.asarray(x, dtype=float) / scale)


def shift(lever: Lever, x: float, beta: np.ndarray) -> np.ndarray:
    """Link-scale shift of each acted-on rate, shape of ``beta`` (paths,)."""
    if lever.kind != "shift":
        return np.zeros_like(beta)
    return beta * (response(x, lever.scale) - response(lever.calibrated_at, lever.scale))


def draw_strengths(lever: Lever, u: np.ndarray) -> np.ndarray:
    """Map uniform draws u in [0, 1) to strengths in the lever's range."""
    lo, hi = lever.strength
    return lo + (hi - lo) * u
