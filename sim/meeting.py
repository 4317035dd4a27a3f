"""The meeting's answers, read from a finished run folder (:class:`sim.rundata.RunData`): the
headline sentences, the key-targets-by-scenario table and the lever ranking. The terminal,
report_<lang>.html and report_<lang>.xlsx all take them from here, so every number they show
is the same rounded value of the run's CSVs.
"""

from __future__ import annotations

import math

import pandas as pd

from .results import is_scored, target_phrase
from .rundata import load_run
from .text import LABEL_WORDS, M, fit, money, note, num, param_label, pct, rfit, signed, tr, variant, width
from .update import terminal_lines

def headline(rd):
    """The headline target as (unit, indicator, year, target), or None."""
    ht = rd.manifest.get("headline_target")
    return None if not ht else (ht["unit"], ht["indicator"], int(ht["year"]), float(ht["target"]))


def key_targets(rd) -> list[tuple[str, int, float]]:
    """(indicator, year, target) of the main unit: the headline first, then the latest target
    of each key indicator, then the latest of any other indicator with a target."""
    tg = rd.targets
    if tg.empty:
        return []
    main = tg[(tg.unit == rd.main_unit) & (tg.scenario == rd.base_policy)]
    out = []
    ht = headline(rd)
    if ht and ht[0] == rd.main_unit:
        out.append((ht[1], ht[2], ht[3]))
    order = list(rd.labels["key_indicators"]) + [i for i in dict.fromkeys(main.indicator)
                                                   if i not in rd.labels["key_indicators"]]
    for ind in order:
        sub = main[main.indicator == ind].sort_values("year")
        if len(sub):
            r = sub.iloc[-1]
            k = (ind, int(r.year), float(r.target))
            if k not in out:
                out.append(k)
    return out


def key_table(rd, lang: str) -> pd.DataFrame:
    """One row per scenario (file order): for each key target P(met) and median; extra firms
    and cost per extra firm against current policy for the headline target."""
    sf = rd.scenarios
    rows = []
    keys = key_targets(rd)
    ht = headline(rd)
    rk = rd.ranking.set_index("scenario") if not rd.ranking.empty else None
    for pol in rd.policy_names:
        row = {"scenario": pol, "label": rd.policy_label(pol, lang)}
        for ind, year, target in keys:
            r = sf[(sf.unit == rd.main_unit) & (sf.scenario == pol) & (sf.indicator == ind) & (sf.year == year)]
            tr_ = rd.targets[(rd.targets.unit == rd.main_unit) & (rd.targets.scenario == pol)
                             & (rd.targets.indicator == ind) & (rd.targets.year == year)]
            row[(ind, year, "p")] = float(r.p_met.iloc[0]) if len(r) else math.nan
            row[(ind, year, "median")] = float(tr_["median"].iloc[0]) if len(tr_) else math.nan
        if ht and rk is not None and pol in rk.index:
            row["extra"] = float(rk.loc[pol, "extra_p50"])
            row["cost_per"] = float(rk.loc[pol, "cost_per_extra_p50_10k_yuan"])
        else:
            row["extra"], row["cost_per"] = math.nan, math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def ranked(rd) -> pd.DataFrame:
    """The ranking table in rank order (empty when the run has one scenario)."""
    rk = rd.ranking
    if rk.empty:
        return rk
    return rk.sort_values(["rank", "scenario"], kind="stable")


def _order(rk: pd.DataFrame, col: str, rd, lang: str) -> str:
    sub = rk[rk[col].notna()] if col in rk else rk.iloc[0:0]
    if sub.empty:
        return tr("order_none", lang)
    rank_col = {"cost_per_extra_low_10k_yuan": "rank_low", "cost_per_extra_high_10k_yuan": "rank_high"}[col]
    names = [rd.policy_label(p, lang) for p in sub.sort_values(rank_col).scenario]
    return tr("order_is", lang, x=(" > " if lang == "en" else "＞").join(f"“{n}”" if lang == "zh" else f"'{n}'"
                                                                           for n in names))


def money_range(lo: float, hi: float, lang: str, med: float = 0.0) -> str:
    """An 80% interval of money; open above when the scenario may add no firms; none when the
    median itself is undefined."""
    if not math.isfinite(lo) or not math.isfinite(med):
        return "—"
    if not math.isfinite(hi):
        return tr("range_open", lang, lo=money(lo, lang))
    return tr("range", lang, lo=money(lo, lang), hi=money(hi, lang))


