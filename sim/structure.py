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
integer simulator (:mod:`sim.engine`), so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .errors import InputError, did_you_mean
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


def load_structure(path: Path, shown: str) -> Structure:
    """Read and validate a structure TOML file."""
    t = Table(read_toml(path, shown), shown)
    tiers = tuple(t.strings("tiers"))
    if len(set(tiers)) != len(tiers) or not tiers:
        raise InputError(shown, "tiers", "a non-empty list of distinct names", repr(list(tiers)))
    growth = t.number("cohort_growth", lo=-0.5, hi=2.0)
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
        minus = tuple(fidx[f] for f in it.strings("minus_flows", default=[], choices=flow_names))
        if bool(states) == bool(fl or minus):
            raise InputError(shown, f"indicators.{name}", "either 'states' or 'flows' (not both, not neither)",
                             f"states={list(states)}, flows={list(fl + minus)}")
        indicators[name] = Indicator(name, states, fl, it.string("zh"), it.string("en"),
                                     it.number("cv", lo=0.0, hi=1.0), minus)
        it.close()
    ind_t.close(allowed=indicators.keys())
    headline = t.string("headline", choices=tuple(indicators))
    hw = t.table("headline_words", default=None)   # default: the indicator's own labels
    headline_words = {lang: getattr(indicators[headline], lang) if hw is None else hw.string(lang)
                      for lang in ("zh", "en")}
    if hw is not None:
        hw.close()
    goal_rates = tuple(t.strings("goal_rates", default=[], choices=tuple(prob + rate)))
    key_indicators = tuple(t.strings("key_indicators", default=[headline], choices=tuple(indicators)))
    start = _start_levels(t.table("start"), tiers, prob + rate)
    names = tuple(lv.name for lv in start) + tuple(p for lv in start for _, p in lv.shares)
    sw = t.table("start_words", default=None)
    start_words = {}
    if sw is not None:
        for lang in ("zh", "en"):
            lt = sw.table(lang)
            start_words[lang] = {k: lt.string(k) for k in names if lt.has(k)}
            lt.close()
        sw.close()
    waterfall = tuple(_component(wt, flow_names, fidx) for wt in t.tables("waterfall", default=[]))
    vt = t.table("variants", default=None)
    variants = ()
    if vt is not None:
        variants = tuple(_variant(vt.table(name), name, tiers, flow_names, fidx, indicators) for name in vt.keys())
        vt.close()
    t.close()
    return Structure(tiers, flow_names, tuple(sorted(origins, key=lambda o: o.tier)), tuple(inflows),
                     indicators, tier_labels, flow_labels, growth, tuple(prob), tuple(rate), start, headline,
                     headline_words, goal_rates, key_indicators, start_words, waterfall, variants)


def _component(t: Table, flow_names, fidx) -> Component:
    flows = tuple(fidx[f] for f in t.strings("flows", choices=flow_names))
    if not flows:
        raise InputError(t.file, f"{t.where}.flows", "at least one flow", "an empty list")
    sign = t.number("sign", integer=True, lo=-1, hi=1)
    if sign == 0:
        raise InputError(t.file, f"{t.where}.sign", "1 (adds to the stock) or -1 (takes from it)", "0")
    out = Component(flows, int(sign), t.string("zh"), t.string("en"))
    t.close()
    return out


def _variant(t: Table, name: str, tiers, flow_names, fidx, indicators) -> Variant:
    ind = t.string("indicator", choices=tuple(indicators))
    states = tuple(tiers.index(s) for s in t.strings("states", default=[], choices=tiers))
    fl = tuple(fidx[f] for f in t.strings("flows", default=[], choices=flow_names))
    minus = tuple(fidx[f] for f in t.strings("minus_flows", default=[], choices=flow_names))
    if bool(states) == bool(fl or minus):
        raise InputError(t.file, f"variants.{name}", "either 'states' or 'flows' (not both, not neither)",
                         f"states={list(states)}, flows={list(fl + minus)}")
    out = Variant(name, ind, states, fl, minus, t.string("zh"), t.string("en"))
    t.close()
    return out


def _start_levels(t: Table, tiers, param_names) -> tuple[StartLevel, ...]:
    out, filled = [], []
    for name in t.keys():
        lt = t.table(name)
        lv_tiers = tuple(tiers.index(x) for x in lt.strings("tiers", choices=tiers))
        st = lt.table("shares", default=None)
        shares = ()
        if st is not None:
            for k in st.keys():
                if k not in tiers:
                    raise InputError(t.file, f"{st.where}.{k}", "a tier name", repr(k), did_you_mean(k, tiers))
            shares = tuple((tiers.index(k), st.string(k)) for k in st.keys())
            st.close()
        split = lt.string("split", default="equal", choices=("cohort", "equal"))
        zh, en = lt.string("zh"), lt.string("en")
        lt.close()
        if not lv_tiers or any(k not in lv_tiers for k, _ in shares) or len(shares) >= len(lv_tiers):
            raise InputError(t.file, f"start.{name}", "tiers, and shares of some (not all) of those tiers",
                             f"tiers {[tiers[k] for k in lv_tiers]}, shares {[tiers[k] for k, _ in shares]}")
        for p in [name] + [p for _, p in shares]:
            if p in param_names:
                raise InputError(t.file, f"start.{name}", "start-level and share names other than rate names", repr(p))
        filled += list(lv_tiers)
        out.append(StartLevel(name, lv_tiers, shares, split, zh, en))
    if sorted(filled) != list(range(len(tiers))):
        raise InputError(t.file, "start", "every tier filled by exactly one start level",
                         f"tiers filled: {sorted(tiers[k] for k in filled)}")
    return tuple(out)


def _labels(t: Table, tiers) -> dict[str, str]:
    out = {name: t.string(name) for name in tiers}
    t.close()
    return out
