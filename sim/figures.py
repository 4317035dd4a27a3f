"""All matplotlib. Every function takes ``ax=None`` and ``lang`` ("zh" or "en"), draws,
and returns the axes; nothing here calls ``show()``. Sized for a projector: large type,
few colours, the published history as points and targets as marked crosses."""

from __future__ import annotations

import numpy as np

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


def t(key: str, lang: str) -> str:
    return TEXT[key][lang]


def _new_ax(ax, size=(10, 6)):
    import matplotlib.pyplot as plt
    if ax is None:
        fig, ax = plt.subplots(figsize=size, dpi=110)
    return ax


def setup(lang: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from .fonts import use_cjk_font
    use_cjk_font()
    matplotlib.rcParams.update({"font.size": 14, "axes.titlesize": 17, "axes.labelsize": 14,
                                "legend.fontsize": 11, "axes.spines.top": False, "axes.spines.right": False})


def fan_chart(res, unit: str, indicator: str, ax=None, lang: str = "zh"):
    """Baseline fan (5-95%, 25-75%) with the median; other policies' medians; history; targets."""
    setup(lang)
    ax = _new_ax(ax)
    sc = res.scenario
    years = np.array(res.years)
    v = res.indicator("baseline", unit, indicator)
    ind = sc.structure.indicators[indicator]
    ok = np.ones(len(years), bool)
    if ind.is_flow and res.T == sc.starts[sc.unit].year:
        ok[0] = False
    q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
    base = sc.policies[0]
    ax.fill_between(years[ok], q[0][ok], q[4][ok], color=COLORS[0], alpha=0.15, lw=0, label=t("band90", lang))
    ax.fill_between(years[ok], q[1][ok], q[3][ok], color=COLORS[0], alpha=0.30, lw=0, label=t("band50", lang))
    ax.plot(years[ok], q[2][ok], color=COLORS[0], lw=2.5, label=(f"{t('median', lang)}：{base.zh}" if lang == "zh" else f"{t('median', lang)}: {base.en}"))
    for k, pol in enumerate(sc.policies[1:], start=1):
        m = np.median(res.indicator(pol.name, unit, indicator), axis=1)
        ax.plot(years[ok], m[ok], color=COLORS[k % len(COLORS)], lw=1.8, ls="--",
                label=pol.zh if lang == "zh" else pol.en)
    hist = sorted((r.year, r.value) for r in sc.rows if r.unit == unit and r.indicator == indicator and r.is_actual)
    if hist:
        hx, hy = zip(*hist)
        ax.plot(hx, hy, "o", color="black", ms=8, zorder=5, label=t("actual", lang))
    tg = [(x.year, x.value) for x in sc.targets if x.unit == unit and x.indicator == indicator]
    if tg:
        tx, ty = zip(*tg)
        ax.plot(tx, ty, "X", color="#d62728", ms=13, mec="white", zorder=6, label=t("target", lang))
        for x, y in tg:
            ax.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(8, 6), color="#d62728", fontsize=12)
    title = f"{sc.unit_label(unit, lang)}：{ind.zh}" if lang == "zh" else f"{sc.unit_label(unit, lang)}: {ind.en}"
    ax.set_title(title)
    ax.set_xlabel(t("year", lang))
    ax.set_ylabel(t("firms", lang))
    allx = list(years) + [h[0] for h in hist] + [x for x, _ in tg]
    ax.set_xticks(range(min(allx), max(allx) + 1))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", frameon=False)
    ax.set_ylim(bottom=0)
    return ax