def lever_sentences(rd, lang: str) -> list[str]:
    """Which lever per 万元, and how far that rests on the assumed effect sizes."""
    rk = ranked(rd)
    if rk.empty:
        return []
    good = rk[rk.cost_per_extra_p50_10k_yuan.notna()]
    if good.empty:
        return [tr("hl_lever_none", lang)]
    b = good.iloc[0]
    hi = b.cost_per_extra_p90_10k_yuan
    out = [tr("hl_lever", lang, best=rd.policy_label(b.scenario, lang), extra=num(b.extra_p50),
              cost=money(b.cost_per_extra_p50_10k_yuan, lang),
              range=money_range(b.cost_per_extra_p10_10k_yuan, hi, lang), per=f"{b.per_100wan_p50:.1f}")]
    if not rk.strength_assumed.any():
        out.append(tr("hl_assumed", lang, low="—", high="—", verdict=tr("hl_assumed_none", lang)))
        return out
    low = rk[rk.cost_per_extra_low_10k_yuan.notna()].sort_values("rank_low")
    high = rk[rk.cost_per_extra_high_10k_yuan.notna()].sort_values("rank_high")
    same = (not low.empty and not high.empty and low.scenario.iloc[0] == high.scenario.iloc[0])
    out.append(tr("hl_assumed", lang, low=_order(rk, "cost_per_extra_low_10k_yuan", rd, lang),
                  high=_order(rk, "cost_per_extra_high_10k_yuan", rd, lang),
                  verdict=tr("hl_assumed_same" if same else "hl_assumed_differs", lang)))
    return out


def caveat_lists(row, rd, lang: str) -> tuple[list[str], list[str]]:
    def items(key):
        v = row.get(key, "")
        return [x for x in v.split(";") if x] if isinstance(v, str) else []
    rates = rd.labels["rates"]
    return ([rates.get(x, {}).get(lang, x) for x in items("depends_on_prior_dominated")],
            [variant(x, lang, rd.labels.get("variants")) for x in items("assumption_sensitive")])


def sentences(rd, lang: str) -> list[str]:
    """The headline sentences in meeting order: will we reach it and how likely; what it
    would take; which lever per 万元 (and how much that rests on assumptions); the hardest
    other target; how much of the model the data pin down."""
    ht = headline(rd)
    tg = rd.targets
    if ht is None or tg.empty:
        return [tr("hl_none", lang)]
    unit, ind, year, _ = ht
    ul, il = rd.unit_label(unit, lang), rd.ind_label(ind, lang)
    sel = (tg.unit == unit) & (tg.indicator == ind) & (tg.year == year)
    base = tg[sel & (tg.scenario == rd.base_policy)].iloc[0]
    dep, sens = caveat_lists(base, rd, lang)
    sep = M["comma"][lang]
    s = tr("hl_base", lang, pol=rd.policy_label(rd.base_policy, lang), year=year, unit=ul, ind=il, target=num(base.target),
           p=pct(base.p_met), median=num(base["median"]), lo=num(base.p10), hi=num(base.p90))
    s += tr("hl_dep", lang, x=sep.join(dep)) if dep else ""
    s += tr("hl_sens", lang, x=sep.join(sens)) if sens else ""
    out = [s]
    alt = tg[sel & (tg.scenario != rd.base_policy)]
    if not alt.empty:
        best = alt.sort_values(["median", "scenario"], ascending=[False, True]).iloc[0]
        if best["median"] < best.target:
            out.append(tr("hl_gap", lang, gap=num(base.target - base["median"]),
                          best=rd.policy_label(best.scenario, lang), median=num(best["median"]), p=pct(best.p_met)))
        else:
            top = alt.sort_values(["p_met", "scenario"], ascending=[False, True]).iloc[0]
            out.append(tr("hl_reach", lang, best=rd.policy_label(top.scenario, lang), p=pct(top.p_met),
                          median=num(top["median"])))
    goal = getattr(rd, "goal", None)
    col_ = goal_column(goal, lang)
    if col_:
        mix = goal[goal.kind == "mix"] if "kind" in goal else goal.iloc[0:0]
        if len(mix):
            out.append(tr("hl_goal", lang, x=str(mix[col_].iloc[0])))
    out += lever_sentences(rd, lang)
    others = tg[(tg.unit == unit) & (tg.scenario == rd.base_policy) & ~((tg.indicator == ind) & (tg.year == year))]
    if not others.empty:
        lo = others.sort_values(["p_met", "year"]).iloc[0]
        out.append(tr("hl_hardest", lang, year=int(lo.year), ind=rd.ind_label(lo.indicator, lang),
                      target=num(lo.target), p=pct(lo.p_met), median=num(lo["median"])))
    cal = rd.calibration
    if not cal.empty:
        rates = cal[cal.parameter.isin(list(rd.labels["rates"]))]
        out.append(tr("hl_rates", lang, n=len(rates), data=int((rates.label == "data-informed").sum()),
                      prior=int((rates.label == "prior-dominated").sum())))
    return out


