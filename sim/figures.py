"""All matplotlib. Every figure is drawn from a run folder's tables (:class:`sim.rundata.RunData`),
takes ``lang`` ("zh" or "en") and, where it is a single panel, ``ax=None``; returns its axes,
and never calls ``show()``.

Made for a projector: every figure is 1920 px wide (12.8 in at 150 dpi) and no text is smaller
than 14 pt; the Okabe-Ito colour-blind-safe palette with a distinct dash style per scenario;
lines labelled at their ends instead of legends where they are few; medians with 80% intervals
everywhere (as the tables); published actuals as dots, targets as crosses, assumed start levels
as ranges. Every word comes from :mod:`sim.text`.
"""

from __future__ import annotations

import re
from types import MappingProxyType

import numpy as np

from .results import target_phrase
from .text import LABEL_WORDS, M, money, num, pct, tr
from .workers import cores, run_shared

WIDTH_IN, DPI = 12.8, 150          # 1920 px
MIN_PT = 14
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
DASHES = ["-", (0, (6, 2)), (0, (1.5, 1.5)), (0, (6, 2, 1.5, 2)), (0, (3, 1, 1, 1, 1, 1)), (0, (10, 3)),
          (0, (2, 4)), (0, (8, 2, 2, 2, 2, 2))]
MARKERS = ["o", "s", "D", "^", "v", "P", "X", "*"]
TARGET = "#D55E00"
GAIN, LOSS, NEUTRAL = "#0072B2", "#D55E00", "#999999"
MEDIAN = "#009E73"   # a median and its interval drawn beside means (waterfall)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def t(key: str, lang: str) -> str:
    return M[key][lang]


def setup(lang: str) -> None:
    """The bundled CJK font and projector-sized type (idempotent; cheap after the first call).
    Figures are made without pyplot (:func:`new_figure`); Agg is chosen for any caller that
    uses pyplot."""
    import sys

    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")   # without pyplot this only sets rcParams["backend"]
    elif matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    from .fonts import use_cjk_font
    use_cjk_font()
    matplotlib.rcParams.update({"font.size": 16, "axes.titlesize": 19, "axes.labelsize": 17, "xtick.labelsize": 15,
                                "ytick.labelsize": 15, "legend.fontsize": 15, "figure.titlesize": 20,
                                "axes.spines.top": False, "axes.spines.right": False, "figure.dpi": DPI,
                                "savefig.dpi": DPI, "text.parse_math": False})   # a '$' in a label is text


def new_figure(figsize, **subplots):
    """A figure on its own Agg canvas (no pyplot: nothing global to close) and its axes
    (``fig.subplots(**subplots)``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplots)


def _new_ax(ax, height: float = 7.2):
    if ax is None:
        _, ax = new_figure((WIDTH_IN, height))
    return ax


def _grid(n: int, ncol: int, panel_h: float, sharey=False):
    ncol = max(1, min(ncol, n))
    nrow = int(np.ceil(max(n, 1) / ncol))
    fig, axes = new_figure((WIDTH_IN, panel_h * nrow + 1.2), nrows=nrow, ncols=ncol, squeeze=False, sharey=sharey)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    return fig, axes


def style(k: int) -> dict:
    """Colour, dash and marker of the k-th scenario (file order; the baseline is 0)."""
    return {"color": COLORS[k % len(COLORS)], "ls": DASHES[k % len(DASHES)], "marker": MARKERS[k % len(MARKERS)]}


def wrap(s: str, n: int, paren: bool = True) -> str:
    """Wrap a label at about ``n`` characters (English at spaces; Chinese before a bracketed
    part when ``paren``, else anywhere)."""
    if len(s) <= n:
        return s
    if " " in s:
        out, line = [], ""
        for w in s.split(" "):
            if line and len(line) + 1 + len(w) > n:
                out.append(line)
                line = w
            else:
                line = (line + " " + w).strip()
        return "\n".join(out + [line])
    if paren and "（" in s[1:]:
        k = s.index("（", 1)
        return "\n".join(wrap(part, n) for part in (s[:k], s[k:]))
    return "\n".join(s[i:i + n] for i in range(0, len(s), n))


def safe_stem(name: str) -> str:
    """A file-name part from any policy name (no path separators or odd characters)."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return s or "x"


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


def _spread(ys: list[float], gap: float) -> list[float]:
    """Label positions near ``ys`` (axis fractions) at least ``gap`` apart, order kept."""
    order = sorted(range(len(ys)), key=lambda i: ys[i])
    pos = [0.0] * len(ys)
    last = -1e9
    for i in order:
        pos[i] = max(ys[i], last + gap)
        last = pos[i]
    over = last - 0.98
    if over > 0:
        pos = [p - over for p in pos]
    return pos


def end_labels(ax, items, fontsize=15):
    """Label lines at their right ends: items of (x, y, text, colour); labels are spread so
    they never overlap and joined to their line by a thin leader."""
    if not items:
        return
    y0, y1 = ax.get_ylim()
    frac = [(y - y0) / (y1 - y0) for _, y, _, _ in items]
    lines = [txt.count("\n") + 1 for _, _, txt, _ in items]
    gap = 0.055 * max(lines)
    pos = _spread(frac, gap)
    for (x, y, txt, c), p in zip(items, pos):
        ax.annotate(txt, xy=(x, y), xycoords="data", xytext=(1.02, p), textcoords=("axes fraction"),
                    va="center", ha="left", color=c, fontsize=fontsize, annotation_clip=False,
                    arrowprops=dict(arrowstyle="-", color=c, lw=0.8, alpha=0.7, shrinkA=0, shrinkB=2))


