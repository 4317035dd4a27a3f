"""The update loop: what a run learns from the previous run of the same scenario file.

When a run is written, the newest earlier run folder of the same scenario file (same
results folder, same ``scenario_file`` in its run.json) is the *previous run*. The new run
records in its run.json:

* ``observations``: every actual of the run's units, whether the fit used it and why not
  (:func:`sim.observations.fit_status`);
* ``new_actuals``: each actual the previous run did not have, against that run's forecast of
  the cell (its baseline ``projection.csv`` row): the 90% interval and the PIT. The PIT comes
  from the seven stored quantiles: a piecewise-linear distribution function between them and
  normal tails beyond the 5% and 95% quantiles (scale from the median-to-quantile distance).
  A lower bound ("more than 480") gives a lower bound of the PIT, and can only lie above;
* ``since_previous``: the headline target's P(met) and median in the previous run and now;
* ``inputs.json`` beside it: a copy of the scenario file and every data file it read (text,
  ASCII-escaped), so that ``sim compare`` can rerun any mix of two runs' inputs.

Sentences are rendered from these numbers in either language (the terminal, the report).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri   # the normal cdf and quantile (scipy.stats costs a second to import)

from .observations import actual_of, fit_status
from .results import QCOLS, QUANTS, is_scored, pct, target_phrase
from .scenario import BASE_POLICY

SNAPSHOT = "inputs.json"
Z95 = float(ndtri(0.95))   # 1.6449: the normal tails meet the 5% and 95% quantiles exactly


# ---- the previous run ---------------------------------------------------------------------
def run_folders(root: Path) -> list[Path]:
    """Run folders ``run-NNN`` under ``root``, newest (highest number) first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"run-\d+", p.name)]
    return sorted(found, key=lambda p: int(p.name[4:]), reverse=True)


def _manifest(folder: Path) -> dict | None:
    try:
        man = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return man if isinstance(man, dict) else None


def previous_run(root: Path, scenario_file: str) -> Path | None:
    """The newest run folder under ``root`` written for the same scenario file (an unreadable
    or incomplete folder is passed over)."""
    for p in run_folders(root):
        man = _manifest(p)
        if man and man.get("scenario_file") == scenario_file and (p / "projection.csv").is_file() \
                and (p / "targets.csv").is_file():
            return p
    return None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
        return pd.DataFrame()


# ---- PIT from stored quantiles -----------------------------------------------------------------
def pit_from_quantiles(x: float, q) -> float:
    """P(X <= x) for a forecast known by its quantiles ``q`` at QUANTS (0.05 ... 0.95).

    Between the quantiles the distribution function is linear (where several quantiles tie,
    as they do for integer counts, x gets the middle of the tied probabilities); beyond the
    5% and 95% quantiles it is a normal tail centred on the median, with the scale that puts
    the median-to-quantile distance at norm.ppf(0.95) = 1.645 sd (continuous at both ends).
    """
    q = np.maximum.accumulate(np.asarray(q, dtype=float))
    p = np.asarray(QUANTS)
    med = float(np.interp(0.5, p, q))
    if x < q[0]:
        sd = (med - q[0]) / Z95
        return float(min(p[0], ndtr((x - med) / sd))) if sd > 0 else 0.0
    if x > q[-1]:
        sd = (q[-1] - med) / Z95
        return float(max(p[-1], ndtr((x - med) / sd))) if sd > 0 else 1.0
    eq = p[q == x]
    if eq.size:
        return float((eq.min() + eq.max()) / 2)
    j = int(np.searchsorted(q, x)) - 1   # q[j] < x < q[j + 1]
    return float(p[j] + (p[j + 1] - p[j]) * (x - q[j]) / (q[j + 1] - q[j]))


# ---- what the run writes ---------------------------------------------------------------------
def observations_record(sc) -> list[dict]:
    """run.json's list of every actual of the run's units, fitted or not and why not."""
    return [{"unit": r.unit, "indicator": r.indicator, "year": r.year, "value": r.value, "kind": r.kind,
             "bound": r.bound, "origin": r.origin, "fitted": fitted, "why_not": why}
            for r, fitted, why in fit_status(sc)]


