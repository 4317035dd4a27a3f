"""``sim compare RUN_A RUN_B``: what changed between two runs, and why.

Before and after. For every target and scenario in both runs: P(met) and the median from
each run's ``targets.csv`` (a target whose outcome B already knows is reported as such).

Attribution. Each run folder holds a copy of its inputs (``inputs.json``). They fall into
three groups:

* ``new_data``: the ledger and units files, the scenario's [[observations]] and
  ``pool_with`` (which districts' actuals inform the rates);
* ``priors_starts``: the priors, start-level and structure files;
* ``levers``: the lever library and the scenario's lever settings ([scenarios], [levers]).

Everything else (horizon, seed, paths) is B's. The inputs are rerun with every mix of A's
and B's groups (2^k mixes for the k groups that differ; a fit per mix of data and priors,
reused from the fit cache when there), all on B's seed and path count: common random
numbers, so each path is the same draw of randomness in every mix. A group's share is its
Shapley value, the change it makes averaged over every order of switching the groups
from A to B one at a time (for one differing group: simply the rerun with it switched), so
the shares do not depend on an arbitrary order and add up exactly to the change between
the reruns of A and of B. What remains of the change between the two *published* runs is
``monte_carlo_noise``: the difference between each run and its rerun (another seed,
another path count, or another sampler run of the fit); ``noise_se`` is its Monte Carlo
standard error, and a remainder beyond three of them is flagged (the reruns do not
reproduce the runs).

Standard errors of each share: for P(met), exact from the paired per-path differences; for
medians, from 20 batches of paths.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import tempfile
import tomllib
from math import factorial
from pathlib import Path

import numpy as np
import pandas as pd

from .calibrate import cached_fit
from .errors import InputError
from .project import project
from .report import new_folder
from .results import is_scored, target_phrase
from .rundata import load_run
from .scenario import BASE_POLICY, load_scenario
from .text import pct
from .update import SNAPSHOT

GROUPS = ("new_data", "priors_starts", "levers")
GROUP_FILES = {"new_data": ("ledger", "units"), "priors_starts": ("priors", "starts", "structure"),
               "levers": ("levers",)}
GROUP_TABLES = {"new_data": ("observations", "scenario.pool_with"), "priors_starts": (), "levers": ("scenarios", "levers")}
GROUP_LABELS = {"new_data": ("新数据", "new data"), "priors_starts": ("先验与起始水平", "priors and start levels"),
                "levers": ("政策杠杆", "levers"), "monte_carlo_noise": ("蒙特卡洛误差", "Monte Carlo noise")}
KEY = ["unit", "scenario", "indicator", "year"]
BATCHES = 20


# ---- reading the runs' inputs -----------------------------------------------------------------
def read_snapshot(folder: Path) -> dict | None:
    p = Path(folder) / SNAPSHOT
    if not p.is_file():
        return None
    try:
        snap = json.loads(p.read_text(encoding="utf-8"))
        files = snap["files"]
        assert "scenario" in files and all("text" in f and "name" in f for f in files.values())
        tomllib.loads(files["scenario"]["text"])
        return snap
    except (OSError, ValueError, KeyError, TypeError, AssertionError, tomllib.TOMLDecodeError):
        raise InputError(str(p), "", "the inputs snapshot written by 'sim run'", "an unreadable file") from None


def _get(d: dict, dotted: str):
    for k in dotted.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def group_content(snap: dict, group: str) -> str:
    """Everything of one input group, as one string (equal strings: the group did not change)."""
    raw = tomllib.loads(snap["files"]["scenario"]["text"])
    files = {k: snap["files"].get(k, {}).get("text") for k in GROUP_FILES[group]}
    tables = {k: _get(raw, k) for k in GROUP_TABLES[group]}
    return json.dumps({"files": files, "tables": tables}, sort_keys=True, default=str)


class Mixer:
    """Scenarios that take each input group from run A or from run B (files in a temporary folder)."""

    def __init__(self, snap_a: dict, snap_b: dict, tmp: Path, fit_cache: str):
        self.snaps = {"A": snap_a, "B": snap_b}
        self.raw = {k: tomllib.loads(s["files"]["scenario"]["text"]) for k, s in self.snaps.items()}
        self.fit_cache = fit_cache
        self.paths = {}
        for run, snap in self.snaps.items():
            for key, f in snap["files"].items():
                d = tmp / run / key
                d.mkdir(parents=True, exist_ok=True)
                (d / f["name"]).write_text(f["text"], encoding="utf-8")
                self.paths[(run, key)] = (d / f["name"], f"{run}:{f['name']}")
        self._cache = {}

    def scenario(self, choice: dict):
        """``choice``: group -> 'A' or 'B'."""
        key = tuple(choice[g] for g in GROUPS)
        if key not in self._cache:
            files, replace = {}, {}
            for g in GROUPS:
                run = choice[g]
                for k in GROUP_FILES[g]:
                    if (run, k) in self.paths:
                        files[k] = self.paths[(run, k)]
                for t in GROUP_TABLES[g]:
                    replace[t] = _get(self.raw[run], t)
            path, _ = self.paths[("B", "scenario")]
            sc = load_scenario(path, files=files, replace=replace)
            self._cache[key] = dataclasses.replace(sc, fit_cache=self.fit_cache)
        return self._cache[key]


# ---- reruns ----------------------------------------------------------------------------------
def _outcomes(res, keys) -> dict:
    """{(unit, policy, indicator, year): (target value, per-path values or None)}."""
    out = {}
    targets = {(t.unit, t.indicator, t.year): t for t in res.scenario.targets}
    names = set(res.policy_names())
    for unit, pol, ind, year in keys:
        tg = targets.get((unit, ind, year))
        if tg is None or pol not in names:
            continue
        v = res.indicator(pol, unit, ind)[res.year_index(year)] if res._scored(tg) else None
        out[(unit, pol, ind, year)] = (tg.value, v)
    return out


def _shapley_weights(n: int) -> dict:
    return {s: factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)}


def _batch_median_se(per_combo: dict, weights_fn, P: int) -> float:
    """Standard error of a linear combination of medians, from BATCHES batches of paths."""
    edges = np.linspace(0, P, BATCHES + 1).astype(int)
    est = []
    for b in range(BATCHES):
        sl = slice(edges[b], edges[b + 1])
        est.append(sum(w * float(np.median(v[sl])) for w, v in weights_fn(per_combo)))
    return float(np.std(est, ddof=1) / np.sqrt(BATCHES))


def attribute(mixer: Mixer, varied: list[str], keys, n_paths: int, seed: int, fit_seed, progress=None) -> dict:
    """Rerun every mix of the varied groups; return {key: {measure: {...}}} with each group's
    Shapley share, its standard error, and the reruns of A and B."""
    fits, outcomes = {}, {}
    combos = list(itertools.product("AB", repeat=len(varied)))
    for combo in combos:
        choice = {g: "B" for g in GROUPS}
        choice.update(dict(zip(varied, combo)))
        sc = mixer.scenario(choice)
        fkey = (choice["new_data"], choice["priors_starts"])
        if fkey not in fits:
            fits[fkey], _, reused = cached_fit(sc, seed=fit_seed)
            if progress:
                progress(f"{'reused the cached fit' if reused else 'fitted'} with {fkey[0]}'s data and "
                         f"{fkey[1]}'s priors and start levels")
        res = project(sc, fits[fkey], n_paths=n_paths, seed=seed)
        outcomes[combo] = _outcomes(res, keys)
    n = len(varied)
    w = _shapley_weights(n)
    a_combo, b_combo = ("A",) * n, ("B",) * n
    out = {}
    for key in keys:
        if any(key not in outcomes[c] or outcomes[c][key][1] is None for c in combos):
            continue
        met = {c: (outcomes[c][key][1] >= outcomes[c][key][0]) for c in combos}
        val = {c: outcomes[c][key][1] for c in combos}
        res_key = {"p_met": {}, "median": {}}
        for gi, g in enumerate(varied):
            pairs = []   # (weight, combo with g from B, combo with g from A)
            for c in combos:
                if c[gi] == "A":
                    cb = c[:gi] + ("B",) + c[gi + 1:]
                    s = sum(1 for j, x in enumerate(c) if x == "B" and j != gi)
                    pairs.append((w[s], cb, c))
            contrib = sum(wt * (met[cb].astype(float) - met[ca]) for wt, cb, ca in pairs)
            res_key["p_met"][g] = (float(contrib.mean()), float(contrib.std(ddof=1) / np.sqrt(len(contrib))))
            lin = [(wt, val[cb]) for wt, cb, _ in pairs] + [(-wt, val[ca]) for wt, _, ca in pairs]
            med = sum(wt * float(np.median(v)) for wt, v in lin)
            res_key["median"][g] = (med, _batch_median_se(lin, lambda x: x, len(val[a_combo])))
        for m, f in (("p_met", lambda c: float(met[c].mean())), ("median", lambda c: float(np.median(val[c])))):
            res_key[m]["_rerun_a"], res_key[m]["_rerun_b"] = f(a_combo), f(b_combo)
        pa, pb = res_key["p_met"]["_rerun_a"], res_key["p_met"]["_rerun_b"]
        res_key["p_met"]["_se_rerun"] = (math.sqrt(max(pa * (1 - pa), 0.25 / n_paths) / n_paths),
                                         math.sqrt(max(pb * (1 - pb), 0.25 / n_paths) / n_paths))
        res_key["median"]["_se_rerun"] = (_batch_median_se([(1.0, val[a_combo])], lambda x: x, n_paths),
                                          _batch_median_se([(1.0, val[b_combo])], lambda x: x, n_paths))
        out[key] = res_key
    return out


# ---- the comparison ----------------------------------------------------------------------------
def _fit_cache(fits_dir) -> str:
    for cand in ([fits_dir] if fits_dir else []) + ["calibration/fitted"]:
        if cand and Path(cand).is_dir():
            return str(cand)
    return ""


def compare(run_a, run_b, n_paths: int | None = None, fits_dir=None, progress=None) -> tuple[pd.DataFrame, dict]:
    """The comparison table (compare.csv) and a summary dict (compare.json)."""
    A, B = load_run(run_a), load_run(run_b)
    ma, mb = A.manifest, B.manifest
    if ma.get("unit") != mb.get("unit"):
        raise InputError(str(run_b), "run.json: unit", f"a run of the same unit as {run_a} ({ma.get('unit')})",
                         repr(mb.get("unit")))
    ta, tb = A.targets, B.targets
    merged = ta.merge(tb, on=KEY, how="inner", suffixes=("_a", "_b"))
    summary = {"run_a": str(run_a), "run_b": str(run_b), "unit": mb["unit"], "notes": [], "groups_changed": [],
               "paths": None, "seed": mb.get("seed")}
    snap_a, snap_b = read_snapshot(A.folder), read_snapshot(B.folder)
    shares = {}
    if snap_a is None or snap_b is None:
        summary["notes"].append(f"no attribution: {SNAPSHOT} is missing from "
                                f"{run_a if snap_a is None else run_b} (runs written before sim recorded its inputs)")
    else:
        varied = [g for g in GROUPS if group_content(snap_a, g) != group_content(snap_b, g)]
        summary["groups_changed"] = varied
        paths = int(n_paths or mb.get("paths") or 10000)
        summary["paths"] = paths
        keys = [(r.unit, r.scenario, r.indicator, int(r.year)) for r in merged.itertuples()
                if is_scored(_row(r, "_a")) and is_scored(_row(r, "_b"))]
        seed = int(mb["seed"])
        with tempfile.TemporaryDirectory(prefix="sim-compare-") as tmp:
            mixer = Mixer(snap_a, snap_b, Path(tmp), _fit_cache(fits_dir))
            base = mixer.scenario({g: "B" for g in GROUPS})
            fit_seed = None if seed == base.seed else seed
            try:
                shares = attribute(mixer, varied, keys, paths, seed, fit_seed, progress)
            except InputError as exc:
                summary["notes"].append(f"no attribution: A's and B's inputs cannot be mixed ({exc})")
    rows = []
    n_a, n_b = int(ma.get("paths") or 0), int(mb.get("paths") or 0)
    for r in merged.itertuples():
        key = (r.unit, r.scenario, r.indicator, int(r.year))
        ra, rb = _row(r, "_a"), _row(r, "_b")
        for m in ("p_met", "median"):
            before, after = _num(ra.get(m)), _num(rb.get(m))
            row = dict(unit=r.unit, scenario=r.scenario, indicator=r.indicator, year=int(r.year), measure=m,
                       target_before=ra["target"], target_after=rb["target"], before=before, after=after,
                       change=after - before, status_before=ra.get("status", "projected"),
                       status_after=rb.get("status", "projected"), note="")
            for g in GROUPS:
                row[g], row[f"{g}_se"] = (0.0, 0.0) if key in shares else (math.nan, math.nan)
            row["monte_carlo_noise"] = row["noise_se"] = math.nan
            if not is_scored(rb):
                row["note"] = target_phrase(rb, "en")
            elif not is_scored(ra):
                row["note"] = "before: " + target_phrase(ra, "en")
            if key in shares:
                sh = shares[key][m]
                for g in GROUPS:
                    if g in sh:
                        row[g], row[f"{g}_se"] = sh[g]
                noise = row["change"] - sum(row[g] for g in GROUPS)
                se_a, se_b = sh["_se_rerun"]
                same_a = abs(sh["_rerun_a"] - before) < 5e-5 and n_a == summary["paths"]
                same_b = abs(sh["_rerun_b"] - after) < 5e-5 and n_b == summary["paths"]
                nse = math.sqrt((0 if same_a else 2 * se_a ** 2) + (0 if same_b else 2 * se_b ** 2))
                row["monte_carlo_noise"], row["noise_se"] = noise, nse
                if abs(noise) > 3 * nse + (1e-4 if m == "p_met" else 0.51):
                    row["note"] = "the reruns do not reproduce the runs: check that the inputs were not changed outside them"
            rows.append(row)
    cols = ["unit", "scenario", "indicator", "year", "measure", "target_before", "target_after", "before", "after",
            "change", *GROUPS, "monte_carlo_noise", *[f"{g}_se" for g in GROUPS], "noise_se",
            "status_before", "status_after", "note"]
    df = pd.DataFrame(rows, columns=cols).sort_values(["unit", "indicator", "year", "scenario", "measure"],
                                                      kind="stable").reset_index(drop=True)
    summary["headline_target"] = mb.get("headline_target")
    summary["labels"] = {k: mb["labels"][k] for k in ("units", "indicators", "policies")}
    return df, summary


def _row(r, suffix: str) -> dict:
    d = r._asdict()
    out = {k[: -len(suffix)]: v for k, v in d.items() if k.endswith(suffix)}
    out.update({k: d[k] for k in KEY})
    out.setdefault("status", "projected")
    if not isinstance(out.get("status"), str):
        out["status"] = "projected"
    return out


def _num(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


# ---- sentences and the figure ---------------------------------------------------------------------
def screen(df: pd.DataFrame, summary: dict, lang: str = "en") -> list[str]:
    """What ``sim compare`` prints: which inputs changed, the notes, then :func:`lines`."""
    changed = summary["groups_changed"]
    out = ["changed between the runs: " + (", ".join(changed) if changed else "no inputs (Monte Carlo noise only)")]
    return out + list(summary["notes"]) + lines(df, summary, lang)


def lines(df: pd.DataFrame, summary: dict, lang: str = "en") -> list[str]:
    """One line per target of the main unit under the baseline: P(met) and median before and
    after, with the attribution."""
    lab = summary["labels"]
    k = 0 if lang == "zh" else 1
    out = []
    sub = df[(df.unit == summary["unit"]) & (df.scenario == BASE_POLICY)]
    pol = next((p[lang] for p in lab["policies"] if p["name"] == BASE_POLICY), BASE_POLICY)
    for (unit, ind, year), g in sub.groupby(["unit", "indicator", "year"], sort=False):
        p, med = g[g.measure == "p_met"].iloc[0], g[g.measure == "median"].iloc[0]
        name = (f"[{pol}] {lab['units'][unit][lang]} {year}年{lab['indicators'][ind][lang]} 目标{p.target_after:,.0f}"
                if lang == "zh" else
                f"[{pol}] {lab['units'][unit][lang]} {lab['indicators'][ind][lang]} {year} target {p.target_after:,.0f}")
        if p.after != p.after:     # B knows the outcome
            out.append(f"{name}: {pct(p.before) if p.before == p.before else '-'} -> {p.note}")
            continue
        if p.before != p.before:
            out.append(f"{name}: {p.note} -> {pct(p.after)}")
            continue
        out.append(f"{name}: " + (f"达成概率 {pct(p.before)} → {pct(p.after)}" if lang == "zh" else
                                  f"P(met) {pct(p.before)} -> {pct(p.after)}") + _why(p, summary, lang, 100, "{:+.1f}", ("百分点：", "points: "))
                   + (f"；中位数 {med.before:,.0f} → {med.after:,.0f}" if lang == "zh" else
                      f"; median {med.before:,.0f} -> {med.after:,.0f}") + _why(med, summary, lang, 1, "{:+,.0f}"))
    return out


def _why(r, summary, lang, scale, fmt, unit=("", "")) -> str:
    """'(new data +3.1, Monte Carlo noise -0.2 ± 0.4)' for the groups that changed."""
    if r.monte_carlo_noise != r.monte_carlo_noise:
        return ""
    k = 0 if lang == "zh" else 1
    shown = [g for g in GROUPS if g in summary.get("groups_changed", [])] + ["monte_carlo_noise"]
    digits = 1 if scale == 100 else 0
    parts = [f"{GROUP_LABELS[g][k]} {fmt.format(round(scale * r[g], digits) + 0.0)}" for g in shown]
    parts[-1] += f" ± {fmt.format(round(scale * r.noise_se, digits) + 0.0)[1:]}"
    return ("（" + unit[0] + "，".join(parts) + "）") if lang == "zh" else (" (" + unit[1] + ", ".join(parts) + ")")


def attribution_chart(df: pd.DataFrame, summary: dict, key: tuple, lang: str = "zh", axes=None):
    """Waterfalls of the change in P(met) and in the median of one target (unit, scenario,
    indicator, year): before, each group's share, Monte Carlo noise, after. Returns the axes."""
    from . import figures as fg   # matplotlib loads with the first figure, not with the command
    fg.setup(lang)
    import matplotlib.pyplot as plt   # after setup(), which chooses the backend
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(14, 6), dpi=110)
    unit, pol, ind, year = key
    sub = df[(df.unit == unit) & (df.scenario == pol) & (df.indicator == ind) & (df.year == year)]
    k = 0 if lang == "zh" else 1
    lab = summary["labels"]
    titles = {"p_met": ("达成概率（%）", "P(target met), %"), "median": ("中位数（家）", "Median (firms)")}
    shown = [g for g in GROUPS if g in summary.get("groups_changed", [])] + ["monte_carlo_noise"]
    names = [("之前\n" if lang == "zh" else "before\n") + Path(summary["run_a"]).name] + \
        [GROUP_LABELS[g][k] for g in shown] + [("之后\n" if lang == "zh" else "after\n") + Path(summary["run_b"]).name]
    for ax, m in zip(axes, ("p_met", "median")):
        r = sub[sub.measure == m].iloc[0]
        scale = 100.0 if m == "p_met" else 1.0
        level, top = r.before * scale, max(r.before, r.after) * scale
        ax.bar(0, level, color=fg.COLORS[0], width=0.6)
        for i, g in enumerate(shown, start=1):
            step = (r[g] if r[g] == r[g] else 0.0) * scale
            ax.bar(i, step, bottom=level, color="#2e7d32" if step >= 0 else "#c62828", width=0.6)
            ax.plot([i - 1.3, i + 0.3], [level, level], color="grey", lw=0.8, ls=":")
            ax.annotate(f"{step:+.1f}" if m == "p_met" else f"{step:+,.0f}", (i, level + max(step, 0)),
                        textcoords="offset points", xytext=(0, 4), ha="center", fontsize=12)
            level += step
            top = max(top, level)
        ax.bar(len(names) - 1, r.after * scale, color=fg.COLORS[0], width=0.6)
        for i, v in ((0, r.before * scale), (len(names) - 1, r.after * scale)):
            ax.annotate(f"{v:.1f}" if m == "p_met" else f"{v:,.0f}", (i, v), textcoords="offset points",
                        xytext=(0, 4), ha="center", fontsize=12)
        if m == "median":
            t = float(sub.target_after.iloc[0])
            ax.axhline(t, color="#d62728", ls="--", lw=1.5)
            ax.annotate(("目标 " if lang == "zh" else "target ") + f"{t:,.0f}", (len(names) - 1.5, t),
                        textcoords="offset points", xytext=(0, 4), color="#d62728", fontsize=12, ha="center")
            top = max(top, t)
        ax.set_ylim(0, 100 if m == "p_met" else top * 1.15)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=15, ha="right")
        ax.set_title(titles[m][k])
        ax.grid(axis="y", alpha=0.3)
    pl = next((p[lang] for p in lab["policies"] if p["name"] == pol), pol)
    axes[0].figure.suptitle(
        (f"{lab['units'][unit][lang]}{year}年{lab['indicators'][ind][lang]}（目标{sub.target_after.iloc[0]:,.0f}，{pl}）：变化分解"
         if lang == "zh" else
         f"{lab['units'][unit][lang]}, {lab['indicators'][ind][lang]} {year} (target {sub.target_after.iloc[0]:,.0f}, "
         f"{pl}): what changed"), fontsize=16)
    return axes


def write_compare(run_a, run_b, n_paths=None, fits_dir=None, lang: str = "zh", progress=None):
    """Write compare.csv, compare.json and the figure into a new folder ``compare-NNN`` beside
    RUN_B; return (folder, table, summary)."""
    from . import figures as fg   # matplotlib loads with the first figure, not with the command
    df, summary = compare(run_a, run_b, n_paths, fits_dir, progress)
    with new_folder(Path(run_b).parent, "compare") as f:
        d = f["path"]
        df.to_csv(d / "compare.csv", index=False, float_format="%.4f", lineterminator="\n")
        (d / "compare.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        ht = summary.get("headline_target")
        if ht:
            key = (ht["unit"], BASE_POLICY, ht["indicator"], ht["year"])
            sub = df[(df.unit == key[0]) & (df.scenario == key[1]) & (df.indicator == key[2]) & (df.year == key[3])]
            if len(sub) and sub.before.notna().all() and sub.after.notna().all():
                axes = attribution_chart(df, summary, key, lang)
                fg.save(axes[0], str(d / "compare"))
    return f["path"], df, summary
