"""The meeting pack: ``report_<lang>.html`` (self-contained: figures and a font subset inline,
no external resources; A4-landscape print stylesheet) and ``report_<lang>.xlsx`` (the
comparison sheet first, then every table; localised headers with units, number formats,
frozen header row, filters, column widths), both drawn from a run folder's tables.

The page is rendered from jinja2 templates (``sim/templates``) with autoescaping, so every
value read from a file is escaped. It is rendered once (:func:`draft`, with empty image and
font data), its characters choose the font subset (:func:`charset`: any label of any data
file is covered), and the figures and the subset are then inlined (:func:`fill`). The answers come from :mod:`sim.meeting`, every word from
:mod:`sim.text`. Same tables, same bytes: no timestamps in the font, the zip or the
workbook properties.
"""

from __future__ import annotations

import base64
import io
import math
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from . import meeting
from .results import is_scored, target_phrase
from .update import sentences as update_sentences
from .text import ENGLISH_TEXT, LABEL_WORDS, M, col, decimal, note, num, param_label, pct, tr, variant, why

TEMPLATES = Path(__file__).with_name("templates")


def report_name(lang: str, suffix: str) -> str:
    return f"report_{lang}.{suffix}"


@lru_cache(maxsize=1)
def _env():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                              trim_blocks=False, lstrip_blocks=False, keep_trailing_newline=True)


def _markup(s: str):
    import markupsafe
    return markupsafe.Markup(s)


# ---- tables -------------------------------------------------------------------------------
def html_table(head: list[str], rows: list[list], text_cols=(0,), cls: str = "") -> object:
    return _markup(_env().get_template("table.html.j2").render(head=head, rows=rows, text_cols=set(text_cols), cls=cls))


def _pol(rd, lang):
    return lambda p: rd.policy_label(p, lang) if p in rd.policy_names else str(p)


def _unit(rd, lang):
    return lambda u: rd.labels["units"].get(u, {}).get(lang, str(u))


def _ind(rd, lang):
    return lambda i: rd.labels["indicators"].get(i, {}).get(lang, str(i))


def key_table_html(rd, lang: str):
    kt = meeting.key_table(rd, lang)
    keys = meeting.key_targets(rd)
    if kt.empty or not keys:
        return None
    head = [col("scenario", lang)]
    for ind, year, target in keys:
        what = (f"{rd.ind_label(ind, lang)} {year}≥{num(target)}" if lang == "zh" else
                f"{rd.ind_label(ind, lang)} {year} >= {num(target)}")
        head += [f"{what}{M['sep'][lang]}{M['term_head_p'][lang]}", f"{what}{M['sep'][lang]}{col('median', lang)}"]
    has_rank = not rd.ranking.empty
    if has_rank:
        head += [col("extra_p50", lang), col("cost_per_extra_p50_10k_yuan", lang)]
    rows = []
    for _, r in kt.iterrows():
        row = [r.label]
        for ind, year, _ in keys:
            row += [pct(r[(ind, year, "p")]), num(r[(ind, year, "median")])]
        if has_rank:
            base = r.scenario == rd.base_policy
            row += ["" if base else f"{r.extra:+,.0f}", "" if base else num(r.cost_per)]
        rows.append(row)
    return html_table(head, rows)


def ranking_table_html(rd, lang: str):
    rk = meeting.ranked(rd)
    if rk.empty:
        return None
    head = [col(c, lang) for c in ("rank", "scenario", "levers", "extra_p50", "extra_cost_mean_10k_yuan",
                                   "cost_per_extra_p50_10k_yuan")]
    head += [M["band80"][lang], col("per_100wan_p50", lang), col("cost_per_extra_low_10k_yuan", lang),
             col("cost_per_extra_high_10k_yuan", lang)]
    levers = rd.labels["levers"]
    rows = []
    for _, r in rk.iterrows():
        names = [levers.get(x, {}).get(lang, x) for x in str(r.levers).split(";") if x and x != "nan"]
        rows.append([int(r["rank"]), rd.policy_label(r.scenario, lang), M["comma"][lang].join(names),
                     f"{r.extra_p50:+,.0f}", num(r.extra_cost_mean_10k_yuan), num(r.cost_per_extra_p50_10k_yuan),
                     meeting.money_range(r.cost_per_extra_p10_10k_yuan, r.cost_per_extra_p90_10k_yuan, lang,
                                         r.cost_per_extra_p50_10k_yuan),
                     decimal(r.per_100wan_p50), num(r.cost_per_extra_low_10k_yuan), num(r.cost_per_extra_high_10k_yuan)])
    return html_table(head, rows, text_cols=(1, 2))


