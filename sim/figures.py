"""All matplotlib. Every figure is drawn from a run folder's tables (:class:`sim.rundata.RunData`),
takes ``ax=None`` and ``lang`` ("zh" or "en"), returns its axes, and never calls ``show()``.
Sized for a projector: large type, few colours, published actuals as dots, targets as crosses."""

from __future__ import annotations

import numpy as np

from .results import pct

TEXT = {
    "year": {"zh": "年份", "en": "Year"},
    "firms": {"zh": "企业数（家）", "en": "Firms"},
    "actual": {"zh": "已公布实际值", "en": "Published actual"},
    "target": {"zh": "规划目标", "en": "Plan target"},
    "median": {"zh": "中位数", "en": "Median"},
    "band90": {"zh": "90%区间", "en": "90% interval"},
    "band50": {"zh": "50%区间", "en": "50% interval"},
    "p_met": {"zh": "达成概率", "en": "P(target met)"},
    "cost": {"zh": "财政支出（万元）", "en": "Cost (10k yuan)"},
}
COLORS = ["#1f4e79", "#c0504d", "#2e8b57", "#8064a2", "#e07b00", "#4bacc6", "#7f7f7f"]
SEP = {"zh": "：", "en": ": "}


def t(key: str, lang: str) -> str:
    return TEXT[key][lang]


def setup(lang: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from .fonts import use_cjk_font
    use_cjk_font()
    matplotlib.rcParams.update({"font.size": 14, "axes.titlesize": 17, "axes.labelsize": 14,
                                "legend.fontsize": 11, "axes.spines.top": False, "axes.spines.right": False})


def _new_ax(ax, size=(10, 6)):
    import matplotlib.pyplot as plt
    if ax is None:
        _, ax = plt.subplots(figsize=size, dpi=110)
    return ax


def _targets(rd, unit, indicator):
    tg = rd.targets
    if tg.empty:
        return []
    sub = tg[(tg.unit == unit) & (tg.indicator == indicator)][["year", "target"]].drop_duplicates()
    return sorted((int(y), float(v)) for y, v in zip(sub.year, sub.target))


def _history(rd, unit, indicator):
    s = rd.sources
    if s.empty:
        return []
    act = (s.kind == "actual") | ((s.kind == "derived") & (s.derived_from == "actual"))
    sub = s[act & (s.unit == unit) & (s.indicator == indicator)]
    return sorted((int(y), float(v)) for y, v in zip(sub.year, sub.value))


def fan_chart(rd, unit: str, indicator: str, ax=None, lang: str = "zh"):
    """Baseline fan (5-95%, 25-75%) with the median; other scenarios' medians; history; targets."""
    setup(lang)
    ax = _new_ax(ax)
    pr = rd.projection
    pr = pr[(pr.unit == unit) & (pr.indicator == indicator)]
    base = pr[pr.scenario == "baseline"].sort_values("year")
    x = base.year.to_numpy()
    ax.fill_between(x, base.p05, base.p95, color=COLORS[0], alpha=0.15, lw=0, label=t("band90", lang))
    ax.fill_between(x, base.p25, base.p75, color=COLORS[0], alpha=0.30, lw=0, label=t("band50", lang))
    ax.plot(x, base.p50, color=COLORS[0], lw=2.5, label=t("median", lang) + SEP[lang] + rd.policy_label("baseline", lang))
    for k, pol in enumerate(rd.policy_names[1:], start=1):
        sub = pr[pr.scenario == pol].sort_values("year")
        ax.plot(sub.year, sub.p50, color=COLORS[k % len(COLORS)], lw=1.8, ls="--", label=rd.policy_label(pol, lang))
    hist = _history(rd, unit, indicator)
    if hist:
        ax.plot(*zip(*hist), "o", color="black", ms=8, zorder=5, label=t("actual", lang))
    tg = _targets(rd, unit, indicator)
    if tg:
        ax.plot(*zip(*tg), "X", color="#d62728", ms=13, mec="white", zorder=6, label=t("target", lang))
        for yx, yv in tg:
            ax.annotate(f"{yv:,.0f}", (yx, yv), textcoords="offset points", xytext=(8, 6), color="#d62728", fontsize=12)
    ax.set_title(rd.unit_label(unit, lang) + SEP[lang] + rd.ind_label(indicator, lang))
    ax.set_xlabel(t("year", lang))
    ax.set_ylabel(t("firms", lang))
    allx = list(x) + [h[0] for h in hist] + [g[0] for g in tg]
    ax.set_xticks(range(int(min(allx)), int(max(allx)) + 1))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", frameon=False)
    ax.set_ylim(bottom=0)
    return ax


def p_met_bars(rd, ax=None, lang: str = "zh"):
    """P(target met) per scenario for every target of the main unit."""
    setup(lang)
    sf = rd.scenarios
    sf = sf[sf.unit == rd.main_unit]
    targets = list(dict.fromkeys(zip(sf.indicator, sf.year, sf.target)))
    ax = _new_ax(ax, size=(max(8, 1.6 * len(targets) + 4), 6))
    pols = rd.policy_names
    width = 0.8 / len(pols)
    for k, pol in enumerate(pols):
        sub = sf[sf.scenario == pol].set_index(["indicator", "year"])
        ys = [float(sub.loc[(i, y), "p_met"]) for i, y, _ in targets]
        xs = np.arange(len(targets)) + (k - (len(pols) - 1) / 2) * width
        ax.bar(xs, ys, width=width * 0.95, color=COLORS[k % len(COLORS)], label=rd.policy_label(pol, lang))
    base = sf[sf.scenario == pols[0]].set_index(["indicator", "year"])
    for x, (i, y, _) in enumerate(targets):   # no bars: the outcome is published, or the year is not projected
        r = base.loc[(i, y)]
        if r.p_met != r.p_met and "status" in base.columns:
            a = r.get("actual", float("nan"))
            word = {"met": ("已达成", "met"), "missed": ("未达成", "missed"), "open": ("待定", "open")}.get(
                r.status, ("未评估", "not scored"))[0 if lang == "zh" else 1]
            note = word + (f"\n{'实际' if lang == 'zh' else 'actual'} {a:,.0f}" if a == a else "")
            ax.text(x, 0.03, note, ha="center", va="bottom", fontsize=11,
                    color={"met": "#2e7d32", "missed": "#c62828"}.get(r.status, "#555555"))
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels([f"{rd.ind_label(i, lang)}\n{y}: {v:,.0f}" for i, y, v in targets], fontsize=11)
    ax.set_ylim(0, 1.05)
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.set_ylabel(t("p_met", lang))
    ax.set_title(("各方案目标达成概率：" if lang == "zh" else "Probability of meeting each target: ")
                 + rd.unit_label(rd.main_unit, lang))
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=10)
    return ax