def fan_chart(rd, unit: str, indicator: str, ax=None, lang: str = "zh"):
    """Current policy's median and 80% interval; every other scenario's median (own colour and
    dash); published actuals; targets with their values; an assumed start level as a range.
    Lines are labelled at their right ends."""
    setup(lang)
    ax = _new_ax(ax)
    pr = rd.projection
    pr = pr[(pr.unit == unit) & (pr.indicator == indicator)]
    base = pr[pr.scenario == rd.base_policy].sort_values("year")
    x = base.year.to_numpy()
    ax.fill_between(x, base.p10, base.p90, color=COLORS[0], alpha=0.18, lw=0, label=t("band80", lang))
    ends = []
    for k, pol in enumerate(rd.policy_names):
        sub = pr[pr.scenario == pol].sort_values("year")
        if sub.empty:
            continue
        st = style(k)
        ax.plot(sub.year, sub.p50, color=st["color"], ls=st["ls"], lw=3.0 if k == 0 else 2.2, zorder=4 - 0.1 * k,
                label=rd.policy_label(pol, lang))
        ends.append((float(sub.year.iloc[-1]), float(sub.p50.iloc[-1]), wrap(rd.policy_label(pol, lang), 13 if lang == "zh" else 24),
                     st["color"]))
    hist = _history(rd, unit, indicator)
    if hist:
        ax.plot(*zip(*hist), "o", color="black", ms=9, zorder=6, label=t("actual", lang))
    hist_years = {h[0] for h in hist}
    if len(x) and int(x[0]) not in hist_years and not rd.labels["indicators"][indicator].get("is_flow", False):
        b0 = base.iloc[0]
        ax.errorbar([x[0]], [b0.p50], yerr=[[b0.p50 - b0.p10], [b0.p90 - b0.p50]], fmt="o", mfc="white",
                    mec="black", ecolor="black", ms=9, capsize=7, lw=2, zorder=7, label=t("start_assumed", lang))
    tg = _targets(rd, unit, indicator)
    if tg:
        ax.plot(*zip(*tg), "X", color=TARGET, ms=15, mec="white", mew=1.5, zorder=8, label=t("target", lang))
        med = dict(zip(base.year.astype(int), base.p50))
        for yx, yv in tg:
            below = yv < med.get(int(yx), -np.inf)     # the label on the side away from the median line
            ax.annotate(num(yv), (yx, yv), textcoords="offset points", xytext=(-10, -14 if below else 12),
                        ha="right", va="top" if below else "baseline", color=TARGET, fontsize=15, zorder=9,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))
    ax.set_title(rd.unit_label(unit, lang) + t("sep", lang) + rd.ind_label(indicator, lang))
    ax.set_xlabel(t("year", lang))
    ax.set_ylabel(t("firms", lang))
    allx = list(x) + [h[0] for h in hist] + [g[0] for g in tg]
    ax.set_xticks(range(int(min(allx)), int(max(allx)) + 1))
    ax.set_xlim(min(allx) - 0.3, max(allx) + 0.3)
    ax.grid(axis="y", alpha=0.3)
    allv = list(base.p90) + [v for _, v in tg] + [v for _, v in hist]
    ax.set_ylim(0, max(max(allv) * 1.12, 1.0) if allv else 1)
    ax.yaxis.set_major_formatter(_thousands())
    end_labels(ax, ends)
    handles = [h for h, lab in zip(*ax.get_legend_handles_labels())
               if lab in (t("band80", lang), t("actual", lang), t("target", lang), t("start_assumed", lang))]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=len(handles), frameon=False)
    ax.figure.subplots_adjust(right=0.74, bottom=0.22)
    ax.figure._sim_layout = True
    return ax


def _thousands():
    from matplotlib.ticker import FuncFormatter
    return FuncFormatter(lambda v, _: f"{v:,.0f}")


def p_met_dots(rd, ax=None, lang: str = "zh"):
    """P(target met) in % for the key targets of the main unit: one row per scenario, grouped
    by target, a dot per row with its value written beside it."""
    from .meeting import key_targets
    setup(lang)
    sf = rd.scenarios
    sf = sf[sf.unit == rd.main_unit]
    keys = key_targets(rd)[:4]
    pols = rd.policy_names
    n = len(keys) * (len(pols) + 1)
    ax = _new_ax(ax, height=max(4.5, 0.42 * n + 2.0))
    y, ticks, labels = 0, [], []
    for ind, year, target in keys:
        head = (f"{rd.ind_label(ind, lang)}：{year}年≥{num(target)}" if lang == "zh" else
                f"{rd.ind_label(ind, lang)}: {num(target)} in {year}")
        ax.text(0, y, head, fontsize=16, va="center", ha="left", transform=ax.get_yaxis_transform())
        y += 1
        for k, pol in enumerate(pols):
            r = sf[(sf.scenario == pol) & (sf.indicator == ind) & (sf.year == year)]
            if r.empty:
                continue
            p = float(r.p_met.iloc[0])
            st = style(k)
            if p != p:   # no probability: the outcome is published (met / missed) or the year is not projected
                ax.text(1, y, target_phrase(r.iloc[0], lang), va="center", fontsize=15,
                        color={"met": COLORS[0], "missed": LOSS}.get(r.iloc[0].get("status"), "#555555"))
            else:
                ax.plot([0, 100 * p], [y, y], color="#dddddd", lw=2, zorder=1)
                ax.plot([100 * p], [y], st["marker"], color=st["color"], ms=13, zorder=3)
                ax.annotate(pct(p), (100 * p, y), textcoords="offset points", xytext=(12, 0), va="center",
                            fontsize=15, color=st["color"])
            ticks.append(y)
            labels.append(wrap(rd.policy_label(pol, lang), 16 if lang == "zh" else 30))
            y += 1
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels)
    ax.set_ylim(y - 0.4, -0.6)
    ax.set_xlim(0, 109)
    ax.set_xticks(range(0, 101, 20))
    ax.xaxis.set_major_formatter(__import__("matplotlib.ticker", fromlist=["x"]).PercentFormatter(decimals=0))
    ax.set_xlabel(t("fig_p_x", lang))
    ax.grid(axis="x", alpha=0.3)
    ax.set_title(tr("fig_p_title", lang, unit=rd.unit_label(rd.main_unit, lang)))
    ax.tick_params(axis="y", length=0)
    return ax


