"""Levers: response curves and costs (pure numpy).

A lever set to x shifts each rate it acts on, on the rate's link scale, by

    delta = beta * (g(x) - g(x_cal)),   g(x) = 1 - exp(-x / scale),

so the response saturates in the amount, is monotone in x for beta >= 0, is zero at the
setting in force during calibration (x = x_cal: the baseline reproduces the fit), and
beta (the shift at saturation) is uncertain: drawn per path uniformly from a stated range.
A quota lever sets a minimum yearly count of an inflow instead.
Costs are paid per event: amount (or a fixed cost) times the events, times a factor.
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

    def active(self, year: int) -> bool:
        return (self.start is None or year >= self.start) and (self.end is None or year <= self.end)

    def unit_cost(self, x: float) -> float:
        """Cost of one event at setting x, 10k yuan."""
        return (x if self.amount == "money" else self.cost_per_event) * self.cost_factor


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