def cost_vs_probability(rd, ax=None, lang: str = "zh"):
    """Each scenario's total cost to the headline target year against its P(met)."""
    setup(lang)
    ht = rd.manifest.get("headline_target")
    ax = _new_ax(ax, size=(10, 6))
    if not ht:
        return ax
    sf = rd.scenarios
    sf = sf[(sf.unit == ht["unit"]) & (sf.indicator == ht["indicator"]) & (sf.year == ht["year"])]
    for k, pol in enumerate(rd.policy_names):
        r = sf[sf.scenario == pol].iloc[0]
        ax.errorbar(r.cost_to_year_p50_10k_yuan, r.p_met,
                    xerr=[[r.cost_to_year_p50_10k_yuan - r.cost_to_year_p10_10k_yuan],
                          [r.cost_to_year_p90_10k_yuan - r.cost_to_year_p50_10k_yuan]],
                    fmt="o", ms=11, color=COLORS[k % len(COLORS)], capsize=4, label=rd.policy_label(pol, lang))
    ax.set_xlabel(t("cost", lang) + (f"，至{ht['year']}年累计" if lang == "zh" else f", total to {ht['year']}"))
    ax.set_ylabel(t("p_met", lang))
    ax.set_ylim(-0.02, 1.02)
    ax.set_title((f"成本与达成概率：{rd.unit_label(ht['unit'], lang)}{ht['year']}年{rd.ind_label(ht['indicator'], lang)}"
                  f"≥{ht['target']:,.0f}") if lang == "zh" else
                 f"Cost vs probability: {rd.ind_label(ht['indicator'], lang)} >= {ht['target']:,.0f} in {ht['year']}")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=10, loc="best")
    return ax