def targets_table_html(rd, lang: str):
    tg = rd.targets
    if tg.empty:
        return None
    u, i, p = _unit(rd, lang), _ind(rd, lang), _pol(rd, lang)
    order = {x: k for k, x in enumerate([rd.main_unit] + list(rd.sub_units))}
    pols = {x: k for k, x in enumerate(rd.policy_names)}
    tg = tg.assign(_u=tg.unit.map(order).fillna(99), _p=tg.scenario.map(pols).fillna(99))
    tg = tg.sort_values(["_u", "indicator", "year", "_p"], kind="stable")
    head = [col(c, lang) for c in ("unit", "indicator", "year", "scenario", "target", "p_met", "median")] + [M["band80"][lang]]
    rows = [[u(r.unit), i(r.indicator), int(r.year), p(r.scenario), num(r.target),
             pct(r.p_met) if is_scored(r) else target_phrase(r, lang), num(r["median"]),
             f"{num(r.p10)}–{num(r.p90)}"] for _, r in tg.iterrows()]
    return html_table(head, rows, text_cols=(0, 1, 3))


def subunit_table_html(rd, lang: str):
    tg = rd.targets
    if not rd.sub_units or tg.empty:
        return None
    rows = []
    for unit in rd.sub_units:
        sub = tg[(tg.unit == unit) & (tg.scenario == rd.base_policy)]
        for ind in dict.fromkeys(sub.indicator):
            last = sub[sub.indicator == ind].sort_values("year").iloc[-1]
            ok = last.p_met >= 0.5 if is_scored(last) else last.get("status") == "met"
            rows.append([rd.unit_label(unit, lang), rd.ind_label(ind, lang), int(last.year), num(last.target),
                         num(last["median"]), pct(last.p_met) if is_scored(last) else target_phrase(last, lang),
                         M["status_on" if ok else "status_behind"][lang]])
    if not rows:
        return None
    head = [col(c, lang) for c in ("unit", "indicator", "year", "target", "median", "p_met", "status")]
    return html_table(head, rows, text_cols=(0, 1, 6))


def costs_table_html(rd, lang: str):
    cf = rd.costs
    if cf.empty:
        return None
    tot = cf.groupby(["scenario", "year"], sort=False)["mean_10k_yuan"].sum().unstack("year")
    head = [f"{col('scenario', lang)}（{col('mean_10k_yuan', lang)}）" if lang == "zh" else
            f"{col('scenario', lang)} ({col('mean_10k_yuan', lang)})"] + [str(c) for c in tot.columns]
    rows = [[rd.policy_label(pol, lang)] + [num(v) for v in tot.loc[pol]] for pol in tot.index]
    return html_table(head, rows)


def calibration_table_html(rd, lang: str):
    cal = rd.calibration
    if cal.empty:
        return None
    rates = rd.labels["rates"]
    head = [col(c, lang) for c in ("parameter", "prior_p05", "prior_p95", "post_mean", "post_p05", "post_p95", "label")]
    units = rd.labels["units"]
    rows = [[param_label(r.parameter, rates, units, lang, rd.labels.get("start_words")), f"{r.prior_p05:.3g}", f"{r.prior_p95:.3g}",
             f"{r.post_mean:.3g}", f"{r.post_p05:.3g}", f"{r.post_p95:.3g}",
             LABEL_WORDS.get(r.label, {}).get(lang, r.label)] for _, r in cal.iterrows()]
    return html_table(head, rows, text_cols=(0, 6))


def sources_table_html(rd, lang: str):
    src = rd.sources
    if src.empty:
        return None
    u, i = _unit(rd, lang), _ind(rd, lang)
    cols = ["unit", "indicator", "year", "value", "kind", "source_file", "passage"] + (["definition"] if lang == "en" else [])
    head = [col(c, lang) for c in cols]
    rows = []
    for _, r in src.iterrows():
        kind = M.get(f"kind_{r.kind}", {}).get(lang, str(r.kind))
        row = [u(r.unit), i(r.indicator), int(r.year), f"{r.value:,.4g}", kind, str(r.source_file), str(r.passage)]
        if lang == "en":
            row.append(str(r.definition))
        rows.append(row)
    return html_table(head, rows, text_cols=(0, 1, 4, 5, 6, 7), cls="sources")