def cost_vs_extra(rd, ax=None, lang: str = "zh"):
    """Each scenario's extra cost to the headline target year (x, 10k yuan, mean) against its
    extra firms vs current policy (y, median and 80% interval); faint rays of equal cost per
    extra firm. Answers 'which lever per 万元' even when every P(met) is tiny."""
    setup(lang)
    ax = _new_ax(ax)
    rk = rd.ranking
    ht = rd.manifest.get("headline_target")
    if rk.empty or not ht:
        return ax
    pols = rd.policy_names
    xs = [0.0] + list(rk.extra_cost_mean_10k_yuan)
    ys = [0.0] + list(rk.extra_p90)
    xmax = max(max(xs) * 1.15, 1.0)
    ymax = max(max(ys) * 1.2, 1.0)
    xmin = min(min(xs) * 1.15, 0.0)
    ymin = min(min(list(rk.extra_p10) + [0.0]) * 1.2, 0.0)
    for c in (25, 50, 100, 200, 400, 800):
        xe = min(xmax, ymax * 0.92 * c)
        if xe / c < ymax * 0.2:
            continue
        ax.plot([0, xe], [0, xe / c], color="#bbbbbb", lw=1.2, ls=":", zorder=1)
        ax.text(xe, xe / c, (f"{c}万元/家" if lang == "zh" else f"{money(c, lang)}/firm"), color="#777777",
                fontsize=14, ha="right", va="bottom", zorder=2,
                bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.85))
    ax.plot([0], [0], **{k: v for k, v in style(0).items() if k != "ls"}, ms=12, ls="none")
    ax.annotate(rd.policy_label(rd.base_policy, lang), (0, 0), textcoords="offset points", xytext=(10, -18), fontsize=15,
                color=COLORS[0])
    for _, r in rk.iterrows():
        k = pols.index(r.scenario) if r.scenario in pols else 1
        st = style(k)
        ax.errorbar([r.extra_cost_mean_10k_yuan], [r.extra_p50], yerr=[[r.extra_p50 - r.extra_p10],
                                                                       [r.extra_p90 - r.extra_p50]],
                    fmt=st["marker"], color=st["color"], ms=13, capsize=6, lw=2, zorder=3)
        ax.annotate(wrap(rd.policy_label(r.scenario, lang), 14 if lang == "zh" else 22),
                    (r.extra_cost_mean_10k_yuan, r.extra_p50), textcoords="offset points", xytext=(12, 6),
                    fontsize=15, color=st["color"], zorder=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlim(xmin, xmax * 1.25)
    ax.set_ylim(ymin, ymax)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel(t("fig_cost_extra_x", lang))
    ax.set_ylabel(t("fig_cost_extra_y", lang))
    ax.set_title(wrap(tr("fig_cost_extra_title", lang, unit=rd.unit_label(ht["unit"], lang), ind=rd.ind_label(ht["indicator"], lang),
                    year=ht["year"]), 44 if lang == "zh" else 80, paren=False))
    ax.grid(alpha=0.3)
    return ax


def lever_ranking(rd, ax=None, lang: str = "zh"):
    """Scenarios ranked by cost per extra firm of the headline indicator (median and 80%
    interval), with the cost when the assumed lever effects are at the low (◁) and high (▷)
    ends of their ranges. An interval that reaches zero extra firms is drawn open to the right."""
    setup(lang)
    rk = rd.ranking
    ht = rd.manifest.get("headline_target")
    ax = _new_ax(ax, height=max(4.5, 1.0 * len(rk) + 2.5))
    if rk.empty or not ht:
        return ax
    rk = rk.sort_values(["rank", "scenario"], ascending=[False, True])
    meds = [v for v in rk.cost_per_extra_p50_10k_yuan if np.isfinite(v)]
    his = [v for v in rk.cost_per_extra_p90_10k_yuan if np.isfinite(v)]
    xmax = max(his + meds) * 1.15 if his else (3 * max(meds) if meds else 1.0)
    pols = rd.policy_names
    for y, (_, r) in enumerate(rk.iterrows()):
        k = pols.index(r.scenario) if r.scenario in pols else 1
        st = style(k)
        med, lo, hi = r.cost_per_extra_p50_10k_yuan, r.cost_per_extra_p10_10k_yuan, r.cost_per_extra_p90_10k_yuan
        if not np.isfinite(med):
            ax.text(0.01 * xmax, y, t("fig_rank_none", lang), va="center", fontsize=15, color="#666666")
            continue
        right = hi if np.isfinite(hi) else xmax
        ax.plot([lo, right], [y, y], color=st["color"], lw=4, solid_capstyle="butt", alpha=0.5)
        if not np.isfinite(hi):
            ax.annotate("", xy=(xmax, y), xytext=(xmax * 0.93, y),
                        arrowprops=dict(arrowstyle="->", color=st["color"], lw=2))
        ax.plot([med], [y], st["marker"], color=st["color"], ms=14, zorder=3)
        ax.annotate(money(med, lang), (med, y), textcoords="offset points", xytext=(0, 13), ha="center",
                    fontsize=15, color=st["color"])
        for col, mk in (("cost_per_extra_low_10k_yuan", "<"), ("cost_per_extra_high_10k_yuan", ">")):
            v = r[col]
            if np.isfinite(v) and r.strength_assumed:
                ax.plot([min(v, xmax)], [y], mk, color="black", ms=10, mfc="none", mew=1.5, zorder=4)
    ax.set_yticks(range(len(rk)))
    ax.set_yticklabels([wrap(rd.policy_label(p, lang), 14 if lang == "zh" else 26) for p in rk.scenario])
    ax.set_xlim(0, xmax)
    ax.set_ylim(-0.6, len(rk) - 0.4)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_xlabel(t("fig_rank_x", lang))
    ax.set_title(wrap(tr("fig_rank_title", lang, unit=rd.unit_label(ht["unit"], lang),
                         ind=rd.ind_label(ht["indicator"], lang)), 44 if lang == "zh" else 80, paren=False))
    import matplotlib.lines as ml
    handles = [ml.Line2D([], [], marker="<", color="black", mfc="none", ls="none", ms=10,
                         label="效果取假设低端" if lang == "zh" else "weak effects (low end of assumption)"),
               ml.Line2D([], [], marker=">", color="black", mfc="none", ls="none", ms=10,
                         label="效果取假设高端" if lang == "zh" else "strong effects (high end)")]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), bbox_transform=ax.figure.transFigure,
              ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.figure.tight_layout(rect=(0, 0.08, 1, 1))
    ax.figure._sim_layout = True
    return ax


def cost_vs_probability(rd, ax=None, lang: str = "zh"):
    """Each scenario's total cost to the headline target year against its P(met), in %."""
    setup(lang)
    ht = rd.manifest.get("headline_target")
    ax = _new_ax(ax)
    if not ht:
        return ax
    sf = rd.scenarios
    sf = sf[(sf.unit == ht["unit"]) & (sf.indicator == ht["indicator"]) & (sf.year == ht["year"])]
    for k, pol in enumerate(rd.policy_names):
        r = sf[sf.scenario == pol]
        if r.empty:
            continue
        r = r.iloc[0]
        st = style(k)
        ax.errorbar(r.cost_to_year_p50_10k_yuan, 100 * r.p_met,
                    xerr=[[r.cost_to_year_p50_10k_yuan - r.cost_to_year_p10_10k_yuan],
                          [r.cost_to_year_p90_10k_yuan - r.cost_to_year_p50_10k_yuan]],
                    fmt=st["marker"], ms=13, color=st["color"], capsize=5, lw=2)
        ax.annotate(wrap(rd.policy_label(pol, lang), 14 if lang == "zh" else 22), (r.cost_to_year_p50_10k_yuan, 100 * r.p_met),
                    textcoords="offset points", xytext=(10, 8), fontsize=15, color=st["color"])
    ax.set_xlabel(tr("fig_cost_total", lang, year=ht["year"]))
    ax.set_ylabel(t("p_met", lang))
    ax.set_ylim(-2, 102)
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_title(wrap(tr("fig_cost_p_title", lang, unit=rd.unit_label(ht["unit"], lang), year=ht["year"],
                         ind=rd.ind_label(ht["indicator"], lang), target=num(ht["target"])), 44 if lang == "zh" else 80, paren=False))
    ax.grid(alpha=0.3)
    return ax