WATERFALL = [("first", ("new_cert",), +1), ("relocated", ("relocated_in",), +1),
             ("lapsed", ("expired_to_sme", "expired_exit"), -1), ("exits", ("hte_exit", "leader_exit"), -1)]
WF_TEXT = {"start": {"zh": "起点", "en": "Start"}, "first": {"zh": "+首次认定", "en": "+First cert."},
           "relocated": {"zh": "+整体迁入", "en": "+Relocated in"}, "lapsed": {"zh": "−到期未续", "en": "−Lapsed"},
           "exits": {"zh": "−注销退出", "en": "−Exits"}, "end": {"zh": "终点", "en": "End"}}


def waterfall(rd, ax=None, lang: str = "zh"):
    """Components of change of valid HTE from the last actual year to the headline target
    year, one panel per scenario (mean flows): start + first certifications + relocations
    - lapsed certificates - exits = end. Returns the axes array."""
    setup(lang)
    import matplotlib.pyplot as plt
    ht = rd.manifest.get("headline_target")
    pols = rd.policy_names
    ncol = min(3, len(pols))
    nrow = int(np.ceil(len(pols) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4.4 * nrow + 0.6), dpi=100, squeeze=False, sharey=True)
    if not ht or rd.flows.empty or ht["year"] <= rd.manifest["last_actual_year"]:   # nothing projected
        return axes
    T = rd.manifest["last_actual_year"]
    pr, fl = rd.projection, rd.flows
    start = float(pr[(pr.unit == rd.main_unit) & (pr.indicator == "hte_valid") & (pr.scenario == "baseline")
                     & (pr.year == T)]["mean"].iloc[0])
    for ax, pol in zip(axes.flat, pols):
        level, labels = start, [WF_TEXT["start"][lang]]
        ax.bar(0, start, color="#9e9e9e", width=0.7)
        ax.text(0, start, f"{start:,.0f}", ha="center", va="bottom", fontsize=10)
        for k, (key, flows, sign) in enumerate(WATERFALL, start=1):
            v = float(fl[(fl.scenario == pol) & fl.flow.isin(flows) & (fl.year > T) & (fl.year <= ht["year"])]["mean"].sum())
            bottom = level if sign > 0 else level - v
            ax.bar(k, v, bottom=bottom, color="#2e7d32" if sign > 0 else "#c62828", width=0.7)
            ax.text(k, bottom + v, f"{'+' if sign > 0 else '−'}{v:,.0f}", ha="center", va="bottom", fontsize=10)
            level += sign * v
            labels.append(WF_TEXT[key][lang])
        n = len(WATERFALL) + 1
        ax.bar(n, level, color=COLORS[0], width=0.7)
        ax.text(n, level, f"{level:,.0f}", ha="center", va="bottom", fontsize=11)
        labels.append(WF_TEXT["end"][lang])
        ax.axhline(ht["target"], color="#d62728", ls="--", lw=1.3)
        ax.set_xticks(range(n + 1))
        ax.set_xticklabels(labels, fontsize=9, rotation=30)
        ax.set_title(rd.policy_label(pol, lang), fontsize=12)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(pols):]:
        ax.set_visible(False)
    fig.suptitle((f"{rd.unit_label(rd.main_unit, lang)}有效高企变动分解 {T}→{ht['year']}（均值；红虚线为目标{ht['target']:,.0f}）"
                  if lang == "zh" else
                  f"{rd.unit_label(rd.main_unit, lang)}: change in valid HTE {T} to {ht['year']} "
                  f"(means; red line = target {ht['target']:,.0f})"), fontsize=15)
    return axes


