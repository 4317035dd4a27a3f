"""The meeting pack: ``report.html`` (self-contained: figures inline, no external resources)
and ``report.xlsx`` (every table of the run as a sheet, units in the headers), both drawn
from a run folder's tables, in Chinese or English.

The headline sentences are generated from ``targets.csv`` and ``scenarios.csv``; every
number in them is a rounded value of those tables (tests check it).
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

T = {
    "title": {"zh": "科技企业培育目标测算报告", "en": "Science & technology enterprise targets: projection report"},
    "headlines": {"zh": "要点", "en": "Headlines"},
    "comparison": {"zh": "方案比较", "en": "Scenario comparison"},
    "fans": {"zh": "预测扇形图", "en": "Projections"},
    "costs": {"zh": "财政成本", "en": "Costs"},
    "goal": {"zh": "达成目标需要什么", "en": "What it would take"},
    "subunits": {"zh": "分区进度", "en": "Sub-unit status"},
    "sensitivity": {"zh": "变动分解与敏感性", "en": "Components of change and sensitivity"},
    "assumptions": {"zh": "假设与说明", "en": "Assumptions and caveats"},
    "sources": {"zh": "数据来源", "en": "Data sources"},
    "run": {"zh": "运行信息", "en": "Run"},
}
UNITS = {  # header suffixes for the Excel sheets
    "mean": "firms", "p05": "firms", "p10": "firms", "p25": "firms", "p50": "firms", "p75": "firms", "p90": "firms",
    "p95": "firms", "target": "firms", "median": "firms", "value": "as published", "p_met": "probability",
    "mc_se": "probability", "extra_vs_baseline_p50": "firms", "extra_vs_baseline_p10": "firms",
    "extra_vs_baseline_p90": "firms", "extra_vs_baseline_mean": "firms", "extra_mc_se": "firms",
    "outcome_at_p10": "firms", "outcome_at_p90": "firms", "outcome_median": "firms", "swing": "firms",
    "contraction": "share of prior variance", "year": "year",
}


from .results import caveats, is_scored, pct, target_phrase  # noqa: E402  (one rule for every sentence)


def num(v: float) -> str:
    return f"{v:,.0f}"


def headline_sentences(rd, lang: str = "zh") -> list[str]:
    """Three to five sentences for the top of the report, from the run's tables."""
    out = []
    ht = rd.manifest.get("headline_target")
    tg, sf = rd.targets, rd.scenarios
    if ht is None or tg.empty:
        return ["本次运行没有可评估的规划目标。" if lang == "zh" else "This run has no plan target to score."]
    unit, ind, year = ht["unit"], ht["indicator"], ht["year"]
    ul, il = rd.unit_label(unit, lang), rd.ind_label(ind, lang)
    base = tg[(tg.unit == unit) & (tg.indicator == ind) & (tg.year == year) & (tg.scenario == "baseline")].iloc[0]
    pol = rd.policy_label("baseline", lang)
    dep_names, sens = caveats(base, {k: v[lang] for k, v in rd.labels["rates"].items()})
    if not is_scored(base):   # the outcome is already published
        out.append(f"{year}年{ul}{il}目标{num(base.target)}家：{target_phrase(base, 'zh')}。" if lang == "zh" else
                   f"{ul} {il} {year}, target {num(base.target)}: {target_phrase(base, 'en')}.")
    elif lang == "zh":
        out.append(f"按{pol}，{year}年{ul}{il}达到{num(base.target)}家的概率约为{pct(base.p_met)}"
                   f"（中位数{num(base['median'])}家，80%区间{num(base.p10)}–{num(base.p90)}家）。"
                   + (f"该概率取决于主要由先验假设确定的参数：{'、'.join(dep_names)}。" if dep_names else "")
                   + (f"该概率对假设敏感（{'、'.join(sens)}）。" if sens else ""))
    else:
        out.append(f"Under the scenario '{pol}', the probability that {ul} reaches {num(base.target)} {il} in {year} "
                   f"is about {pct(base.p_met)} (median {num(base['median'])}, 80% interval {num(base.p10)}–{num(base.p90)})."
                   + (f" It depends on prior-dominated rates: {', '.join(dep_names)}." if dep_names else "")
                   + (f" It is assumption-sensitive ({', '.join(sens)})." if sens else ""))
    alt = sf[(sf.unit == unit) & (sf.indicator == ind) & (sf.year == year) & (sf.scenario != "baseline")]
    alt = alt[alt.p_met.notna()]
    if not alt.empty:
        best = alt.sort_values(["p_met", "scenario"], ascending=[False, True]).iloc[0]
        bl = rd.policy_label(best.scenario, lang)
        extra = best.extra_cost_mean_10k_yuan
        if lang == "zh":
            s = (f"各备选方案中“{bl}”最高，达成概率约为{pct(best.p_met)}，比现行政策多{num(best.extra_vs_baseline_p50)}家"
                 f"（中位数），至{year}年累计多支出约{num(extra)}万元")
            if isinstance(best.cost_per_extra_unit_10k_yuan, float) and not math.isnan(best.cost_per_extra_unit_10k_yuan):
                s += f"，每多一家约{num(best.cost_per_extra_unit_10k_yuan)}万元"
            out.append(s + "。")
        else:
            s = (f"Of the alternatives, '{bl}' does best: about {pct(best.p_met)}, {num(best.extra_vs_baseline_p50)} more "
                 f"firms than current policy (median) for about {num(extra)} (10k yuan) more by {year}")
            if isinstance(best.cost_per_extra_unit_10k_yuan, float) and not math.isnan(best.cost_per_extra_unit_10k_yuan):
                s += f", about {num(best.cost_per_extra_unit_10k_yuan)} per extra firm"
            out.append(s + ".")
    others = tg[(tg.unit == unit) & (tg.scenario == "baseline") & ~((tg.indicator == ind) & (tg.year == year))]
    others = others[others.p_met.notna()]
    if not others.empty:
        lo = others.sort_values(["p_met", "year"]).iloc[0]
        li = rd.ind_label(lo.indicator, lang)
        out.append(f"现行政策下最难实现的其他目标：{lo.year}年{li}{num(lo.target)}家，概率约为{pct(lo.p_met)}"
                   f"（中位数{num(lo['median'])}家）。" if lang == "zh" else
                   f"The hardest other target under current policy: {li} {num(lo.target)} in {lo.year}, "
                   f"about {pct(lo.p_met)} (median {num(lo['median'])}).")
    cal = rd.calibration
    rates = cal[~cal.parameter.str.contains(r"\.") & (cal.parameter != "noise_scale")]
    n_prior = int((rates.label == "prior-dominated").sum())
    n_data = int((rates.label == "data-informed").sum())
    out.append(f"{len(rates)}个转移率中，{n_data}个主要由已公布数据确定，{n_prior}个主要取决于先验假设（见“假设与说明”）。"
               if lang == "zh" else
               f"Of {len(rates)} transition rates, {n_data} are pinned down by published data and {n_prior} rest "
               f"mainly on prior assumptions (see 'Assumptions and caveats').")
    from .update import sentences
    return out + sentences(rd.manifest, lang)   # movement since the previous run; new actuals


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _table(df: pd.DataFrame, floatfmt="{:,.2f}") -> str:
    def fmt(v):
        if isinstance(v, float):
            if math.isnan(v):
                return ""
            return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else floatfmt.format(v)
        return html.escape(str(v))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


