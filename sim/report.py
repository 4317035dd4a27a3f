"""Writes a run folder: tables, figures and the run manifest, atomically.

Everything is written into a hidden temporary folder beside the destination and renamed
into place at the end, so an interrupted or failed run leaves nothing half-written; each
run gets the next free name ``run-001``, ``run-002``, ... and never replaces an earlier one.
Outputs hold no timestamps or absolute paths, and floats have fixed formats: the same
seed gives the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .errors import InputError

FLOAT = "%.4f"


def _csv(df, path: Path) -> None:
    df.to_csv(path, index=False, float_format=FLOAT, lineterminator="\n")


def next_run_dir(root: Path, prefix: str = "run") -> Path:
    k = 1
    while (root / f"{prefix}-{k:03d}").exists():
        k += 1
    return root / f"{prefix}-{k:03d}"


@contextlib.contextmanager
def new_folder(root: Path, prefix: str = "run"):
    """Yield a temporary folder under ``root``; on success rename it to the next free
    ``prefix-NNN`` (atomic, never replacing an earlier one), on failure remove it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{prefix}-", dir=root))
    os.chmod(tmp, 0o755)
    holder = {"path": tmp}
    try:
        yield holder
        while True:
            dest = next_run_dir(root, prefix)
            try:
                os.rename(tmp, dest)   # fails if another process took the name meanwhile
                break
            except OSError:
                if not dest.exists():
                    raise
        holder["path"] = dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_run(res, out_root: str | Path, lang: str = "zh", figures: bool = True) -> Path:
    """Write every output of ``res`` into a new run folder under ``out_root/<scenario>/``."""
    with new_folder(Path(out_root) / Path(res.scenario.path).stem, "run") as f:
        _write_all(res, f["path"], lang, figures)
    return f["path"]


def _write_all(res, d: Path, lang: str, figures: bool) -> None:
    from .data import rows_to_frame
    sc = res.scenario
    _csv(res.projection_frame(), d / "projection.csv")
    _csv(res.targets_frame(), d / "targets.csv")
    _csv(res.flows_frame(), d / "flows.csv")
    _csv(res.costs_frame(), d / "costs.csv")
    _csv(res.scenarios_frame(), d / "scenarios.csv")
    _csv(res.calibration.summary(), d / "calibration.csv")
    _csv(res.tornado_frame(), d / "tornado.csv")
    _csv(res.tiers_frame(), d / "tiers.csv")
    _csv(res.ranking_frame(), d / "ranking.csv")
    used = rows_to_frame([r for r in sc.rows if r.unit in sc.report_units + sc.pool_with])
    _csv(used, d / "sources.csv")
    cal = res.calibration
    manifest = {
        "scenario": sc.name,
        "scenario_file": Path(sc.path).name,
        "package_version": __version__,
        "seed": res.seed,
        "paths": res.n_paths,
        "language": lang,
        "last_actual_year_note": "projections start from the fitted state at this year",
        "inputs_sha256_16": dict(sorted(sc.input_hashes.items())),
        "unit": sc.unit,
        "sub_units": list(sc.parts),
        "pooled_with": list(sc.pool_with),
        "pooling": {"partially_pooled_rates": list(sc.pooling.partial), "tau": sc.pooling.tau, "source": sc.pooling.source,
                    "shared_rates": [n for n in sc.rates.names if n not in sc.pooling.partial]} if sc.pool_with else None,
        "start_year": sc.starts[sc.unit].year,
        "last_actual_year": res.T,
        "horizon": sc.horizon,
        "actuals_fitted": cal.n_obs,
        "posterior_draws": int(len(cal.draws)),
        "converged": cal.converged,
        "sampler": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in cal.diagnostics.items()},
        "calibration_notes": list(cal.notes),
        "policies": [{"name": p.name, "zh": p.zh, "en": p.en, "from_year": p.from_year,
                      "levers": dict(p.settings)} for p in sc.policies],
        "labels": labels(sc, cal),
        "headline_target": (lambda t: None if t is None else {"unit": t.unit, "indicator": t.indicator, "year": t.year,
                                                                "target": t.value})(res.headline_target()),
        "targets_not_scored": [{"unit": r.unit, "indicator": r.indicator, "year": r.year, "value": r.value,
                                "why": why} for r, why in sc.skipped_targets],
    }
    from .update import manifest_extras
    manifest.update(manifest_extras(res, d, lang))   # observations, previous run, new actuals; inputs.json
    (d / "run.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n",
                                encoding="utf-8")
    if figures:
        render(d, lang)
    else:
        from .pack import write_xlsx
        from .rundata import load_run
        write_xlsx(load_run(d), lang)