def tornado(rd, policy: str = "baseline", ax=None, lang: str = "zh", top: int = 10):
    """Median target-year outcome when each factor is in its bottom vs top decile."""
    setup(lang)
    tf = rd.tornado
    ax = _new_ax(ax, size=(11, 6.5))
    if tf.empty:
        return ax
    tf = tf[tf.scenario == policy].sort_values("swing", ascending=True).tail(top)
    med = float(tf.outcome_median.iloc[0])

    def name(r):
        if r.kind == "rate":
            return rd.labels["rates"][r.factor][lang]
        if r.kind == "lever":
            return (("政策效果：" if lang == "zh" else "lever effect: ") + rd.labels["levers"][r.factor][lang])
        return "起始有效高企数" if lang == "zh" else "Start level of valid HTE"

    for y, (_, r) in enumerate(tf.iterrows()):
        ax.barh(y, r.outcome_at_p10 - med, left=med, color="#8fb3d9", height=0.6)
        ax.barh(y, r.outcome_at_p90 - med, left=med, color="#1f4e79", height=0.6)
    ax.axvline(med, color="black", lw=1)
    target = float(tf.target.iloc[0])
    ax.axvline(target, color="#d62728", ls="--", lw=1.5)
    ax.set_yticks(range(len(tf)))
    ax.set_yticklabels([name(r) for _, r in tf.iterrows()], fontsize=11)
    ind, year = tf.indicator.iloc[0], int(tf.year.iloc[0])
    ax.set_xlabel((f"{year}年{rd.ind_label(ind, lang)}（中位数）" if lang == "zh" else f"{rd.ind_label(ind, lang)} in {year} (median)"))
    ax.set_title((f"敏感性：{rd.policy_label(policy, lang)}（浅色=因素处于低10%，深色=高10%）" if lang == "zh" else
                  f"Sensitivity: {rd.policy_label(policy, lang)} (light = factor in bottom 10%, dark = top 10%)"),
                 fontsize=14)
    return ax