def waterfall(rd, lang: str = "zh"):
    """Components of change of the headline stock from the last actual year to the headline
    target year, one panel per scenario (mean flows): start, then each component the structure
    file declares (``[[waterfall]]``: sums of flows that add or take away), then the end.
    Returns the axes array."""
    setup(lang)
    ht = rd.manifest.get("headline_target")
    pols = rd.policy_names
    fig, axes = _grid(len(pols), 3, 4.6, sharey=True)
    if not ht or rd.flows.empty or ht["year"] <= rd.manifest["last_actual_year"] or not rd.waterfall:
        return axes   # nothing projected, or nothing declared
    T = rd.manifest["last_actual_year"]
    pr, fl = rd.projection, rd.flows
    start = float(pr[(pr.unit == rd.main_unit) & (pr.indicator == rd.headline) & (pr.scenario == rd.base_policy)
                     & (pr.year == T)]["mean"].iloc[0])
    for ax, pol in zip(axes.flat, pols):
        level, labels = start, [t("wf_start", lang)]
        ax.bar(0, start, color=NEUTRAL, width=0.7)
        ax.text(0, start, num(start), ha="center", va="bottom", fontsize=14)
        for k, comp in enumerate(rd.waterfall, start=1):
            sign = comp["sign"]
            v = float(fl[(fl.scenario == pol) & fl.flow.isin(comp["flows"]) & (fl.year > T)
                         & (fl.year <= ht["year"])]["mean"].sum())
            bottom = level if sign > 0 else level - v
            ax.bar(k, v, bottom=bottom, color=GAIN if sign > 0 else LOSS, width=0.7,
                   hatch=None if sign > 0 else "//", edgecolor="white")
            ax.text(k, bottom + v, f"{'+' if sign > 0 else '−'}{num(v)}", ha="center", va="bottom", fontsize=14)
            level += sign * v
            labels.append(comp[lang])
        n = len(rd.waterfall) + 1
        ax.bar(n, level, color=COLORS[6], width=0.7)
        ax.text(n, level, num(level), ha="center", va="bottom", fontsize=14)
        # the bars add means; the median and its 80% interval (what P(met) is about) beside them
        end = pr[(pr.unit == rd.main_unit) & (pr.indicator == rd.headline) & (pr.scenario == pol)
                 & (pr.year == ht["year"])]
        if len(end):
            med, lo, hi = (float(end[c].iloc[0]) for c in ("p50", "p10", "p90"))
            ax.errorbar(n + 0.5, med, yerr=[[med - lo], [hi - med]], fmt="D", color=MEDIAN, ms=9, lw=2.5,
                        capsize=5, zorder=5)
            ax.text(n + 0.66, med, num(med), ha="left", va="center", fontsize=14, color=MEDIAN, zorder=6,
                    bbox=dict(facecolor="white", edgecolor="none", pad=1.5, alpha=0.9))
            ax.set_xlim(-0.6, n + 1.6)
        labels.append(t("wf_end", lang))
        ax.axhline(ht["target"], color=TARGET, ls="--", lw=2)
        ax.set_xticks(range(n + 1))
        ax.set_xticklabels(labels, fontsize=14, rotation=40, ha="right")
        ax.set_title(wrap(rd.policy_label(pol, lang), 14 if lang == "zh" else 28), fontsize=15)
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(_thousands())
    fig.suptitle(wrap(tr("fig_wf_title", lang, unit=rd.unit_label(rd.main_unit, lang), ind=rd.headline_words(lang),
                         T=T, year=ht["year"],
                         target=num(ht["target"])), 44 if lang == "zh" else 90, paren=False))
    return axes


def tornado(rd, policy: str | None = None, ax=None, lang: str = "zh", top: int = 10):
    """Median target-year outcome when each factor is in its bottom vs top decile (``policy``:
    default the policy in force)."""
    setup(lang)
    policy = policy or rd.base_policy
    tf = rd.tornado
    ax = _new_ax(ax, height=8.0)
    if tf.empty:
        return ax
    tf = tf[tf.scenario == policy].sort_values("swing", ascending=True).tail(top)
    if tf.empty:
        return ax
    med = float(tf.outcome_median.iloc[0])

    def name(r):
        if r.kind == "rate":
            return rd.labels["rates"].get(r.factor, {}).get(lang, r.factor)
        if r.kind == "lever":
            return tr("fig_tornado_lever", lang, x=rd.labels["levers"].get(r.factor, {}).get(lang, r.factor))
        return tr("fig_tornado_start", lang, ind=rd.headline_words(lang))

    for y, (_, r) in enumerate(tf.iterrows()):
        ax.barh(y, r.outcome_at_p10 - med, left=med, color="#56B4E9", height=0.6,
                label=t("fig_tornado_legend_lo", lang) if y == 0 else None)
        ax.barh(y, r.outcome_at_p90 - med, left=med, color="#0072B2", height=0.6,
                label=t("fig_tornado_legend_hi", lang) if y == 0 else None)
    ax.axvline(med, color="black", lw=1)
    target = float(tf.target.iloc[0])
    ax.axvline(target, color=TARGET, ls="--", lw=2, label=t("target", lang))
    ax.set_yticks(range(len(tf)))
    ax.set_yticklabels([wrap(name(r), 16 if lang == "zh" else 34) for _, r in tf.iterrows()], fontsize=14)
    ind, year = tf.indicator.iloc[0], int(tf.year.iloc[0])
    ax.set_xlabel(tr("fig_tornado_x", lang, year=year, ind=rd.ind_label(ind, lang)))
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_title(wrap(tr("fig_tornado_title", lang, pol=rd.policy_label(policy, lang)), 44 if lang == "zh" else 80, paren=False))
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 0.0), bbox_transform=ax.figure.transFigure, ncol=3,
              frameon=False)
    ax.figure.tight_layout(rect=(0, 0.07, 1, 1))
    ax.figure._sim_layout = True
    return ax