# ---- assumptions ---------------------------------------------------------------------------
def assumptions(rd, lang: str) -> list[str]:
    """The assumptions a reader must know, in the run's language: prior-dominated rates, the
    assumed lever strengths (with the plan's own words), pooling, targets not scored. The
    free-text sources of the data files are English and shown in the English pack."""
    items = []
    cal = rd.calibration
    rates = rd.labels["rates"]
    if not cal.empty:
        for _, r in cal[cal.label == "prior-dominated"].iterrows():
            if r.parameter not in rates:
                continue
            items.append(tr("as_rate", lang, name=rates[r.parameter][lang], lo=f"{r.post_p05:.3g}",
                            hi=f"{r.post_p95:.3g}", source=str(r.prior_source)))
    used = set()
    for p in rd.manifest.get("policies", []):
        used |= set(p.get("levers", {}))
    for k, lv in rd.labels["levers"].items():
        lo, hi = (lv.get("strength") or [0, 0])[:2]
        if k not in used or not hi > lo:
            continue
        passage = lv.get("passage", "")
        # an instrument described in English only (FACTS.md) has no Chinese passage to quote
        key = "as_lever" if lang == "en" or re.search(r"[\u4e00-\u9fff]", passage) else "as_lever_nopassage"
        items.append(tr(key, lang, name=lv[lang], lo=f"{lo:g}", hi=f"{hi:g}", scale=M["scale_logit"][lang],
                        passage=passage, source=lv.get("strength_source", ""), cost=lv.get("cost_note", "")))
    pool = rd.manifest.get("pooling")
    if pool:
        sep = M["comma"][lang]
        items.append(tr("as_pool", lang, units=sep.join(_unit(rd, lang)(x) for x in rd.manifest.get("pooled_with", [])),
                        rates=sep.join(rates.get(x, {}).get(lang, x) for x in pool.get("partially_pooled_rates", [])),
                        tau=pool.get("tau"), source=pool.get("source", "")))
    for t in rd.manifest.get("targets_not_scored", []):
        items.append(tr("as_not_scored", lang, unit=_unit(rd, lang)(t["unit"]), ind=_ind(rd, lang)(t["indicator"]),
                        year=t["year"], value=num(float(t["value"])), why=why(t.get("why", ""), lang)))
    return list(dict.fromkeys(items))


# ---- the page ------------------------------------------------------------------------------
def _figure(stem: str, data: str = ""):
    return _markup(_env().get_template("figure.html.j2").render(alt=stem, data=data))


def _font_face(data: str = "") -> str:
    return ("<style>@font-face{font-family:'SimReport';src:url(data:font/otf;base64,"
            + data + ") format('opentype');}</style>")


def figure_groups(rd, stems=None) -> dict[str, list[str]]:
    """The run's figure stems by report section, in reading order (whole district first);
    ``stems``: only these (default: every figure the run can have)."""
    from .figures import figure_tasks
    groups: dict[str, list[str]] = {"answer": [], "lever": [], "fans": [], "subunits": [], "pipeline": [],
                                    "sensitivity": []}
    where = {"p_met_dots": "answer", "lever_ranking": "lever", "cost_vs_extra": "lever", "cost_vs_probability": "lever",
             "fan_chart": "fans", "subunit_multiples": "subunits", "pipeline": "pipeline", "waterfall": "sensitivity",
             "tornado": "sensitivity"}
    for name, _, _, stem, _ in figure_tasks(rd, every=True):
        if stems is None or stem in stems:
            groups[where[name]].append(stem)
    return groups