def subunit_multiples(rd, indicator: str = "hte_valid", policy: str = "baseline", lang: str = "zh"):
    """Small multiples: each sub-unit's projection (median, 10-90%) against its yearly targets.

    A panel is flagged on track (green) when P(target met) >= 0.5 in its last target year.
    Returns the figure's axes array.
    """
    setup(lang)
    import matplotlib.pyplot as plt
    parts = rd.sub_units
    ncol = 4 if len(parts) > 4 else len(parts)
    nrow = int(np.ceil(len(parts) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow + 0.6), dpi=100, squeeze=False)
    pr = rd.projection
    tg_all = rd.targets
    for ax, unit in zip(axes.flat, parts):
        sub = pr[(pr.unit == unit) & (pr.indicator == indicator) & (pr.scenario == policy)].sort_values("year")
        ax.fill_between(sub.year, sub.p10, sub.p90, color=COLORS[0], alpha=0.25, lw=0)
        ax.plot(sub.year, sub.p50, color=COLORS[0], lw=2)
        hist = _history(rd, unit, indicator)
        if hist:
            ax.plot(*zip(*hist), "o", color="black", ms=6)
        tg = _targets(rd, unit, indicator)
        flag, colour = "", "black"
        if tg:
            ax.plot(*zip(*tg), "X", color="#d62728", ms=9, mec="white")
            ly = tg[-1][0]
            row = tg_all[(tg_all.unit == unit) & (tg_all.indicator == indicator) & (tg_all.year == ly)
                         & (tg_all.scenario == policy)]
            p = float(row.p_met.iloc[0])
            status = row.status.iloc[0] if "status" in row.columns else "projected"
            if p == p:
                ok = p >= 0.5
                flag = (f"{'达标' if ok else '落后'} {pct(p)}" if lang == "zh" else f"{'on track' if ok else 'behind'} {pct(p)}")
            else:   # no probability: the outcome is published (targets.csv status met / missed) or unknown
                ok = status == "met"
                flag = {"met": ("已达成", "met"), "missed": ("未达成", "missed")}.get(status, ("未评估", "not scored"))[
                    0 if lang == "zh" else 1]
            colour = "#2e7d32" if ok else "#c62828" if status != "not_projected" else "black"
        ax.set_title(f"{rd.unit_label(unit, lang)}  {flag}", color=colour, fontsize=13)
        ax.set_xticks(list(sub.year))
        ax.tick_params(labelsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    main = rd.unit_label(rd.main_unit, lang)
    fig.suptitle((f"{main}各分区{rd.ind_label(indicator, lang)}：{rd.policy_label(policy, lang)}\n（中位数与80%区间，×为年度目标）"
                  if lang == "zh" else
                  f"{main} sub-units, {rd.ind_label(indicator, lang)}: {rd.policy_label(policy, lang)}\n"
                  "(median, 80% interval; x = yearly target)"), fontsize=15)
    return axes


def save(ax, stem: str, svg: bool = False) -> list[str]:
    """Save the axes' figure as PNG (and SVG for the fan charts that go into slides);
    no timestamps: same input, same bytes."""
    import matplotlib.pyplot as plt
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(stem + ".png", metadata={"Software": None})
    out = [stem + ".png"]
    if svg:
        fig.savefig(stem + ".svg", metadata={"Date": None})
        out.append(stem + ".svg")
    plt.close(fig)
    return out


def figure_tasks(rd) -> list[tuple]:
    """The figures of a run, as (function name, args, kwargs, file stem, svg) in reading order."""
    tasks = []
    main = rd.main_unit
    pr = rd.projection
    for ind in [i for i in rd.labels["indicators"] if i in set(pr[pr.unit == main].indicator)]:
        tasks.append(("fan_chart", (main, ind), {}, f"fan_{main}_{ind}", True))
    if 0 < len(rd.sub_units) <= 4:
        for unit in rd.sub_units:
            for ind in rd.labels["key_indicators"]:
                if ind in set(pr[pr.unit == unit].indicator):
                    tasks.append(("fan_chart", (unit, ind), {}, f"fan_{unit}_{ind}", True))
    if rd.sub_units:
        tg = rd.targets
        for ind in rd.labels["key_indicators"]:
            if not tg.empty and ((tg.indicator == ind) & tg.unit.isin(rd.sub_units)).any():
                tasks.append(("subunit_multiples", (ind,), {}, f"subunits_{ind}", False))
    if not rd.scenarios.empty:
        tasks += [("p_met_bars", (), {}, "p_met_by_scenario", False),
                  ("cost_vs_probability", (), {}, "cost_vs_probability", False),
                  ("waterfall", (), {}, "waterfall", False),
                  ("tornado", ("baseline",), {}, "tornado_baseline", False)]
        best = rd.scenarios[rd.scenarios.scenario != "baseline"]
        ht = rd.manifest.get("headline_target")
        if ht and not best.empty:
            best = best[(best.indicator == ht["indicator"]) & (best.year == ht["year"]) & (best.unit == ht["unit"])]
            pol = best.sort_values(["p_met", "scenario"], ascending=[False, True]).scenario.iloc[0]
            tasks.append(("tornado", (pol,), {}, f"tornado_{pol}", False))
    return tasks


def _draw(rd, task, d, lang) -> str:
    name, args, kwargs, stem, svg = task
    out = globals()[name](rd, *args, lang=lang, **kwargs)
    ax = out.flat[0] if hasattr(out, "flat") else out
    return save(ax, str(d / stem), svg=svg)[0]


def _draw_in_worker(job) -> str:
    from .rundata import load_run
    folder, task, d, lang = job
    return _draw(load_run(folder), task, d, lang)


def render_all(rd, d, lang: str, workers: int | None = None, side=None):
    """Every figure of a run into folder ``d``; returns the PNG paths in reading order.

    Figures are independent, so they are drawn on up to ``workers`` processes (default:
    the machine's cores, at most 4); each worker reads the run folder's tables itself.
    ``side``: an optional (function, args) run in the same pool meanwhile; then the
    return value is (PNG paths, its result).
    """
    import multiprocessing as mp
    import os
    from pathlib import Path
    d = Path(d)
    d.mkdir(exist_ok=True)
    tasks = figure_tasks(rd)
    n = min(workers or os.cpu_count() or 1, 4, max(len(tasks), 1))
    if n <= 1 or "fork" not in mp.get_all_start_methods():
        pngs = [_draw(rd, t, d, lang) for t in tasks]
        return pngs if side is None else (pngs, side[0](*side[1]))
    with mp.get_context("fork").Pool(n) as pool:
        job = pool.apply_async(side[0], side[1]) if side is not None else None
        pngs = pool.map(_draw_in_worker, [(rd.folder, t, d, lang) for t in tasks], chunksize=1)
        return pngs if job is None else (pngs, job.get())


LABEL_COLORS = {"data-informed": "#1f4e79", "partly informed": "#e07b00", "prior-dominated": "#9e9e9e"}


def prior_vs_posterior(summary, rate_labels: dict, lang: str = "zh"):
    """Prior (grey) and posterior (coloured by label) 90% intervals of every parameter, on a
    log scale; rates in one panel, start levels in the other. Returns the axes array."""
    setup(lang)
    import matplotlib.pyplot as plt
    rates = summary[~summary.parameter.str.contains(r"\.")]
    starts = summary[summary.parameter.str.contains(r"\.")]
    fig, axes = plt.subplots(1, 2, figsize=(15, 0.42 * max(len(rates), len(starts)) + 2), dpi=100, squeeze=False)
    for ax, df, title in ((axes[0, 0], rates, {"zh": "转移率（年）", "en": "Yearly rates"}),
                          (axes[0, 1], starts, {"zh": "起始水平", "en": "Start levels"})):
        for y, (_, r) in enumerate(df.iloc[::-1].iterrows()):
            ax.plot([r.prior_p05, r.prior_p95], [y, y], color="#cccccc", lw=9, solid_capstyle="butt")
            ax.plot([r.post_p05, r.post_p95], [y, y], color=LABEL_COLORS[r.label], lw=3.5)
            ax.plot([r.post_mean], [y], "o", color=LABEL_COLORS[r.label], ms=5)
        names = [rate_labels.get(p, {}).get(lang, p) for p in df.parameter.iloc[::-1]]
        ax.set_yticks(range(len(df)))
        ax.set_yticklabels(names, fontsize=10)
        ax.set_xscale("log")
        ax.set_title(title[lang], fontsize=14)
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], color="#cccccc", lw=8, label="先验90%区间" if lang == "zh" else "prior 90%")]
    handles += [plt.Line2D([], [], color=c, lw=3.5, label=({"data-informed": "数据确定", "partly informed": "部分由数据确定",
                                                             "prior-dominated": "主要取决于先验"}[k] if lang == "zh" else k))
                for k, c in LABEL_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=11)
    fig.suptitle("先验与后验" if lang == "zh" else "Prior vs posterior", fontsize=16)
    fig.subplots_adjust(bottom=0.12)
    return axes