def subunit_multiples(rd, indicator: str | None = None, policy: str | None = None, lang: str = "zh"):
    """Small multiples: each sub-unit's projection (median, 80%) against its yearly targets
    (default: the headline indicator under the policy in force).

    A panel is flagged on track when P(target met) >= 0.5 in its last target year; the flag
    says the probability ("落后（概率<1%）"). Returns the figure's axes array.
    """
    setup(lang)
    indicator, policy = indicator or rd.headline, policy or rd.base_policy
    parts = rd.sub_units
    fig, axes = _grid(len(parts), 3 if len(parts) > 4 else 2, 3.6)
    pr = rd.projection
    tg_all = rd.targets
    for ax, unit in zip(axes.flat, parts):
        sub = pr[(pr.unit == unit) & (pr.indicator == indicator) & (pr.scenario == policy)].sort_values("year")
        ax.fill_between(sub.year, sub.p10, sub.p90, color=COLORS[0], alpha=0.25, lw=0)
        ax.plot(sub.year, sub.p50, color=COLORS[0], lw=2.5)
        hist = _history(rd, unit, indicator)
        if hist:
            ax.plot(*zip(*hist), "o", color="black", ms=7)
        tg = _targets(rd, unit, indicator)
        flag, colour = "", "black"
        if tg:
            ax.plot(*zip(*tg), "X", color=TARGET, ms=11, mec="white")
            ly = tg[-1][0]
            row = tg_all[(tg_all.unit == unit) & (tg_all.indicator == indicator) & (tg_all.year == ly)
                         & (tg_all.scenario == policy)]
            if len(row):
                p = float(row.p_met.iloc[0])
                if p == p:
                    ok = p >= 0.5
                    flag = tr("status_flag", lang, status=t("status_on" if ok else "status_behind", lang), p=pct(p))
                else:   # no probability: the outcome is published (met / missed) or unknown
                    ok = row.iloc[0].get("status") == "met"
                    flag = target_phrase(row.iloc[0], lang)
                colour = COLORS[0] if ok else LOSS
        ax.set_title(f"{rd.unit_label(unit, lang)}\n{flag}", color=colour, fontsize=15)
        yrs = list(sub.year)
        if yrs:
            ax.set_xticks(yrs[::2] if len(yrs) > 4 else yrs)
        ax.tick_params(labelsize=14)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", alpha=0.3)
        ax.yaxis.set_major_formatter(_thousands())
    fig.suptitle(wrap(tr("fig_sub_title", lang, unit=rd.unit_label(rd.main_unit, lang), ind=rd.ind_label(indicator, lang),
                         pol=rd.policy_label(policy, lang)), 44 if lang == "zh" else 80, paren=False))
    return axes


def flow_role(rd, flow: str) -> str:
    """'loss' for a flow that leaves the tracked tiers or the headline stock, else 'gain'."""
    return rd.labels.get("flow_roles", {}).get(flow, "gain")


def pipeline(rd, policy: str | None = None, lang: str = "zh"):
    """The cohort the model is about, for one scenario (default: the policy in force): stocks
    by tier over the projection (stacked means, the structure's last tier at the bottom, its
    first on top) with the published history of the headline indicator, and the yearly flows
    between tiers (mean per year; losses hatched, the flows a lever of this scenario acts on
    marked ◆). Returns the axes array."""
    setup(lang)
    policy = policy or rd.base_policy
    base = rd.base_policy
    fig, axes = new_figure((WIDTH_IN, 7.8), nrows=1, ncols=2, squeeze=False, gridspec_kw={"width_ratios": [1, 1.15]})
    ax, bx = axes[0, 0], axes[0, 1]
    ti = rd.tiers
    tiers = list(rd.labels.get("tiers", {}))
    if ti.empty or not tiers:
        return axes
    sub = ti[ti.scenario == policy]
    years = sorted(set(sub.year))
    stack = list(reversed(tiers))
    palette = {tier: c for tier, c in zip(tiers, ["#E69F00", "#56B4E9", "#0072B2", "#3D8FC4", "#7FB3D5", "#009E73",
                                                  "#CC79A7", "#999999"])}
    vals = [sub[sub.tier == tier].sort_values("year")["mean"].to_numpy() for tier in stack]
    ax.stackplot(years, *vals, colors=[palette[x] for x in stack], alpha=0.9, edgecolor="white", lw=0.8)
    cum = np.cumsum(np.array(vals), axis=0)
    ymax = float(cum[-1].max()) * 1.05
    ax.set_ylim(0, ymax)
    mids = [(top[-1] - v[-1] / 2) / ymax for top, v in zip(cum, vals)]
    for tier, p in zip(stack, _spread(mids, 0.075)):
        ax.text(0.97, p, wrap(rd.labels["tiers"][tier][lang], 12 if lang == "zh" else 22), transform=ax.transAxes,
                va="center", ha="right", fontsize=14, color="black",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.75))
    hist = _history(rd, rd.main_unit, rd.headline)
    if hist:
        ax.plot(*zip(*hist), "o", color="black", ms=8, label=tr("fig_pipe_hist", lang, ind=rd.ind_label(rd.headline, lang)))
        ax.legend(loc="upper left", frameon=False, fontsize=14)
    ax.set_xticks(years[::2] if len(years) > 5 else years)
    ax.set_xlim(min(years + [h[0] for h in hist]) - 0.3, years[-1])
    ax.set_title(t("fig_pipe_stocks", lang), fontsize=16)
    ax.yaxis.set_major_formatter(_thousands())
    ax.grid(axis="y", alpha=0.3)
    # flows
    fl = rd.flows
    T = rd.manifest["last_actual_year"]
    horizon = max(years)
    if fl.empty:   # nothing projected (actuals up to the horizon): the stocks only
        bx.set_visible(False)
        return axes
    f = fl[(fl.scenario == policy) & (fl.year > T)]
    fb = fl[(fl.scenario == base) & (fl.year > T)]
    names = [x for x in rd.labels["flows"] if x in set(f.flow)]
    means = {x: float(f[f.flow == x]["mean"].mean()) for x in names}
    base_means = {x: float(fb[fb.flow == x]["mean"].mean()) for x in names}
    acted = _acted_flows(rd, policy)
    for y, x in enumerate(names):
        loss = flow_role(rd, x) == "loss"
        bx.barh(y, means[x], color=LOSS if loss else GAIN, hatch="//" if loss else None, edgecolor="white", height=0.7)
        if policy != base:
            bx.plot([base_means[x]], [y], "|", color="black", ms=22, mew=2.5)
        bx.text(means[x], y, f" {num(means[x])}", va="center", fontsize=14)
    bx.set_yticks(range(len(names)))
    bx.set_yticklabels([("◆ " if x in acted else "") + wrap(rd.labels["flows"][x][lang], 13 if lang == "zh" else 30)
                        for x in names], fontsize=14)
    for lab, x in zip(bx.get_yticklabels(), names):
        if x in acted:
            lab.set_color(COLORS[0])
    bx.invert_yaxis()
    bx.set_xlim(0, max(means.values() or [1]) * 1.25)
    bx.set_title(tr("fig_pipe_flows", lang, a=T + 1, b=horizon), fontsize=16)
    bx.grid(axis="x", alpha=0.3)
    import matplotlib.patches as mp
    import matplotlib.lines as ml
    handles = [mp.Patch(color=GAIN, label=t("fig_pipe_gain", lang)),
               mp.Patch(facecolor=LOSS, hatch="//", edgecolor="white", label=t("fig_pipe_loss", lang))]
    if acted:
        handles.append(ml.Line2D([], [], ls="none", label=t("fig_pipe_lever", lang)))
    if policy != base:
        handles.append(ml.Line2D([], [], marker="|", color="black", ls="none", ms=16, mew=2.5,
                                 label=rd.policy_label(base, lang)))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False, fontsize=14)
    fig.suptitle(wrap(tr("fig_pipe_title", lang, unit=rd.unit_label(rd.main_unit, lang), pol=rd.policy_label(policy, lang)),
                      44 if lang == "zh" else 80, paren=False))
    fig.subplots_adjust(left=0.07, right=0.97, wspace=0.62, bottom=0.16, top=0.86)
    fig._sim_layout = True
    return axes