def p_met_bars(res, ax=None, lang: str = "zh"):
    """P(target met) per policy for every target of the main unit, with cost to the target year."""
    setup(lang)
    sc = res.scenario
    tf = res.scenarios_frame()
    tf = tf[tf.unit == sc.unit]
    targets = list(dict.fromkeys(zip(tf.indicator, tf.year, tf.target)))
    ax = _new_ax(ax, size=(11, 6))
    n = len(sc.policies)
    width = 0.8 / n
    for k, pol in enumerate(sc.policies):
        sub = tf[tf.scenario == pol.name].set_index(["indicator", "year"])
        ys = [sub.loc[(i, y), "p_met"] for i, y, _ in targets]
        xs = np.arange(len(targets)) + (k - (n - 1) / 2) * width
        ax.bar(xs, ys, width=width * 0.95, color=COLORS[k % len(COLORS)], label=pol.zh if lang == "zh" else pol.en)
    names = [f"{sc.structure.indicators[i].zh if lang == 'zh' else sc.structure.indicators[i].en}\n{y}: {v:,.0f}"
             for i, y, v in targets]
    ax.set_xticks(range(len(targets)))
    ax.set_xticklabels(names)
    ax.set_ylim(0, 1)
    ax.axhline(0.8, color="grey", ls=":", lw=1)
    ax.set_ylabel(t("p_met", lang))
    ax.set_title(("各方案目标达成概率：" + sc.unit_label(sc.unit, lang)) if lang == "zh"
                 else f"Probability of meeting each target: {sc.unit_label(sc.unit, lang)}")
    ax.legend(frameon=False, loc="upper right", fontsize=10)
    return ax


def save(ax, stem: str) -> list[str]:
    """Save the axes' figure as PNG and SVG (no timestamps: same input, same bytes)."""
    import matplotlib.pyplot as plt
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(stem + ".png", metadata={"Software": None})
    fig.savefig(stem + ".svg", metadata={"Date": None})
    plt.close(fig)
    return [stem + ".png", stem + ".svg"]


def subunit_multiples(res, indicator: str = "hte_valid", policy: str = "baseline", lang: str = "zh"):
    """Small multiples: each sub-unit's projection (median, 10-90%) against its yearly targets.

    A panel is flagged on track (green) when P(target met) >= 0.5 in its last target year.
    Returns the figure's axes array.
    """
    setup(lang)
    import matplotlib.pyplot as plt
    sc = res.scenario
    parts = list(sc.parts)
    ncol = 4 if len(parts) > 4 else len(parts)
    nrow = int(np.ceil(len(parts) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.3 * nrow), dpi=100, squeeze=False)
    years = np.array(res.years)
    ind = sc.structure.indicators[indicator]
    for ax, unit in zip(axes.flat, parts):
        v = res.indicator(policy, unit, indicator)
        q = np.quantile(v, [0.1, 0.5, 0.9], axis=1)
        ax.fill_between(years, q[0], q[2], color=COLORS[0], alpha=0.25, lw=0)
        ax.plot(years, q[1], color=COLORS[0], lw=2)
        hist = sorted((r.year, r.value) for r in sc.rows if r.unit == unit and r.indicator == indicator and r.is_actual)
        if hist:
            ax.plot(*zip(*hist), "o", color="black", ms=6)
        tg = sorted((x.year, x.value) for x in sc.targets if x.unit == unit and x.indicator == indicator)
        flag, colour = "", "black"
        if tg:
            ax.plot(*zip(*tg), "X", color="#d62728", ms=9, mec="white")
            ly, lv = tg[-1]
            p = float(np.mean(v[res.year_index(ly)] >= lv))
            ok = p >= 0.5
            colour = "#2e7d32" if ok else "#c62828"
            flag = (f"{'达标' if ok else '落后'} {p:.0%}" if lang == "zh" else f"{'on track' if ok else 'behind'} {p:.0%}")
        ax.set_title(f"{sc.unit_label(unit, lang)}  {flag}", color=colour, fontsize=13)
        ax.set_xticks(list(years))
        ax.tick_params(labelsize=10)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(parts):]:
        ax.set_visible(False)
    pol = next(p for p in sc.policies if p.name == policy)
    fig.suptitle((f"{sc.unit_label(sc.unit, lang)}各分区{ind.zh}：{pol.zh}（中位数与80%区间，×为年度目标）" if lang == "zh"
                  else f"{sc.unit_label(sc.unit, lang)} sub-units, {ind.en}: {pol.en} (median, 80% interval; x = yearly target)"),
                 fontsize=16)
    return axes