def new_actuals(sc, prev: Path) -> list[dict]:
    """Each actual of the run's units (scenario unit and sub-units) that the previous run did
    not have, scored against that run's baseline forecast of its cell."""
    known = set()
    try:
        src = pd.read_csv(prev / "sources.csv", dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
        src = pd.DataFrame()
    if not src.empty and {"unit", "indicator", "year", "value", "kind"} <= set(src.columns):
        for rec in src.to_dict("records"):
            if rec["kind"] == "actual" or (rec["kind"] == "derived" and rec.get("derived_from") == "actual"):
                try:
                    known.add((rec["unit"], rec["indicator"], int(float(rec["year"])), float(rec["value"]),
                               rec.get("bound") or "eq"))
                except ValueError:
                    continue
    proj = _read_csv(prev / "projection.csv")
    if proj.empty or not {"unit", "scenario", "indicator", "year", *QCOLS} <= set(proj.columns):
        return []
    proj = proj[proj.scenario == BASE_POLICY]
    cells = {(u, i, int(y)): row for u, i, y, row in zip(proj.unit, proj.indicator, proj.year,
                                                       proj[list(QCOLS)].to_numpy(float))}
    out = []
    seen = set()
    for r in sc.rows:
        cell = (r.unit, r.indicator, r.year)
        if not r.is_actual or r.unit not in sc.report_units or cell in seen or cell not in cells:
            continue
        seen.add(cell)
        a = actual_of(sc, *cell)
        if (r.unit, r.indicator, r.year, a.value, a.bound) in known:
            continue
        q = cells[cell]
        pit = pit_from_quantiles(a.value, q)
        side = "above" if a.value > q[-1] else ("below" if a.value < q[0] and a.bound == "eq" else "")
        out.append({"unit": r.unit, "indicator": r.indicator, "year": r.year, "actual": a.value, "bound": a.bound,
                    "previous_run": prev.name, "previous_p05": float(q[0]), "previous_p50": float(q[3]),
                    "previous_p95": float(q[-1]), "pit": round(pit, 4), "pit_is_lower_bound": a.bound == "ge",
                    "outside_90": side})
    return out


def since_previous(res, prev: Path, folder: Path | None = None) -> dict | None:
    """The headline target (baseline) in the previous run and in this one (from this run's
    targets.csv in ``folder`` when it is written: the same numbers to the 4 decimals kept)."""
    tg = res.headline_target()
    old = _read_csv(prev / "targets.csv")
    if tg is None or old.empty or not {"unit", "scenario", "indicator", "year", "target", "p_met"} <= set(old.columns):
        return None
    old = old[(old.unit == tg.unit) & (old.indicator == tg.indicator) & (old.year == tg.year)
              & (old.scenario == BASE_POLICY)]
    if old.empty:
        return None
    mine = None if folder is None else Path(folder) / "targets.csv"
    new = _read_csv(mine) if mine is not None and mine.is_file() else res.targets_frame()
    new = new[(new.unit == tg.unit) & (new.indicator == tg.indicator) & (new.year == tg.year)
              & (new.scenario == BASE_POLICY)]
    a, b = old.iloc[0], new.iloc[0]

    def num(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4)

    def state(r):
        return {"target": num(r.target), "p_met": num(r.get("p_met")), "median": num(r.get("median")),
                "status": str(r.get("status", "projected")) if isinstance(r.get("status", ""), str) else "projected",
                "actual": num(r.get("actual")), "actual_bound": r.get("actual_bound", "") if
                isinstance(r.get("actual_bound", ""), str) else ""}
    return {"previous_run": prev.name, "unit": tg.unit, "indicator": tg.indicator, "year": tg.year,
            "before": state(a), "after": state(b)}


def snapshot(sc) -> dict:
    """The text of the scenario file and of every data file the run read (ASCII-escaped JSON,
    so the report's font subset does not grow)."""
    files = {}
    for key, p in sorted(sc.input_files.items()):
        try:
            text = Path(p).read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError):
            continue
        files[key] = {"name": Path(p).name, "text": text}
    return {"about": "the inputs of this run, for 'sim compare' (scenario file and data files, verbatim)",
            "files": files}


def manifest_extras(res, folder: Path, lang: str) -> dict:
    """Entries for run.json; also writes ``inputs.json`` into ``folder`` (the run's
    temporary folder inside its results folder, so its parent holds the earlier runs)."""
    sc = res.scenario
    (Path(folder) / SNAPSHOT).write_text(json.dumps(snapshot(sc), ensure_ascii=True, indent=1) + "\n",
                                         encoding="utf-8")
    extras = {"observations": observations_record(sc), "previous_run": None, "new_actuals": [],
              "since_previous": None}
    prev = previous_run(Path(folder).parent, Path(sc.path).name)
    if prev is not None:
        extras.update(previous_run=prev.name, new_actuals=new_actuals(sc, prev), since_previous=since_previous(res, prev, folder))
    return extras


# ---- sentences ---------------------------------------------------------------------------------
def _n(v) -> str:
    return f"{v:,.0f}"