def _acted_flows(rd, policy: str) -> set:
    """Flows moved by the levers this scenario sets differently from current policy (for the
    current policy itself: by every lever it uses)."""
    pols = {p["name"]: p for p in rd.manifest.get("policies", [])}
    lf = rd.labels.get("lever_flows", {})
    mine = pols.get(policy, {}).get("levers", {})
    base = pols.get(rd.base_policy, {}).get("levers", {})
    levers = [k for k, v in mine.items() if policy == rd.base_policy or base.get(k) != v]
    return {f for k in levers for f in lf.get(k, [])}


def save(ax, stem: str, svg: bool = False) -> list[str]:
    """Save the axes' figure as PNG (and SVG with ``svg``), 1920 px wide; no timestamps: same
    input, same bytes.

    The PNG holds a palette of at most 256 colours (the figures use a few flat colours and their
    anti-aliased edges), a third of the bytes of an RGBA PNG and quicker to write; the figure is
    drawn once, at the size it is saved."""
    import sys

    fig = ax.figure
    from matplotlib.text import Text
    for txt in fig.findobj(Text):   # labels come from files: no control characters
        s = txt.get_text()
        if _CONTROL.search(s):
            txt.set_text(_CONTROL.sub(" ", s))
    if not getattr(fig, "_sim_layout", False):
        fig.tight_layout()
    _png(fig, stem + ".png")
    out = [stem + ".png"]
    if svg:
        fig.savefig(stem + ".svg", metadata={"Date": None})
        out.append(stem + ".svg")
    if "matplotlib.pyplot" in sys.modules:   # a figure the caller made with pyplot
        sys.modules["matplotlib.pyplot"].close(fig)
    return out


def _png(fig, dest) -> None:
    """Draw ``fig`` at its size and write it to ``dest`` (a path or a file) as a palette PNG."""
    from PIL import Image
    fig.set_dpi(DPI)
    fig.canvas.draw()
    rgb = Image.fromarray(np.asarray(fig.canvas.buffer_rgba())).convert("RGB")
    rgb.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(
        dest, format="png", dpi=(DPI, DPI), compress_level=6)