def fitted_vs_published(df, unit_labels: dict, ind_labels: dict, lang: str = "zh"):
    """Published actuals (black) against the fit's one-step-ahead 90% prediction. Returns axes."""
    setup(lang)
    import matplotlib.pyplot as plt
    keys = list(dict.fromkeys(zip(df.unit, df.indicator)))
    ncol = min(3, max(1, len(keys)))
    nrow = int(np.ceil(max(1, len(keys)) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5 * ncol, 3.8 * nrow + 0.8), dpi=100, squeeze=False)
    for ax, (u, i) in zip(axes.flat, keys):
        sub = df[(df.unit == u) & (df.indicator == i)]
        ax.errorbar(sub.year, sub.predicted_p50, yerr=[sub.predicted_p50 - sub.predicted_p05,
                                                      sub.predicted_p95 - sub.predicted_p50],
                    fmt="s", color=COLORS[0], capsize=5, ms=7, label="拟合90%区间" if lang == "zh" else "fit, 90%")
        ax.plot(sub.year, sub.published, "o", color="black", ms=8, label=t("actual", lang))
        ax.set_title(f"{unit_labels.get(u, {}).get(lang, u)}{SEP[lang]}{ind_labels.get(i, {}).get(lang, i)}", fontsize=12)
        ax.set_xticks(sorted(set(sub.year)))
        ax.set_xlim(min(sub.year) - 0.6, max(sub.year) + 0.6)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    axes.flat[0].legend(frameon=False, fontsize=10)
    fig.suptitle("拟合值与已公布值" if lang == "zh" else "Fitted vs published", fontsize=16)
    return axes