def goal_column(goal, lang: str):
    """The goal table's sentence column in ``lang`` (a goal folder written before both
    languages were kept has one column, in the language it was run in), or None."""
    if goal is None or goal.empty:
        return None
    for c in (f"sentence_{lang}", "sentence"):
        if c in goal.columns:
            return c
    return None


def calibration_line(rd, lang: str, reused: bool) -> str:
    """The calibration status as one translated line (the details are behind -v)."""
    s = rd.manifest.get("sampler", {}) or {}
    how = tr("term_cal_reused" if reused else "term_cal_fitted", lang)
    problems = []
    if not s.get("converged", False):
        problems.append(tr("term_cal_rhat", lang, x=f"{float(s.get('rhat_max', float('nan'))):.3f}"))
        problems.append(tr("term_cal_ess", lang, x=f"{min(float(s.get('ess_bulk_min', 0)), float(s.get('ess_tail_min', 0))):,.0f}"))
    n = rd.manifest.get("actuals_fitted", 0)
    if problems:
        return tr("term_cal_warn", lang, how=how, n=n, problem=M["comma"][lang].join(problems))
    return tr("term_cal_ok", lang, how=how, n=n)


def key_table_lines(rd, lang: str) -> list[str]:
    """The key targets x scenarios table as terminal lines (CJK-aware alignment)."""
    kt = key_table(rd, lang)
    name_width = min(32, max([width(x) for x in kt.label] + [8])) if not kt.empty else 8
    keys = key_targets(rd)[:3]
    if kt.empty or not keys:
        return []
    heads = [fit("", name_width)]
    years = [fit("", name_width)]
    subs = [fit(tr("term_head_scenario", lang), name_width)]
    blocks = []
    for ind, year, target in keys:
        sub = rfit(tr("term_head_p", lang), 6) + " " + rfit(tr("term_head_median", lang), 7)
        label = rd.ind_label(ind, lang)
        w = max(width(sub), min(width(label), 18))
        heads.append(fit(label, w))
        years.append(fit(f"{year}≥{num(target)}" if lang == "zh" else f"{year} >= {num(target)}", w))
        subs.append(rfit(sub, w))
        blocks.append(w)
    has_rank = not rd.ranking.empty
    if has_rank:
        ht = headline(rd)
        sub = rfit(tr("term_head_extra", lang), 10) + " " + rfit(tr("term_head_cost", lang), 13)
        heads.append(fit(tr("term_vs_base", lang), width(sub)))
        years.append(fit(f"{rd.ind_label(ht[1], lang)} {ht[2]}" if ht else "", width(sub)))
        subs.append(sub)
    lines = ["  ".join(heads).rstrip(), "  ".join(years).rstrip(), "  ".join(subs).rstrip()]
    for _, r in kt.iterrows():
        cells = [fit(r.label, name_width)]
        for (ind, year, _), w in zip(keys, blocks):
            cells.append(rfit(rfit(pct(r[(ind, year, "p")]), 6) + " " + rfit(num(r[(ind, year, "median")]), 7), w))
        if has_rank:
            extra = "" if r.scenario == rd.base_policy else signed(r.extra)
            cost = "" if r.scenario == rd.base_policy else num(r.cost_per)
            cells.append(rfit(extra, 10) + " " + rfit(cost, 13))
        lines.append("  ".join(cells).rstrip())
    return lines


def terminal(rd, lang: str, reused: bool, verbose: bool = False) -> list[str]:
    """What ``sim run`` prints: one screen (title, headline sentences, the key table, one
    calibration line, where the pack is); with ``verbose`` also every target and scenario
    and the calibration notes."""
    out = []
    ht = headline(rd)
    if ht:
        out.append(tr("term_title", lang, unit=rd.unit_label(ht[0], lang), year=ht[2],
                      ind=rd.ind_label(ht[1], lang), target=num(ht[3])))
    out += ["• " + s for s in sentences(rd, lang)]
    table = key_table_lines(rd, lang)
    if table:
        out += [""] + table
    out += settled_lines(rd, lang)
    out += ["", calibration_line(rd, lang, reused)]
    if verbose:
        out += [""] + target_lines(rd, lang)
        notes = rd.manifest.get("calibration_notes", [])
        if notes:
            out += ["", tr("term_notes", lang)]
            out += ["  " + note(n, lang, lambda u: rd.labels["units"].get(u, {}).get(lang, u)) for n in notes]
    return out