def _warm_up(lang: str) -> None:
    """Load once what every figure uses (the figure and text machinery, the font's glyphs,
    the PNG writer) by drawing a small throw-away figure: done before the fork, neither
    process pays for it again."""
    import io
    fig, ax = new_figure((3, 2))
    ax.fill_between([0, 1], [0, 0], [1, 1], alpha=0.2, lw=0, label=t("band80", lang))
    ax.plot([0, 1], [0, 1], ls=DASHES[1], label=t("actual", lang))
    ax.annotate("1,000", (0.5, 0.5), textcoords="offset points", xytext=(4, 4),
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none"))
    ax.yaxis.set_major_formatter(_thousands())
    ax.set_title(t("year", lang) + "0123456789%")
    ax.legend()
    _png(fig, io.BytesIO())


def figure_tasks(rd, every: bool = False) -> list[tuple]:
    """The figures of a run, as (function name, args, kwargs, file stem, svg) in reading order:
    the answer, then the evidence (fans of the whole district before its parts, pipelines,
    components of change, sensitivity). ``svg``: the figure is also written as SVG when SVGs
    are asked for (the fan charts, which go into slides).

    By default only what the meeting pack shows: P(met) by scenario; cost per extra firm,
    ranked; the main unit's fans of its key indicators and of the indicators of its key
    targets; the sub-units' small multiples of the headline indicator; the pipeline of the
    policy in force and of the scenario ranked first per 万元; components of change; the
    tornado of the policy in force. ``every`` adds the rest: extra cost vs extra firms, cost vs
    P(met), fans of the main unit's other published or targeted indicators and of up to four
    sub-units, the sub-units' multiples of the other key indicators, the pipeline of every
    other scenario and the tornado of the best-ranked one.
    """
    from .meeting import key_targets
    tasks = []
    main = rd.main_unit
    pr = rd.projection
    keys = set(rd.labels["key_indicators"])
    best = None
    if not rd.ranking.empty:
        best = rd.ranking.sort_values(["rank", "scenario"]).scenario.iloc[0]
    if not rd.scenarios.empty:
        tasks.append(("p_met_dots", (), {}, "p_met_by_scenario", False))
    if not rd.ranking.empty:
        tasks.append(("lever_ranking", (), {}, "lever_ranking", False))
        if every:
            tasks.append(("cost_vs_extra", (), {}, "cost_vs_extra", False))
    ht = rd.manifest.get("headline_target")
    if every and ht and not rd.scenarios.empty:
        sf = rd.scenarios
        p = sf[(sf.unit == ht["unit"]) & (sf.indicator == ht["indicator"]) & (sf.year == ht["year"])].p_met
        if len(p) > 1 and p.max() - p.min() >= 0.05:
            tasks.append(("cost_vs_probability", (), {}, "cost_vs_probability", False))
    # fans: the key indicators and those the main unit has a published figure or a target of
    # (projection.csv holds every declared indicator, for scoring later figures)
    shown = keys | {ind for ind, _, _ in key_targets(rd)[:4]}
    wanted = set(shown) if not every else set(keys)
    if every and not rd.targets.empty:
        wanted |= set(rd.targets[rd.targets.unit == main].indicator)
    if every and not rd.sources.empty:
        wanted |= set(rd.sources[rd.sources.unit == main].indicator)
    for ind in [i for i in rd.labels["indicators"] if i in set(pr[pr.unit == main].indicator) and i in wanted]:
        tasks.append(("fan_chart", (main, ind), {}, f"fan_{main}_{ind}", True))
    if every and 0 < len(rd.sub_units) <= 4:
        for unit in rd.sub_units:
            for ind in rd.labels["key_indicators"]:
                if ind in set(pr[pr.unit == unit].indicator):
                    tasks.append(("fan_chart", (unit, ind), {}, f"fan_{unit}_{ind}", True))
    if rd.sub_units:
        tg = rd.targets
        for ind in rd.labels["key_indicators"]:
            if (every or ind == rd.headline) and not tg.empty and ((tg.indicator == ind) & tg.unit.isin(rd.sub_units)).any():
                tasks.append(("subunit_multiples", (ind,), {}, f"subunits_{ind}", False))
    if not rd.tiers.empty:
        for k, pol in enumerate(rd.policy_names):
            if every or pol in (rd.base_policy, best):
                tasks.append(("pipeline", (pol,), {}, f"pipeline_{k:02d}_{safe_stem(pol)}", False))
    if not rd.scenarios.empty:
        tasks += [("waterfall", (), {}, "waterfall", False),
                  ("tornado", (rd.base_policy,), {}, f"tornado_00_{safe_stem(rd.base_policy)}", False)]
        if every and best is not None:
            k = rd.policy_names.index(best) if best in rd.policy_names else 99
            tasks.append(("tornado", (best,), {}, f"tornado_{k:02d}_{safe_stem(best)}", False))
    return tasks


# rough relative drawing times (a fan chart is 1): the longest are handed out first
COST = MappingProxyType(dict(fan_chart=1.0, p_met_dots=1.2, cost_vs_extra=1.0, lever_ranking=1.1,
                             cost_vs_probability=1.0, waterfall=1.6, tornado=1.1, subunit_multiples=1.3,
                             pipeline=1.5))


def _draw(rd, task, d, lang, svg=False) -> str:
    name, args, kwargs, stem, can_svg = task
    out = FIGURES[name](rd, *args, lang=lang, **kwargs)
    ax = out.flat[0] if hasattr(out, "flat") else out
    return save(ax, str(d / stem), svg=svg and can_svg)[0]


def render_all(rd, d, lang: str, workers: int | None = None, side=(), every: bool = False, svg: bool = False):
    """The figures of a run (:func:`figure_tasks`; ``every``: all of them, not only the pack's)
    into folder ``d``; returns the PNG paths in reading order. ``svg``: the fan charts also as SVG.

    ``side``: other jobs, each (function, args, cost relative to a fan chart), done meanwhile;
    then the return value is (PNG paths, their results). Jobs are shared between this process
    and, with ``workers`` > 1 (default: 2 when the machine has two cores), one forked process
    that inherits the run's tables (see :func:`sim.workers.run_shared`). A progress bar shows on a terminal.
    """
    from pathlib import Path

    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    setup(lang)
    _warm_up(lang)
    tasks = figure_tasks(rd, every=every)
    jobs = [(_draw, (rd, t_, d, lang, svg), COST[t_[0]]) for t_ in tasks] + list(side)
    n = workers if workers is not None else min(cores(), 2)
    out = run_shared(jobs, n > 1, tr("stage_figures", lang))
    pngs = out[:len(tasks)]
    return pngs if not side else (pngs, out[len(tasks):])


# The figures figure_tasks names (a constant mapping: name -> function).
FIGURES = MappingProxyType(dict(
    fan_chart=fan_chart, p_met_dots=p_met_dots, cost_vs_extra=cost_vs_extra, lever_ranking=lever_ranking,
    cost_vs_probability=cost_vs_probability, waterfall=waterfall, tornado=tornado,
    subunit_multiples=subunit_multiples, pipeline=pipeline))


LABEL_COLORS = {"data-informed": "#1f4e79", "partly informed": "#e07b00", "prior-dominated": "#9e9e9e"}


def prior_vs_posterior(summary, rate_labels: dict, lang: str = "zh", unit_labels: dict | None = None,
                       start_words: dict | None = None):
    """Prior (grey) and posterior (coloured by label) 90% intervals of every parameter, on a
    log scale; rates in one panel, start levels in the other (``start_words``: the
    structure's words for them). Returns the axes array."""
    from matplotlib.ticker import FuncFormatter

    from .text import param_label
    setup(lang)
    from matplotlib.lines import Line2D
    rates = summary[~summary.parameter.str.contains(r"\.")]
    offsets = summary[summary.parameter.str.contains(r"\.offset\.")]
    starts = summary[summary.parameter.str.contains(r"\.") & ~summary.parameter.isin(offsets.parameter)]
    panels = [(rates, M["fig_cal_rates"], True), (starts, M["fig_cal_starts"], True)]
    if len(offsets):   # offsets are on the logit/log scale and may be negative: a linear axis
        panels.append((offsets, M["fig_cal_offsets"], False))
    panels = [p_ for p_ in panels if len(p_[0])]
    sizes = [len(p_[0]) for p_ in panels]
    fig, axes = new_figure((WIDTH_IN, 0.42 * sum(sizes) + 1.6 * len(panels) + 1.5), nrows=len(panels), ncols=1,
                           squeeze=False, gridspec_kw={"height_ratios": sizes})
    for ax, (df, title, log) in zip(axes.flat, panels):
        for y, (_, r) in enumerate(df.iloc[::-1].iterrows()):
            ax.plot([r.prior_p05, r.prior_p95], [y, y], color="#cccccc", lw=9, solid_capstyle="butt")
            ax.plot([r.post_p05, r.post_p95], [y, y], color=LABEL_COLORS[r.label], lw=3.5)
            ax.plot([r.post_mean], [y], "o", color=LABEL_COLORS[r.label], ms=5)
        names = [wrap(param_label(p, rate_labels, unit_labels or {}, lang, start_words), 26 if lang == "zh" else 48, paren=False)
                 for p in df.parameter.iloc[::-1]]
        ax.set_yticks(range(len(df)))
        ax.set_yticklabels(names, fontsize=14)
        if log:
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))   # plain text, no mathtext
        ax.set_title(title[lang], fontsize=16, loc="left")
        ax.set_ylim(-0.6, len(df) - 0.4)
        ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color="#cccccc", lw=8, label=t("fig_cal_prior", lang))]
    handles += [Line2D([], [], color=c, lw=3.5, label=LABEL_WORDS[k][lang])
                for k, c in LABEL_COLORS.items()]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, fontsize=14)
    fig.suptitle(t("fig_cal_title", lang))
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig._sim_layout = True
    return axes