def backtest_chart(scores, res, history, unit_labels: dict, ind_labels: dict, lang: str = "zh"):
    """Backtest: the forecast fan from the fit year against the later actuals and the naive
    baselines, one panel per scored unit and indicator. Returns the axes array."""
    setup(lang)
    import matplotlib.pyplot as plt
    keys = list(dict.fromkeys(zip(scores.unit, scores.indicator)))
    ncol = min(3, max(1, len(keys)))
    nrow = int(np.ceil(max(1, len(keys)) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(5.2 * ncol, 4 * nrow + 0.8), dpi=100, squeeze=False)
    years = np.array(res.years)
    for ax, (u, i) in zip(axes.flat, keys):
        v = res.indicator(res.policy_names()[0], u, i)
        q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        ok = np.ones(len(years), bool)
        if res.scenario.structure.indicators[i].is_flow:
            ok[0] = False
        ax.fill_between(years[ok], q[0][ok], q[4][ok], color=COLORS[0], alpha=0.15, lw=0)
        ax.fill_between(years[ok], q[1][ok], q[3][ok], color=COLORS[0], alpha=0.3, lw=0)
        ax.plot(years[ok], q[2][ok], color=COLORS[0], lw=2, label=t("median", lang))
        hist = history.get((u, i), [])
        if hist:
            ax.plot(*zip(*hist), "o", color="#777777", ms=7, label="拟合所用实际值" if lang == "zh" else "actuals used")
        sub = scores[(scores.unit == u) & (scores.indicator == i)]
        ax.plot(sub.year, sub.actual, "o", color="black", ms=9, label="后来公布的实际值" if lang == "zh" else "later actuals")
        for col, mk, k, zh, en in (("plan_forecast", "X", 1, "规划目标路径", "plan's target path"),
                                   ("growth_forecast", "s", 2, "区域增速", "regional growth"),
                                   ("trend_forecast", "^", 3, "对数线性趋势", "log-linear trend")):
            if sub[col].notna().any():
                ax.plot(sub.year, sub[col].astype(float), mk, color=COLORS[k], ms=9, label=zh if lang == "zh" else en)
        ax.set_title(f"{unit_labels.get(u, {}).get(lang, u)}{SEP[lang]}{ind_labels.get(i, {}).get(lang, i)}", fontsize=12)
        ax.set_xticks(list(years))
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    for ax in list(axes.flat)[len(keys):]:
        ax.set_visible(False)
    if keys:
        axes.flat[0].legend(frameon=False, fontsize=9)
    fig.suptitle("回溯检验" if lang == "zh" else "Backtest", fontsize=16)
    return axes


def frontier_chart(frontier, goal_rows, goal, sc, lang: str = "zh", all_levels: bool = False, ax=None):
    """The certified cost-probability frontier of ``sim goal``: every certified mix (grey), the
    frontier (the best P at each cost or less: a step line through its mixes, with their 95%
    Monte Carlo intervals), the baseline, every lever at its ceiling and the cheapest plan.
    Costs are what the district pays (every payer's with ``all_levels``), total to the target
    year, 10k yuan. Returns the axes."""
    setup(lang)
    zh = lang == "zh"
    ax = _new_ax(ax, size=(10, 6))
    fr = frontier.sort_values(["cost_10k_yuan", "p_certified"], ascending=[True, False])
    on = fr[fr.on_frontier.astype(bool)]
    off = fr[~fr.on_frontier.astype(bool)]
    if len(off):
        ax.plot(off.cost_10k_yuan, off.p_certified, "o", color=COLORS[6], ms=5, alpha=0.6,
                label="其他已核验组合" if zh else "other certified mixes")
    ax.errorbar(on.cost_10k_yuan, on.p_certified, yerr=[on.p_certified - on.p_lo.clip(0, 1), on.p_hi.clip(0, 1) - on.p_certified],
                fmt="none", ecolor=COLORS[0], alpha=0.5, lw=1.2, capsize=3)
    xs = list(on.cost_10k_yuan) + [fr.cost_10k_yuan.max()]
    ys = list(on.p_certified) + [on.p_certified.iloc[-1]]
    ax.step(xs, ys, where="post", color=COLORS[0], lw=2)
    ax.plot(on.cost_10k_yuan, on.p_certified, "o", color=COLORS[0], ms=6,
            label="成本—概率前沿（核验）" if zh else "frontier (certified)")
    marks = (("baseline", "s", "black", 11, "现行方案", "baseline"),
             ("ceiling", "^", COLORS[4], 11, "全部政策用到上限", "every lever at its ceiling"),
             ("mix", "*", "#d62728", 18, "最省钱的达标组合", "cheapest plan"))
    for kind, mk, col, ms, lz, le in marks:
        sel = goal_rows[goal_rows.kind == kind]
        if kind == "mix":
            sel = sel[(sel.reachable == True) & sel.get("p_certified", sel.kind).notna()]  # noqa: E712
            if len(sel) and sel.id.iloc[0] != "cheapest mix":
                continue
        if len(sel) and "p_certified" in sel and np.isfinite(float(sel.p_certified.iloc[0])):
            ax.plot([sel.cost_10k_yuan.iloc[0]], [sel.p_certified.iloc[0]], mk, color=col, ms=ms, label=lz if zh else le,
                    zorder=5)
    ax.axhline(goal.prob, color="grey", ls=":", lw=1)
    ax.annotate(f"{goal.prob:.0%}", (0, goal.prob), xycoords=("axes fraction", "data"), xytext=(4, 3),
                textcoords="offset points", color="grey", fontsize=10)
    ind = sc.structure.indicators[goal.indicator]
    who = ("各级财政" if all_levels else "本区财政") if zh else ("every payer" if all_levels else "the district")
    ax.set_xlabel((f"{who}支出（万元），至{goal.year}年累计" if zh else f"Cost to {who} (10k yuan), total to {goal.year}"))
    ax.set_ylabel(t("p_met", lang))
    ax.set_ylim(-0.02, 1.02)
    from matplotlib.ticker import StrMethodFormatter
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set_title((f"{sc.unit_label(goal.unit, lang)}{goal.year}年{ind.zh}≥{goal.target:,.0f}：成本与概率" if zh
                  else f"{sc.unit_label(goal.unit, lang)}: {ind.en} >= {goal.target:,.0f} in {goal.year}"))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, loc="lower right")
    return ax


