"""Tiers, moves, inflows, flows and indicators, compiled from data into index arrays.

The structure file declares, for each origin tier, an ordered list of competing moves
(stick-breaking): move k happens with conditional probability q_k among the firms that
did not take moves 1..k-1, so its unconditional probability is

    pi_k = q_k * prod_{j<k} (1 - q_j),   pi_rest = prod_j (1 - q_j).

Each q_k is an interpretable yearly probability with its own Beta prior, and any values
in [0, 1] give a valid distribution (rows sum to one by construction). The remainder goes
to the origin's ``rest`` tier (itself for R, S and L; the next certificate year for H1 and
H2; the tech-SME tier for H3, whose certificate has run out). Inflows are Poisson with
mean ``rate * size``, where size is the unit's stock of the named tiers at the start of
the year (the previous year-end): inflows follow the system as it grows, so a unit that
grew 25% a year keeps that growth in its projection instead of decaying toward a fixed
inflow, and sub-units of very different sizes share one rate.

Indicators are signed sums of states and flows: ``states`` and ``flows`` add, and
``minus_flows`` subtract (the net change of a stock over a year is a flow indicator).

The ``[start]`` table declares how a unit's start levels fill the tiers: each level (a
stock with a prior in the starts file) names its tiers; ``shares`` give a tier a share of
the level (a probability parameter of the starts file), and the rest of the level is
spread over its remaining tiers by ``split``: "cohort" weights certificate years by
(1 + cohort_growth)^-age, the first listed tier being the newest; "equal" splits evenly.

This one table drives both the Kalman-filter likelihood (:mod:`sim.calibrate`) and the
integer simulator (:mod:`sim.engine`), so the two cannot disagree. The file is read and
validated by :mod:`sim.load_structure`; this module holds the types and never sees TOML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


OUT = -1  # destination index of a firm that leaves all tracked tiers


@dataclass(frozen=True)
class Move:
    dest: int          # tier index or OUT
    param: str         # name of the conditional-probability parameter
    flow: int          # flow index, or -1 for none


@dataclass(frozen=True)
class Origin:
    tier: int
    rest: int
    rest_flow: int
    moves: tuple[Move, ...]


@dataclass(frozen=True)
class Inflow:
    dest: int
    param: str
    size: tuple[int, ...]   # tiers whose start-year stock measures the unit's size
    flow: int


@dataclass(frozen=True)
class Indicator:
    name: str
    states: tuple[int, ...]
    flows: tuple[int, ...]
    zh: str
    en: str
    cv: float              # reporting noise (coefficient of variation) of published values
    minus_flows: tuple[int, ...] = ()   # flows subtracted (a net change)

    @property
    def is_flow(self) -> bool:
        return bool(self.flows or self.minus_flows)


@dataclass(frozen=True)
class StartLevel:
    """One start level: the tiers it fills, tier shares (share parameter names), split rule."""
    name: str
    tiers: tuple[int, ...]
    shares: tuple[tuple[int, str], ...]   # (tier, share parameter)
    split: str                             # "cohort" | "equal"
    zh: str = ""
    en: str = ""


@dataclass(frozen=True)
class Component:
    """One bar of the waterfall: a sum of flows that adds to (sign +1) or takes from (-1)
    the headline stock."""
    flows: tuple[int, ...]
    sign: int
    zh: str
    en: str


@dataclass(frozen=True)
class Variant:
    """An alternative definition of one indicator (sensitivity analysis): its states and
    flows replace the declared ones; its reporting noise and labels stay."""
    name: str
    indicator: str
    states: tuple[int, ...]
    flows: tuple[int, ...]
    minus_flows: tuple[int, ...]
    zh: str
    en: str


@dataclass(frozen=True)
class Structure:
    tiers: tuple[str, ...]
    flows: tuple[str, ...]
    origins: tuple[Origin, ...]
    inflows: tuple[Inflow, ...]
    indicators: dict[str, Indicator]
    tier_labels: dict[str, dict[str, str]]
    flow_labels: dict[str, dict[str, str]]
    cohort_growth: float
    prob_params: tuple[str, ...] = field(default=())
    rate_params: tuple[str, ...] = field(default=())
    start_levels: tuple[StartLevel, ...] = field(default=())
    headline: str = ""                     # the indicator the meeting asks about first
    # What the figures, goal seeking and sensitivity analysis read; nothing the fit depends
    # on, so they stay out of the repr that keys the fit cache (sim.calibrate.fit_key).
    headline_words: dict[str, str] = field(default_factory=dict, repr=False)   # lang -> a few words
    goal_rates: tuple[str, ...] = field(default=(), repr=False)
    key_indicators: tuple[str, ...] = field(default=(), repr=False)   # a scenario's default
    start_words: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)   # lang -> name -> words
    waterfall: tuple[Component, ...] = field(default=(), repr=False)
    variants: tuple[Variant, ...] = field(default=(), repr=False)

    @property
    def start_names(self) -> tuple[str, ...]:
        """Start levels, then share parameters: the order of a unit's start vector."""
        return self.level_names + self.share_names

    @property
    def level_names(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self.start_levels)

    @property
    def share_names(self) -> tuple[str, ...]:
        return tuple(p for lv in self.start_levels for _, p in lv.shares)

    def start_labels(self, unit: str) -> dict[str, dict[str, str]]:
        """Labels of a unit's start levels as factors a result may depend on."""
        return {f"{unit}.{lv.name}": {"zh": f"起始水平：{lv.zh}", "en": f"start level: {lv.en}"}
                for lv in self.start_levels}

    @property
    def K(self) -> int:
        return len(self.tiers)

    @property
    def F(self) -> int:
        return len(self.flows)

    def tier(self, name: str) -> int:
        return self.tiers.index(name)

    def flow(self, name: str) -> int:
        return self.flows.index(name)

    def with_variant(self, variant: Variant) -> "Structure":
        """This structure with one indicator read as ``variant`` defines it."""
        ind = self.indicators[variant.indicator]
        new = replace(ind, states=variant.states, flows=variant.flows, minus_flows=variant.minus_flows)
        return replace(self, indicators={**self.indicators, variant.indicator: new})

    def indicator_weights(self, name: str) -> np.ndarray:
        """Row of length K+F: the indicator as a linear function of [states, flows]."""
        ind = self.indicators[name]
        w = np.zeros(self.K + self.F)
        w[list(ind.states)] = 1.0
        w[[self.K + f for f in ind.flows]] = 1.0
        w[[self.K + f for f in ind.minus_flows]] -= 1.0
        return w