def fitted_vs_published(df, unit_labels: dict, ind_labels: dict, lang: str = "zh"):
    """Published actuals (black) against the fit's one-step-ahead 90% prediction. Returns axes."""
    setup(lang)
    keys = list(dict.fromkeys(zip(df.unit, df.indicator)))
    fig, axes = _grid(max(1, len(keys)), 3, 4.2)
    for ax, (u, i) in zip(axes.flat, keys):
        sub = df[(df.unit == u) & (df.indicator == i)]
        ax.errorbar(sub.year, sub.predicted_p50, yerr=[sub.predicted_p50 - sub.predicted_p05,
                                                      sub.predicted_p95 - sub.predicted_p50],
                    fmt="s", color=COLORS[0], capsize=5, ms=7, label=t("fig_fit_band", lang))
        ax.plot(sub.year, sub.published, "o", color="black", ms=8, label=t("actual", lang))
        ax.set_title(f"{unit_labels.get(u, {}).get(lang, u)}{t('sep', lang)}{ind_labels.get(i, {}).get(lang, i)}", fontsize=14)
        ax.set_xticks(sorted(set(sub.year)))
        ax.set_xlim(min(sub.year) - 0.6, max(sub.year) + 0.6)
        ax.grid(axis="y", alpha=0.3)
    axes.flat[0].legend(frameon=False, fontsize=14)
    fig.suptitle(t("fig_fit_title", lang))
    return axes


def backtest_chart(scores, res, history, unit_labels: dict, ind_labels: dict, lang: str = "zh"):
    """Backtest: the forecast fan from the fit year against the later actuals and the naive
    baselines, one panel per scored unit and indicator. Returns the axes array."""
    setup(lang)
    keys = list(dict.fromkeys(zip(scores.unit, scores.indicator)))
    fig, axes = _grid(max(1, len(keys)), 3, 4.4)
    years = np.array(res.years)
    for ax, (u, i) in zip(axes.flat, keys):
        v = res.indicator(res.policy_names()[0], u, i)
        q = np.quantile(v, [0.05, 0.25, 0.5, 0.75, 0.95], axis=1)
        ok = np.ones(len(years), bool)
        if res.scenario.structure.indicators[i].is_flow:
            ok[0] = False
        ax.fill_between(years[ok], q[0][ok], q[4][ok], color=COLORS[0], alpha=0.15, lw=0, label=t("band90", lang))
        ax.fill_between(years[ok], q[1][ok], q[3][ok], color=COLORS[0], alpha=0.3, lw=0, label=t("band50", lang))
        ax.plot(years[ok], q[2][ok], color=COLORS[0], lw=2, label=t("median", lang))
        hist = history.get((u, i), [])
        if hist:
            ax.plot(*zip(*hist), "o", color="#777777", ms=7, label=t("fig_bt_used", lang))
        sub = scores[(scores.unit == u) & (scores.indicator == i)]
        ax.plot(sub.year, sub.actual, "o", color="black", ms=9, label=t("fig_bt_later", lang))
        for c, mk, k, key in (("plan_forecast", "X", 1, "fig_bt_plan"), ("growth_forecast", "s", 2, "fig_bt_growth"),
                              ("trend_forecast", "^", 3, "fig_bt_loglinear")):
            if sub[c].notna().any():
                ax.plot(sub.year, sub[c].astype(float), mk, color=COLORS[k], ms=9, label=t(key, lang))
        ax.set_title(f"{unit_labels.get(u, {}).get(lang, u)}{t('sep', lang)}{ind_labels.get(i, {}).get(lang, i)}", fontsize=14)
        ax.set_xticks(list(years))
        ax.grid(axis="y", alpha=0.3)
        ax.set_ylim(bottom=0)
    if keys:
        axes.flat[0].legend(frameon=False, fontsize=14)
    fig.suptitle(t("fig_backtest", lang))
    return axes


def frontier_chart(frontier, goal_rows, goal, sc, lang: str = "zh", all_levels: bool = False, ax=None):
    """The certified cost-probability frontier of ``sim goal``: every certified mix (grey), the
    frontier (the best P at each cost or less: a step line through its mixes, with their 95%
    Monte Carlo intervals), the baseline, every lever at its ceiling and the cheapest plan.
    Costs are what the district pays (every payer's with ``all_levels``), total to the target
    year, 10k yuan. Returns the axes."""
    setup(lang)
    zh = lang == "zh"
    ax = _new_ax(ax)
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
                textcoords="offset points", color="grey", fontsize=14)
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
    ax = _new_ax(ax, height=0.8 * len(keys) + 0.45 * n_ev + 2.6)
    for y, (u, yrs) in enumerate(reversed(keys)):
        r = sub[(sub.unit == u) & (sub.years == yrs)].iloc[0]
        ax.plot([100 * r.p05, 100 * r.p95], [y, y], color=COLORS[0], lw=4, alpha=0.35, solid_capstyle="butt")
        ax.plot([100 * r.p25, 100 * r.p75], [y, y], color=COLORS[0], lw=10, alpha=0.7, solid_capstyle="butt")
        ax.plot([100 * r.p50], [y], "o", color="white", mec=COLORS[0], ms=9, mew=2)
    ax.set_yticks(range(len(keys)))
    ax.set_yticklabels([f"{unit_labels.get(u, {}).get(lang, u)}，{yrs}年" if lang == "zh" else
                        f"{unit_labels.get(u, {}).get(lang, u)}, {yrs} yr" for u, yrs in reversed(keys)], fontsize=15)
    ev = evidence[evidence.indicator == indicator].sort_values("growth")
    top = len(keys) - 0.3
    for k, (_, e) in enumerate(ev.iterrows()):   # one label per row above the bars: no two overlap
        y = top + 0.5 * k
        ax.plot([100 * e.growth] * 2, [-0.7, y], color="#c0504d", ls=(0, (4, 2)), lw=1.2)
        ax.annotate(f"{e[lang]} {e.years}: {100 * e.growth:.0f}%", (100 * e.growth, y), fontsize=14,
                    color="#c0504d", ha="left", va="center", xytext=(4, 0), textcoords="offset points")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel(("年增长率（%）：先验所隐含（条：5-95%、25-75%，圆点：中位数）；红线：区域实际增速" if lang == "zh" else
                   "Growth a year (%) implied by the priors (bars: 5-95%, 25-75%; dot: median); red: regional evidence"),
                  fontsize=14)
    ax.set_title(("先验预测检验：" if lang == "zh" else "Prior-predictive check: ") + ind_labels.get(indicator, {}).get(lang, indicator))
    ax.set_ylim(-0.7, top + 0.5 * len(ev) + 0.2)
    ax.grid(axis="x", alpha=0.3)
    return ax