def draft(rd, lang: str, stems) -> str:
    """The report page with the figures ``stems`` (and ``goal_frontier`` if among them) and
    the font face as empty ``data:`` URLs, filled in by :func:`fill`. Its characters are
    exactly the finished page's, but for the base64 data."""
    g = figure_groups(rd, set(stems))

    def imgs(key):
        return [_figure(s) for s in g[key]]

    man = rd.manifest
    goal = getattr(rd, "goal", pd.DataFrame())
    gcol = meeting.goal_column(goal, lang)
    goal_sentences = [str(x) for x in goal[gcol]] if gcol else []
    goal_figs = [_figure("goal_frontier")] if "goal_frontier" in stems else []
    inputs = "; ".join(f"{k} {v}" for k, v in sorted((man.get("inputs_sha256_16") or {}).items()))
    ctx = dict(
        html_lang="zh-CN" if lang == "zh" else "en", sep=M["sep"][lang], title=M["title"][lang],
        scenario=rd.labels["scenario"][lang], css=_markup((TEMPLATES / "report.css").read_text(encoding="utf-8")),
        font_face=_markup(_font_face()), interval_note=M["interval_note"][lang],
        h={k: M[f"sec_{k}"][lang] for k in ("answer", "key", "lever", "goal", "evidence", "fans", "pipeline", "costs",
                                             "subunits", "sensitivity", "appendix", "tables", "calibration",
                                             "assumptions", "sources", "run")},
        sentences=meeting.sentences(rd, lang) + update_sentences(rd.manifest, lang), key_table=key_table_html(rd, lang),
        answer_figures=imgs("answer"), ranking_table=ranking_table_html(rd, lang),
        lever_sentences=meeting.lever_sentences(rd, lang), lever_figures=imgs("lever"),
        goal_sentences=goal_sentences, goal_figures=goal_figs, no_goal=M["no_goal"][lang],
        fan_figures=imgs("fans"), subunit_table=subunit_table_html(rd, lang), subunit_figures=imgs("subunits"),
        pipeline_figures=imgs("pipeline"), costs_table=costs_table_html(rd, lang),
        sensitivity_figures=imgs("sensitivity"), targets_table=targets_table_html(rd, lang),
        calibration_line=meeting.calibration_line(rd, lang, reused=True).split("；")[0].split(";")[0],
        notes=[note(n, lang, _unit(rd, lang)) for n in man.get("calibration_notes", [])],
        calibration_table=calibration_table_html(rd, lang), assumptions=assumptions(rd, lang),
        sources_table=sources_table_html(rd, lang),
        run_info=tr("run_info", lang, seed=man.get("seed"), paths=man.get("paths"), version=man.get("package_version"),
                    inputs=inputs),
    )
    return _env().get_template("report.html.j2").render(**ctx)


def charset(doc: str) -> str:
    """Every character of a page (sorted, printable): what its font subset must hold."""
    return "".join(sorted(c for c in set(doc) if c.isprintable()))


def fill(doc: str, figs: Path, font: str) -> str:
    """The draft ``doc`` with each figure's PNG (from ``figs``) and the base64 ``font`` inlined.
    The empty data URLs are found as the exact markup :func:`draft` wrote: text read from a
    file is escaped, so it can never hold that markup."""
    parts = doc.split(_font_face(), 1)
    doc = _font_face(font).join(parts)
    for m in sorted(set(re.findall(r'<img alt="([A-Za-z0-9_.-]+)" src="data:image/png;base64,">', doc))):
        png = Path(figs) / f"{m}.png"
        data = base64.b64encode(png.read_bytes()).decode("ascii") if png.is_file() else ""
        doc = doc.replace(str(_figure(m)), str(_figure(m, data)))
    return doc


def font_charset(rd, lang: str = "zh", figs: Path | None = None) -> str:
    """Every character of the page as rendered with the figures in ``figs`` (default
    ``figures/<lang>``; but for the images' data): the font subset holds exactly what the
    page shows."""
    figs = Path(figs or (rd.folder / "figures" / lang))
    return charset(draft(rd, lang, {p.stem for p in figs.glob("*.png")}))


def draft_and_font(rd, lang: str, stems, cache: Path | None = None) -> tuple[str, str, str | None]:
    """The page's :func:`draft`, the base64 font subset of exactly its characters and, with a
    ``cache`` folder, the subset's key there (else None). A subset stored there before under
    the same key is taken as it is (:func:`sim.fonts.cached_subset`); storing a new one is
    the caller's (:func:`sim.fonts.store_subset`), once the page is written."""
    from .fonts import cached_subset, subset_font_base64, subset_key
    doc = draft(rd, lang, stems)
    chars = charset(doc)
    if cache is None:
        return doc, subset_font_base64(chars), None
    key = subset_key(chars)
    return doc, cached_subset(cache, key) or subset_font_base64(chars), key