def prior_predictive_chart(table, evidence, unit_labels: dict, ind_labels: dict, indicator: str, lang: str = "zh",
                           ax=None):
    """The growth the priors alone imply (one year and three years, annualised), per unit:
    5-95% and 25-75% bars and the median, against the regional evidence (vertical lines,
    labelled). Returns the axes."""
    setup(lang)
    sub = table[table.indicator == indicator]
    keys = list(dict.fromkeys(zip(sub.unit, sub.years)))
    n_ev = int((evidence.indicator == indicator).sum())
    ax = _new_ax(ax, size=(12, 0.8 * len(keys) + 0.4 * n_ev + 2.4))
    for y, (u, yrs) in enumerate(reversed(keys)):
        r = sub[(sub.unit == u) & (sub.years == yrs)].iloc[0]
        ax.plot([100 * r.p05, 100 * r.p95], [y, y], color=COLORS[0], lw=4, alpha=0.35, solid_capstyle="butt")
        ax.plot([100 * r.p25, 100 * r.p75], [y, y], color=COLORS[0], lw=10, alpha=0.7, solid_capstyle="butt")
        ax.plot([100 * r.p50], [y], "o", color="white", mec=COLORS[0], ms=9, mew=2)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{unit_labels.get(u, {}).get(lang, u)}，{yrs}年" if lang == "zh" else
                        f"{unit_labels.get(u, {}).get(lang, u)}, {yrs} yr" for u, yrs in reversed(keys)], fontsize=13)
    ev = evidence[evidence.indicator == indicator].sort_values("growth")
    top = len(keys) - 0.3
    for k, (_, e) in enumerate(ev.iterrows()):   # one label per row above the bars: no two overlap
        y = top + 0.5 * k
        ax.plot([100 * e.growth] * 2, [-0.7, y], color="#c0504d", ls=(0, (4, 2)), lw=1.2)
        ax.annotate(f"{e[lang]} {e.years}: {100 * e.growth:.0f}%", (100 * e.growth, y), fontsize=11,
                    color="#c0504d", ha="left", va="center", xytext=(4, 0), textcoords="offset points")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(("年增长率（%）：先验所隐含（条：5-95%、25-75%，圆点：中位数）；红线：区域实际增速" if lang == "zh" else
                   "Growth a year (%) implied by the priors (bars: 5-95%, 25-75%; dot: median); red: regional evidence"),
                  fontsize=12)
    ax.set_title(("先验预测检验：" if lang == "zh" else "Prior-predictive check: ") + ind_labels.get(indicator, {}).get(lang, indicator))
    ax.set_ylim(-0.7, top + 0.5 * len(ev) + 0.2)
    ax.grid(axis="x", alpha=0.3)
    return ax