def labels(sc, cal) -> dict:
    """Every label a figure or report needs, so a run folder renders without the inputs."""
    st = sc.structure
    return {
        "scenario": {"zh": sc.zh, "en": sc.en},
        "units": {u: {"zh": sc.units[u].zh, "en": sc.units[u].en} for u in list(sc.report_units) + list(sc.pool_with)
                  if u in sc.units},
        "indicators": {k: {"zh": v.zh, "en": v.en, "is_flow": v.is_flow} for k, v in st.indicators.items()},
        "flows": {k: v for k, v in st.flow_labels.items()},
        "policies": [{"name": p.name, "zh": p.zh, "en": p.en} for p in sc.policies],
        "levers": {k: {"zh": v.zh, "en": v.en, "strength": list(v.strength), "strength_source": v.strength_source,
                       "source_file": v.source_file, "passage": v.passage, "cost_note": v.cost_note}
                   for k, v in sorted(sc.levers.items())},
        "rates": {p.name: {"zh": p.zh or p.name, "en": p.en or p.name} for p in cal.space.params[: cal.n_rates]}
        | st.start_labels(sc.unit),
        "key_indicators": list(sc.key_indicators),
        "tiers": {k: {"zh": st.tier_labels["zh"][k], "en": st.tier_labels["en"][k]} for k in st.tiers},
        "lever_flows": lever_flows(sc),
        "flow_roles": flow_roles(sc),
        "main_unit": sc.unit,
        "sub_units": list(sc.parts),
    }


def lever_flows(sc) -> dict:
    """Each lever -> the flows whose rates it moves (from the structure's moves and inflows)."""
    st = sc.structure
    by_param: dict[str, list[str]] = {}
    for o in st.origins:
        for m in o.moves:
            if m.flow >= 0:
                by_param.setdefault(m.param, []).append(st.flows[m.flow])
    for i in st.inflows:
        if i.flow >= 0:
            by_param.setdefault(i.param, []).append(st.flows[i.flow])
    return {k: sorted({f for p in lv.acts_on for f in by_param.get(p, [])}) for k, lv in sorted(sc.levers.items())}


def flow_roles(sc) -> dict:
    """Each flow -> "loss" when its move leaves the tracked tiers or the valid HTE stock (an
    exit, a lapsed certificate), else "gain" (an inflow, a promotion, a renewal)."""
    from .structure import OUT
    st = sc.structure
    hte = set(st.indicators[st.headline].states)   # the tiers of the headline stock (valid HTE)
    roles = {f: "gain" for f in st.flows}
    for o in st.origins:
        for dest, flow in [(m.dest, m.flow) for m in o.moves] + [(o.rest, o.rest_flow)]:
            if flow >= 0 and (dest == OUT or (o.tier in hte and dest not in hte)):
                roles[st.flows[flow]] = "loss"
    return roles


def render(folder: Path, lang: str) -> list[str]:
    """Draw every figure (into figures/<lang>/), report_<lang>.html and report_<lang>.xlsx of a
    run folder from its tables; the other language's files are left as they are.

    The figures and the report's embedded font subset are independent jobs, run on the
    machine's cores at once (fork pool); everything written is the same as a serial run.
    """
    from .figures import render_all
    from .fonts import subset_font_base64
    from .pack import font_charset, write_html, write_xlsx
    from .rundata import load_run
    rd = load_run(folder)
    figs = Path(folder) / "figures" / lang
    pngs, font = render_all(rd, figs, lang, side=(subset_font_base64, (font_charset(rd, lang),)))
    write_html(rd, lang, font=font, figs=figs)
    write_xlsx(rd, lang)
    return pngs


def rerender(folder: str | Path, lang: str, goal_folder: str | Path | None = None) -> Path:
    """Re-render a finished run's figures and reports (no simulation), atomically: the new
    files are drawn in a copy of the folder that replaces it only when complete."""
    folder = Path(folder)
    from .rundata import load_run
    load_run(folder)   # validates the folder before anything is touched
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-report-", dir=folder.parent))
    os.chmod(tmp, 0o755)
    try:
        for p in folder.iterdir():   # the other language's pack stays beside the new one
            if p.is_file() and (p.suffix in (".csv", ".json") or (p.name.startswith("report_")
                                                                  and not p.name.startswith(f"report_{lang}."))):
                shutil.copy2(p, tmp / p.name)
            elif p.is_dir() and p.name == "figures":
                for q in p.iterdir():
                    if q.is_dir() and q.name != lang:
                        shutil.copytree(q, tmp / "figures" / q.name)
        if goal_folder is not None:
            g = Path(goal_folder)
            if not (g / "goal.csv").is_file():
                raise InputError(str(g), "goal.csv", "a folder written by 'sim goal'", "no goal.csv")
            for name in ("goal.csv", "frontier.csv"):
                if (g / name).is_file():
                    shutil.copy2(g / name, tmp / name)
            for png in g.glob(f"frontier_{lang}.png"):
                (tmp / "figures" / lang).mkdir(parents=True, exist_ok=True)
                shutil.copy2(png, tmp / "figures" / lang / "goal_frontier.png")
        render(tmp, lang)
        old = folder.with_name(f".old-{folder.name}")
        os.rename(folder, old)
        os.rename(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