CSS = """body{font-family:'SimReport','Noto Sans CJK SC','Noto Sans SC','Microsoft YaHei','PingFang SC',sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;font-size:18px;line-height:1.55}h1{font-size:30px;border-bottom:3px solid #1f4e79}
h2{font-size:24px;color:#1f4e79;margin-top:1.6em}ul.headlines li{font-size:21px;margin:.45em 0}
table{border-collapse:collapse;font-size:14px;margin:.6em 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#eef3f8}td:first-child,th:first-child{text-align:left}figure{margin:1em 0}img{max-width:100%}
.small{font-size:13px;color:#555}.bad{color:#c62828}.good{color:#2e7d32}"""


def font_charset(rd) -> str:
    """Every character the report can show: the run's tables and manifest, and this module's
    templates (a superset of the page's text, known before the page is built)."""
    chars = set(Path(__file__).read_text(encoding="utf-8"))
    for p in rd.folder.iterdir():
        if p.suffix in (".csv", ".json"):
            chars |= set(p.read_text(encoding="utf-8"))
    return "".join(sorted(c for c in chars if c.isprintable()))


def write_html(rd, lang: str = "zh", font: str | None = None) -> Path:
    """Write ``report.html`` into the run folder (figures must exist in figures/).

    ``font``: the base64 font subset to embed (computed from :func:`font_charset` if None).
    """
    L = lambda k: T[k][lang]  # noqa: E731
    figs = rd.folder / "figures"
    man = rd.manifest
    parts = [f"<!DOCTYPE html><html lang=\"{'zh-CN' if lang == 'zh' else 'en'}\"><head><meta charset=\"utf-8\">"
             f"<title>{html.escape(rd.labels['scenario'][lang])}: {L('title')}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(rd.labels['scenario'][lang])}：{L('title')}</h1>" if lang == "zh" else
             f"<h1>{html.escape(rd.labels['scenario'][lang])}: {L('title')}</h1>",
             f"<h2 id=\"headlines\">{L('headlines')}</h2><ul class=\"headlines\">"]
    parts += [f"<li>{html.escape(s)}</li>" for s in headline_sentences(rd, lang)]
    parts.append("</ul>")

    # scenario comparison
    sf = rd.scenarios[rd.scenarios.unit == rd.main_unit].copy()
    if not sf.empty:
        sf["scenario"] = [rd.policy_label(p, lang) for p in sf.scenario]
        sf["indicator"] = [rd.ind_label(i, lang) for i in sf.indicator]
        sf["status"] = ["" if is_scored(r) else target_phrase(r, lang) for _, r in sf.iterrows()]
        cols = {"scenario": ("方案", "Scenario"), "indicator": ("指标", "Indicator"), "year": ("年份", "Year"),
                "target": ("目标（家）", "Target (firms)"), "p_met": ("达成概率", "P(met)"),
                "status": ("已公布结果", "Published outcome"),
                "extra_vs_baseline_p50": ("较现行政策增加（中位数，家）", "Extra vs baseline (median, firms)"),
                "cost_to_year_p50_10k_yuan": ("累计成本中位数（万元）", "Total cost, median (10k yuan)"),
                "cost_per_extra_unit_10k_yuan": ("每增加一家成本（万元）", "Cost per extra firm (10k yuan)")}
        k = 0 if lang == "zh" else 1
        view = sf[list(cols)].rename(columns={c: v[k] for c, v in cols.items()})
        parts += [f"<h2 id=\"comparison\">{L('comparison')}</h2>", _table(view)]
        for f in ("p_met_by_scenario", "cost_vs_probability"):
            if (figs / f"{f}.png").is_file():
                parts.append(_img(figs / f"{f}.png", f))
    parts.append(f"<h2 id=\"fans\">{L('fans')}</h2>")
    for p in sorted(figs.glob("fan_*.png")):
        parts.append(_img(p, p.stem))
    # costs
    cf = rd.costs
    if not cf.empty:
        tot = cf.groupby(["scenario", "year"], sort=False)["mean_10k_yuan"].sum().unstack("year")
        tot.index = [rd.policy_label(p, lang) for p in tot.index]
        tot = tot.reset_index().rename(columns={"index": "方案（万元，均值）" if lang == "zh" else "Scenario (10k yuan, mean)"})
        tot.columns = [str(c) for c in tot.columns]
        parts += [f"<h2 id=\"costs\">{L('costs')}</h2>", _table(tot)]
    # what it would take
    goal = rd.folder / "goal.csv"
    parts.append(f"<h2 id=\"goal\">{L('goal')}</h2>")
    if goal.is_file():
        gd = pd.read_csv(goal)
        parts.append("<ul>" + "".join(f"<li>{html.escape(str(x))}</li>" for x in gd.get("sentence", [])) + "</ul>")
        if (figs / "goal_frontier.png").is_file():
            parts.append(_img(figs / "goal_frontier.png", "goal_frontier"))
    else:
        parts.append("<p class=\"small\">" + ("本次运行未做目标反推；运行 <code>sim goal</code> 可得到达到目标所需的政策组合。"
                                              if lang == "zh" else
                                              "No goal seeking in this run; <code>sim goal</code> computes what it would take.")
                     + "</p>")
    # sub-units
    if rd.sub_units:
        parts.append(f"<h2 id=\"subunits\">{L('subunits')}</h2>")
        tg = rd.targets
        rows = []
        for u in rd.sub_units:
            sub = tg[(tg.unit == u) & (tg.scenario == "baseline")]
            for ind in sorted(set(sub.indicator)):
                last = sub[sub.indicator == ind].sort_values("year").iloc[-1]
                ok = last.p_met >= 0.5 if is_scored(last) else last.get("status") == "met"
                rows.append({("分区" if lang == "zh" else "Sub-unit"): rd.unit_label(u, lang),
                             ("指标" if lang == "zh" else "Indicator"): rd.ind_label(ind, lang),
                             ("年份" if lang == "zh" else "Year"): int(last.year),
                             ("目标" if lang == "zh" else "Target"): last.target,
                             ("中位数" if lang == "zh" else "Median"): last["median"],
                             ("达成概率" if lang == "zh" else "P(met)"): round(float(last.p_met), 2),
                             ("状态" if lang == "zh" else "Status"): target_phrase(last, lang) if not is_scored(last)
                             else ("达标" if ok else "落后") if lang == "zh" else ("on track" if ok else "behind")})
        parts.append(_table(pd.DataFrame(rows)))
        for p in sorted(figs.glob("subunits_*.png")):
            parts.append(_img(p, p.stem))
    parts.append(f"<h2 id=\"sensitivity\">{L('sensitivity')}</h2>")
    for p in [figs / "waterfall.png"] + sorted(figs.glob("tornado_*.png")):
        if p.is_file():
            parts.append(_img(p, p.stem))
    parts.append(f"<h2 id=\"assumptions\">{L('assumptions')}</h2>")
    parts.append(_assumptions(rd, lang))
    parts.append(f"<h2 id=\"sources\">{L('sources')}</h2>")
    src = rd.sources[["unit", "indicator", "year", "value", "kind", "definition", "source_file", "passage"]]
    parts.append(_table(src))
    parts.append(f"<h2 id=\"run\">{L('run')}</h2><p class=\"small\">seed {man['seed']}, paths {man['paths']}, "
                 f"sim {man['package_version']}, inputs: "
                 + ", ".join(f"{html.escape(k)} {v}" for k, v in man["inputs_sha256_16"].items()) + "</p>")
    parts.append("</body></html>\n")
    doc = "\n".join(parts)
    if font is None:
        from .fonts import subset_font_base64
        font = subset_font_base64(font_charset(rd))
    face = ("<style>@font-face{font-family:'SimReport';src:url(data:font/otf;base64,"
            + font + ") format('opentype');}</style>")
    doc = doc.replace("</head>", face + "</head>", 1)
    out = rd.folder / "report.html"
    out.write_text(doc, encoding="utf-8")
    return out