def write_html(rd, lang: str = "zh", font: str | None = None, figs: Path | None = None, doc: str | None = None) -> Path:
    """Write ``report_<lang>.html`` into the run folder with the figures of ``figs`` (default
    ``figures/<lang>``). ``doc``, ``font``: the page's :func:`draft` and its font subset
    (computed here if None)."""
    figs = figs or (rd.folder / "figures" / lang)
    if doc is None:
        doc, font, _ = draft_and_font(rd, lang, {p.stem for p in Path(figs).glob("*.png")})
    out = rd.folder / report_name(lang, "html")
    out.write_text(fill(doc, figs, font or ""), encoding="utf-8")
    return out


# ---- the workbook --------------------------------------------------------------------------
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
PERCENT = {"p_met", "mc_se", "p_certified", "p_lo", "p_hi", "p"}   # and every p_met_<variant>
MONEY = re.compile(r"10k_yuan")
FIRMS = {"mean", "p05", "p10", "p25", "p50", "p75", "p90", "p95", "target", "median", "extra_vs_baseline_p50",
         "extra_vs_baseline_p10", "extra_vs_baseline_p90", "extra_vs_baseline_mean", "extra_mc_se", "outcome_at_p10",
         "outcome_at_p90", "outcome_median", "swing", "extra_p50", "extra_p10", "extra_p90", "extra_mean", "extra_low",
         "extra_high", "gap"}


def _localise(df: pd.DataFrame, rd, lang: str) -> pd.DataFrame:
    """Ids -> labels in the run's language (units, scenarios, indicators, tiers, flows, levers,
    parameters, calibration labels)."""
    df = df.copy()
    maps = {"unit": _unit(rd, lang), "scenario": _pol(rd, lang), "indicator": _ind(rd, lang),
            "tier": lambda x: rd.labels.get("tiers", {}).get(x, {}).get(lang, x),
            "flow": lambda x: rd.labels["flows"].get(x, {}).get(lang, x),
            "lever": lambda x: rd.labels["levers"].get(x, {}).get(lang, x),
            "parameter": lambda x: param_label(x, rd.labels["rates"], rd.labels["units"], lang,
                                               rd.labels.get("start_words")),
            "label": lambda x: LABEL_WORDS.get(x, {}).get(lang, x),
            "kind": lambda x: M.get(f"kind_{x}", {}).get(lang, x)}
    for c, f in maps.items():
        if c in df.columns:
            df[c] = [f(x) if isinstance(x, str) else x for x in df[c]]
    if "levers" in df.columns:
        df["levers"] = [M["comma"][lang].join(rd.labels["levers"].get(x, {}).get(lang, x) for x in str(v).split(";") if x)
                        if isinstance(v, str) else v for v in df["levers"]]
    for c in ("assumption_sensitive", "depends_on_prior_dominated"):
        if c in df.columns:
            f = variant if c == "assumption_sensitive" else (lambda x, _l: rd.labels["rates"].get(x, {}).get(_l, x))
            df[c] = [M["comma"][lang].join(f(x, lang) for x in v.split(";") if x) if isinstance(v, str) else v
                     for v in df[c]]
    if "single_lever" in df.columns:
        df["single_lever"] = [M["yes" if bool(v) else "no"][lang] for v in df["single_lever"]]
    return df


def comparison_frame(rd) -> pd.DataFrame:
    """The planners' first sheet: per key target and scenario, P(met), median and 80% interval,
    and extra firms and cost against current policy."""
    rows = []
    sf, tg = rd.scenarios, rd.targets
    for ind, year, target in meeting.key_targets(rd):
        for pol in rd.policy_names:
            s = sf[(sf.unit == rd.main_unit) & (sf.scenario == pol) & (sf.indicator == ind) & (sf.year == year)]
            t_ = tg[(tg.unit == rd.main_unit) & (tg.scenario == pol) & (tg.indicator == ind) & (tg.year == year)]
            if s.empty or t_.empty:
                continue
            s, t_ = s.iloc[0], t_.iloc[0]
            rows.append(dict(indicator=ind, year=year, target=target, scenario=pol, p_met=s.p_met,
                             median=t_["median"], p10=t_.p10, p90=t_.p90, gap=t_["median"] - target,
                             extra_vs_baseline_p50=s.extra_vs_baseline_p50,
                             extra_cost_mean_10k_yuan=s.extra_cost_mean_10k_yuan))
    return pd.DataFrame(rows)