def surprise_sentence(s: dict, unit_label: str, ind_label: str, lang: str) -> str:
    """One line for a new actual: where it fell in the previous run's forecast."""
    lo, hi, ge = s["previous_p05"], s["previous_p95"], s["bound"] == "ge"
    pit = f"{'≥' if ge else ''}{s['pit']:.2f}"
    if lang == "zh":
        head = f"{unit_label}{ind_label}：{s['year']}年实际{'超过' if ge else ''}{_n(s['actual'])}家，"
        where = {"above": "高于", "below": "低于"}.get(s["outside_90"])
        body = (f"{where}上次预测的90%区间[{_n(lo)}, {_n(hi)}]" if where else
                f"与上次预测的90%区间[{_n(lo)}, {_n(hi)}]不矛盾" if ge else
                f"在上次预测的90%区间[{_n(lo)}, {_n(hi)}]内")
        return head + body + f"（{s['previous_run']}，PIT {pit}）"
    head = f"{unit_label} {ind_label}: {s['year']} actual {'> ' if ge else ''}{_n(s['actual'])}, "
    where = s["outside_90"]
    body = (f"{where} the previous forecast's 90% interval [{_n(lo)}, {_n(hi)}]" if where else
            f"consistent with the previous forecast's 90% interval [{_n(lo)}, {_n(hi)}]" if ge else
            f"inside the previous forecast's 90% interval [{_n(lo)}, {_n(hi)}]")
    return head + body + f" ({s['previous_run']}, PIT {pit})"


def _state_text(st: dict, lang: str) -> str:
    row = {"status": st["status"], "target": st["target"], "p_met": st["p_met"] if st["p_met"] is not None else float("nan"),
           "actual": st["actual"] if st["actual"] is not None else float("nan"), "actual_bound": st["actual_bound"]}
    if is_scored(row):
        med = st["median"]
        return (f"{pct(row['p_met'])}（中位数{_n(med)}家）" if lang == "zh" else f"{pct(row['p_met'])} (median {_n(med)})")
    return target_phrase(row, lang)


def since_sentence(sp: dict, unit_label: str, ind_label: str, policy_label: str, lang: str) -> str:
    """How the headline moved since the previous run, in one sentence."""
    b, a = sp["before"], sp["after"]
    tgt = _n(a["target"])
    changed_target = b["target"] != a["target"]
    same = _state_text(b, lang) == _state_text(a, lang) and not changed_target
    if lang == "zh" and same:
        return (f"与上次运行（{sp['previous_run']}）相比，按{policy_label}，{sp['year']}年{unit_label}{ind_label}"
                f"达到{tgt}家的概率不变：{_state_text(a, 'zh')}。")
    if same:
        return (f"Since the previous run ({sp['previous_run']}), the chance that {unit_label} reaches {tgt} {ind_label} "
                f"in {sp['year']} under '{policy_label}' is unchanged: {_state_text(a, 'en')}.")
    if lang == "zh":
        s = (f"与上次运行（{sp['previous_run']}）相比，按{policy_label}，{sp['year']}年{unit_label}{ind_label}"
             f"达到{tgt}家的概率由{_state_text(b, 'zh')}变为{_state_text(a, 'zh')}")
        if changed_target:
            s += f"（目标由{_n(b['target'])}家改为{tgt}家）"
        return s + "；变化原因可用 sim compare 分解。"
    s = (f"Since the previous run ({sp['previous_run']}), under '{policy_label}' the chance that {unit_label} reaches "
         f"{tgt} {ind_label} in {sp['year']} went from {_state_text(b, 'en')} to {_state_text(a, 'en')}")
    if changed_target:
        s += f" (the target changed from {_n(b['target'])} to {tgt})"
    return s + "; 'sim compare' attributes the change."


def sentences(manifest: dict, lang: str) -> list[str]:
    """The update-loop sentences of a run (headline movement first, then surprises), from its
    run.json: for the terminal and the report."""
    labels = manifest.get("labels", {})
    units, inds = labels.get("units", {}), labels.get("indicators", {})

    def ul(u):
        return units.get(u, {}).get(lang, u)

    def il(i):
        return inds.get(i, {}).get(lang, i)
    out = []
    sp = manifest.get("since_previous")
    if sp:
        pol = next((p[lang] for p in labels.get("policies", []) if p["name"] == BASE_POLICY), BASE_POLICY)
        out.append(since_sentence(sp, ul(sp["unit"]), il(sp["indicator"]), pol, lang))
    for s in manifest.get("new_actuals", []):
        out.append(surprise_sentence(s, ul(s["unit"]), il(s["indicator"]), lang))
    return out


def terminal_lines(folder: Path, lang: str) -> list[str]:
    man = _manifest(Path(folder)) or {}
    return sentences(man, lang)