def _assumptions(rd, lang) -> str:
    items = []
    cal = rd.calibration
    for _, r in cal[cal.label == "prior-dominated"].iterrows():
        name = rd.labels["rates"].get(r.parameter, {}).get(lang, r.parameter)
        items.append(f"<li><b>{html.escape(name)}</b> ({html.escape(r.parameter)}): "
                     + ("主要取决于先验" if lang == "zh" else "prior-dominated")
                     + f" [{r.post_p05:.3g}, {r.post_p95:.3g}]; {html.escape(str(r.prior_source))}</li>")
    for k, lv in rd.labels["levers"].items():
        if "assumption" in lv["strength_source"] or "assumption" in lv.get("cost_note", ""):
            items.append(f"<li><b>{html.escape(lv[lang])}</b>: " + ("效果强度" if lang == "zh" else "strength")
                         + f" {lv['strength']}: {html.escape(lv['strength_source'])}; {html.escape(lv.get('cost_note', ''))}</li>")
    src = rd.sources
    for _, r in src.iterrows():
        d = str(r.definition)
        if any(w in d for w in ("conflict", "scope", "cumulative", "not stated", "2020 data", "assumption")):
            items.append(f"<li>{html.escape(str(r.unit))} {html.escape(str(r.indicator))} {r.year}: {html.escape(d)}</li>")
    for n in rd.manifest.get("calibration_notes", []):
        items.append(f"<li>{html.escape(n)}</li>")
    pool = rd.manifest.get("pooling")
    if pool:
        items.append("<li>" + html.escape(
            (f"与{', '.join(rd.manifest['pooled_with'])}合并估计：部分共享 {', '.join(pool['partially_pooled_rates'])}"
             f"（tau={pool['tau']}），完全共享其余转移率；{pool['source']}") if lang == "zh" else
            (f"Rates pooled with {', '.join(rd.manifest['pooled_with'])}: partially pooled "
             f"{', '.join(pool['partially_pooled_rates'])} (tau = {pool['tau']}), the other rates shared; {pool['source']}"))
            + "</li>")
    for t in rd.manifest.get("targets_not_scored", []):
        items.append(f"<li>{html.escape(t['unit'])} {html.escape(t['indicator'])} {t['year']} = {t['value']:g}: "
                     + ("未评估" if lang == "zh" else "not scored") + f" ({html.escape(t['why'])})</li>")
    return "<ul class=\"small\">" + "".join(dict.fromkeys(items)) + "</ul>"


def write_xlsx(rd) -> Path:
    """Every table of the run as a sheet of ``report.xlsx``, units in the headers."""
    out = rd.folder / "report.xlsx"
    with pd.ExcelWriter(out, engine="openpyxl") as xw:
        for name, df in rd.tables.items():
            df = df.rename(columns={c: f"{c} ({UNITS[c]})" for c in df.columns if c in UNITS})
            df.to_excel(xw, sheet_name=name[:31], index=False)
        goal = rd.folder / "goal.csv"
        if goal.is_file():
            pd.read_csv(goal).to_excel(xw, sheet_name="goal", index=False)
    return out