def workbook_sheets(rd, lang: str) -> list[tuple[str, pd.DataFrame]]:
    sheets = [("comparison", comparison_frame(rd)), ("ranking", rd.ranking)]
    sheets += [(k, rd.tables[k]) for k in ("targets", "projection", "tiers", "flows", "costs", "calibration",
                                            "sources", "tornado") if k in rd.tables]
    goal = getattr(rd, "goal", pd.DataFrame())
    if not goal.empty:
        other = [c for c in goal.columns if c.startswith("sentence") and c != meeting.goal_column(goal, lang)]
        sheets.append(("goal", goal.drop(columns=other).rename(columns={meeting.goal_column(goal, lang): "sentence"})))
    if lang != "en":
        sheets = [(k, df.drop(columns=[c for c in ENGLISH_TEXT if c in df.columns])) for k, df in sheets]
    return [(M.get(f"sheet_{k}", {}).get(lang, k)[:31], _localise(df, rd, lang)) for k, df in sheets
            if df is not None and not df.empty]


def _number_format(c: str) -> str | None:
    if c in PERCENT or c.startswith("p_met_"):
        return "0.0%"
    if MONEY.search(c) or c in FIRMS:
        return "#,##0"
    if c.startswith("per_100wan"):
        return "0.00"
    if c in ("year", "rank", "rank_low", "rank_high"):
        return "0"
    return None


def write_xlsx(rd, lang: str = "zh") -> Path:
    """Write ``report_<lang>.xlsx``: the comparison sheet first, then every table; text cells
    are text (never formulas), same tables give the same bytes. Written with xlsxwriter (a
    quarter of openpyxl's time for the same sheets) in memory: its zip entries carry a fixed
    date and the document's dates are the fixed ``created``."""
    import datetime

    import xlsxwriter

    from .text import width
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
                                   "strings_to_urls": False})
    wb.set_properties({"author": "sim", "created": datetime.datetime(2000, 1, 1)})
    formats = {}
    for name, df in workbook_sheets(rd, lang):
        ws = wb.add_worksheet(name)
        ids = list(df.columns)
        heads = [col(c, lang, rd.labels.get("variants")) for c in ids]
        cols = [[_cell(v) for v in df[c].tolist()] for c in ids]
        for j, values in enumerate(cols):
            shown = {v if isinstance(v, str) else (f"{v:,.0f}" if isinstance(v, float) else str(v or ""))
                     for v in values}
            w = max([width(heads[j])] + [min(width(x), 60) for x in shown])
            ws.set_column(j, j, min(max(w + 2, 8), 62))
        ws.freeze_panes(1, 0)
        for j, h in enumerate(heads):
            ws.write_string(0, j, h)
        for j, (c, values) in enumerate(zip(ids, cols)):
            fmt = _number_format(c)
            if fmt and fmt not in formats:
                formats[fmt] = wb.add_format({"num_format": fmt})
            _write_column(ws, j, values, formats.get(fmt))
        ws.autofilter(0, 0, len(df), max(len(ids), 1) - 1)
    wb.close()
    out = rd.folder / report_name(lang, "xlsx")
    out.write_bytes(buf.getvalue())
    return out


def _write_column(ws, j: int, values: list, fmt) -> None:
    """Column ``j`` from row 2 on: text always as text (a string starting with '=' is never
    a formula), numbers with the column's format ``fmt``, an infinite number as the text
    'inf' (a workbook cannot hold one), None as an empty cell."""
    for i, v in enumerate(values, start=1):
        if v is None:
            continue
        if isinstance(v, str):
            ws.write_string(i, j, v)
        elif isinstance(v, bool):
            ws.write_boolean(i, j, v)
        elif isinstance(v, (int, float)):
            if math.isfinite(v):
                ws.write_number(i, j, v, fmt)
            else:
                ws.write_string(i, j, str(v))
        else:
            ws.write_string(i, j, _ILLEGAL.sub(" ", str(v)))


def _cell(v):
    if v is None:
        return None
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, (bool,)):
        return str(v)
    if isinstance(v, (int,)):
        return v
    if hasattr(v, "item"):
        v = v.item()
        return None if isinstance(v, float) and math.isnan(v) else v
    return _ILLEGAL.sub(" ", str(v))
