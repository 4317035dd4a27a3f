"""The structure file (``calibration/structure.toml``): TOML -> a validated :class:`sim.structure.Structure`.

The reading and validation of the file's tables, at the edge: :mod:`sim.structure` holds the
types and the pure functions over them, and never sees TOML. Every problem is one sentence
naming the file, the key, what was expected and what was found (:class:`sim.errors.InputError`).
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError, did_you_mean
from .structure import OUT, Component, Indicator, Inflow, Move, Origin, StartLevel, Structure, Variant
from .tomlio import Table, read_toml


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