def settled_lines(rd, lang: str, most: int = 3) -> list[str]:
    """Targets whose outcome is already published (met / missed), district first: at most
    ``most`` lines, then a count."""
    tg = rd.targets
    if tg.empty or "status" not in tg.columns:
        return []
    done = tg[(tg.scenario == rd.base_policy) & tg.p_met.isna() & tg.status.isin(["met", "missed", "open"])]
    order = {x: k for k, x in enumerate([rd.main_unit] + list(rd.sub_units))}
    done = done.assign(_u=done.unit.map(order).fillna(99)).sort_values(["_u", "year", "indicator"], kind="stable")
    out = [tr("term_settled_short", lang, unit=rd.unit_label(r.unit, lang), year=int(r.year), ind=rd.ind_label(r.indicator, lang),
              target=num(r.target), phrase=target_phrase(r, lang)) for _, r in done.head(most).iterrows()]
    if len(done) > most:
        out.append(tr("term_settled_more", lang, n=len(done) - most))
    return ([""] + out) if out else []


def target_lines(rd, lang: str) -> list[str]:
    """Every scored target x scenario, district first, scenarios in file order."""
    tg = rd.targets
    if tg.empty:
        return []
    units = [rd.main_unit] + [u for u in rd.sub_units]
    out = []
    for unit in units:
        for (ind, year), grp in tg[tg.unit == unit].groupby(["indicator", "year"], sort=False):
            for pol in rd.policy_names:
                r = grp[grp.scenario == pol]
                if r.empty:
                    continue
                r = r.iloc[0]
                if not is_scored(r):   # the outcome is published: met / missed, no probability
                    out.append(tr("term_settled", lang, pol=rd.policy_label(pol, lang), unit=rd.unit_label(unit, lang),
                                  year=int(year), ind=rd.ind_label(ind, lang), target=num(r.target),
                                  phrase=target_phrase(r, lang)))
                    continue
                dep, sens = caveat_lists(r, rd, lang)
                sep = M["comma"][lang]
                cav = (tr("term_dep", lang, x=sep.join(dep)) if dep else "") + \
                      (tr("term_sens", lang, x=sep.join(sens)) if sens else "")
                out.append(tr("term_line", lang, pol=rd.policy_label(pol, lang), unit=rd.unit_label(unit, lang),
                              year=int(year), ind=rd.ind_label(ind, lang), target=num(r.target), p=pct(r.p_met),
                              se=f"{100 * r.mc_se:.1f}%", median=num(r["median"]), caveats=cav))
    return out


def run_screen(folder, lang: str, reused: bool, verbose: bool = False, rd=None) -> list[str]:
    """Every line ``sim run`` prints after writing ``folder``: the one screen (see
    :func:`terminal`), how the forecast moved since the previous run, the folder written.
    ``rd``: the folder's tables when already read (:class:`sim.rundata.RunData`)."""
    out = terminal(load_run(folder) if rd is None else rd, lang, reused, verbose) + terminal_lines(folder, lang)
    files = M["comma"][lang].join(p.name for p in sorted(folder.glob("report_*")))
    out.append(tr("term_wrote", lang, path=folder, files=files or "csv"))
    if not verbose:
        out.append(tr("term_more", lang))
    return out


def calibration_lines(sc, cal, summary, key: str, reused: bool, lang: str) -> list[str]:
    """What ``sim calibrate`` prints: the sampler's diagnostics, the notes, and every parameter
    with its prior and posterior 90% intervals, contraction and label, in ``lang``."""
    d = cal.diagnostics
    units = {u: {"zh": x.zh, "en": x.en} for u, x in sc.units.items()}
    rates = {p.name: {"zh": p.zh or p.name, "en": p.en or p.name} for p in cal.space.params[: cal.n_rates]}
    out = [tr("cal_head", lang, how=tr("cal_reused" if reused else "cal_cached", lang), key=key, chains=d["chains"],
              steps=f"{d['rounds'] * d['steps_per_round']:,}", rhat=f"{d['rhat_max']:.3f}",
              ess=f"{min(d['ess_bulk_min'], d['ess_tail_min']):,.0f}")]
    out += [tr("cal_note", lang, x=note(n, lang, lambda u: units.get(u, {}).get(lang, u))) for n in cal.notes]
    names = [param_label(p, rates, units, lang, sc.structure.start_words) for p in summary.parameter]
    w = min(40, max([8] + [width(x) for x in names]))
    h = M["cal_cols"][lang].split("|")
    out.append(f"{fit(h[0], w)} {rfit(h[1], 24)} {rfit(h[2], 24)} {rfit(h[3], 11)}  {h[4]}")
    for name, (_, r) in zip(names, summary.iterrows()):
        out.append(f"{fit(name, w)} {r.prior_p05:11.4g}-{r.prior_p95:<11.4g} {r.post_p05:11.4g}-{r.post_p95:<11.4g} "
                   f"{r.contraction:11.2f}  {LABEL_WORDS.get(r.label, {}).get(lang, r.label)}")
    return out
