"""Tiers, moves, inflows, flows and indicators, compiled from data into index arrays.

The structure file declares, for each origin tier, an ordered list of competing moves
(stick-breaking): move k happens with conditional probability q_k among the firms that
did not take moves 1..k-1, so its unconditional probability is

    pi_k = q_k * prod_{j<k} (1 - q_j),   pi_rest = prod_j (1 - q_j).

Each q_k is an interpretable yearly probability with its own Beta prior, and any values
in [0, 1] give a valid distribution (rows sum to one by construction). The remainder goes
to the origin's ``rest`` tier (itself for R, S and L; the next certificate year for H1 and
H2; the tech-SME tier for H3, whose certificate has run out). Inflows are Poisson with
mean ``rate * size``, where size is the unit's start-year stock of the named tiers, so
sub-units of very different sizes share one rate.

This one table drives both the Kalman-filter likelihood (:mod:`sim.calibrate`) and the
integer simulator (:mod:`sim.engine`), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError
from .tomlio import Table, read_toml

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

    @property
    def is_flow(self) -> bool:
        return bool(self.flows)


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
    hte_tiers: tuple[int, ...]
    prob_params: tuple[str, ...] = field(default=())
    rate_params: tuple[str, ...] = field(default=())

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

    def indicator_weights(self, name: str) -> np.ndarray:
        """Row of length K+F: the indicator as a linear function of [states, flows]."""
        ind = self.indicators[name]
        w = np.zeros(self.K + self.F)
        w[list(ind.states)] = 1.0
        w[[self.K + f for f in ind.flows]] = 1.0
        return w


def load_structure(path: Path, shown: str) -> Structure:
    """Read and validate a structure TOML file."""
    t = Table(read_toml(path, shown), shown)
    tiers = tuple(t.strings("tiers"))
    if len(set(tiers)) != len(tiers) or not tiers:
        raise InputError(shown, "tiers", "a non-empty list of distinct names", repr(list(tiers)))
    growth = t.number("cohort_growth", lo=-0.5, hi=2.0)
    hte = tuple(tiers.index(x) for x in t.strings("hte_tiers", choices=tiers))
    labels = t.table("tier_labels")
    tier_labels = {lang: _labels(labels.table(lang), tiers) for lang in ("zh", "en")}
    labels.close()

    flows_t = t.table("flows")
    flow_names = tuple(flows_t.keys())
    flow_labels = {}
    for name in flow_names:
        ft = flows_t.table(name)
        flow_labels[name] = {"zh": ft.string("zh"), "en": ft.string("en")}
        ft.close()
    flows_t.close(allowed=flow_names)
    fidx = {n: i for i, n in enumerate(flow_names)}
    dests = tiers + ("out",)

    def dest(v):
        return OUT if v == "out" else tiers.index(v)

    prob, rate = [], []
    origins = []
    for ot in t.tables("origin"):
        tier = ot.string("tier", choices=tiers)
        rest = ot.string("rest", choices=tiers)
        rest_flow = ot.string("rest_flow", default=None, choices=flow_names)
        moves = []
        for mt in [Table(m, shown, f"{ot.where}.moves[{i}]") for i, m in enumerate(ot.get("moves", list))]:
            param = mt.string("param")
            if param not in prob:
                prob.append(param)
            fl = mt.string("flow", default=None, choices=flow_names)
            moves.append(Move(dest(mt.string("to", choices=dests)), param, fidx[fl] if fl else -1))
            mt.close()
        origins.append(Origin(tiers.index(tier), tiers.index(rest), fidx[rest_flow] if rest_flow else -1, tuple(moves)))
        ot.close()
    if sorted(o.tier for o in origins) != list(range(len(tiers))):
        raise InputError(shown, "origin", "exactly one [[origin]] per tier", f"origins for {[tiers[o.tier] for o in origins]}")
    inflows = []
    for it in t.tables("inflow", default=[]):
        param = it.string("param")
        if param in prob:
            raise InputError(shown, f"{it.where}.param", "a rate name not used as a move probability", repr(param))
        rate.append(param)
        inflows.append(Inflow(tiers.index(it.string("to", choices=tiers)), param,
                              tuple(tiers.index(s) for s in it.strings("size", choices=tiers)),
                              fidx[it.string("flow", choices=flow_names)]))
        it.close()
    ind_t = t.table("indicators")
    indicators = {}
    for name in ind_t.keys():
        it = ind_t.table(name)
        states = tuple(tiers.index(s) for s in it.strings("states", default=[], choices=tiers))
        fl = tuple(fidx[f] for f in it.strings("flows", default=[], choices=flow_names))
        if bool(states) == bool(fl):
            raise InputError(shown, f"indicators.{name}", "either 'states' or 'flows' (not both, not neither)",
                             f"states={list(states)}, flows={list(fl)}")
        indicators[name] = Indicator(name, states, fl, it.string("zh"), it.string("en"),
                                     it.number("cv", lo=0.0, hi=1.0))
        it.close()
    ind_t.close(allowed=indicators.keys())
    t.close()
    return Structure(tiers, flow_names, tuple(sorted(origins, key=lambda o: o.tier)), tuple(inflows),
                     indicators, tier_labels, flow_labels, growth, hte, tuple(prob), tuple(rate))


def _labels(t: Table, tiers) -> dict[str, str]:
    out = {name: t.string(name) for name in tiers}
    t.close()
    return out
