"""Writes a run folder: tables, figures and the run manifest, atomically.

Everything is written into a hidden temporary folder beside the destination and renamed
into place at the end, so an interrupted or failed run leaves nothing half-written; each
run gets the next free name ``run-001``, ``run-002``, ... and never replaces an earlier one.
Outputs hold no timestamps or absolute paths, and floats have fixed formats: the same
seed gives the same bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from . import __version__
from .calibrate import cached_fit, fitted_vs_published
from .errors import InputError, raise_if_interrupted
from .prior_predictive import evidence, growth_table
from .progress import stage
from .project import project
from .sensitivity import sensitivity as run_sensitivity
from .text import tr
from .workers import cores, in_background, run_shared
from .workers import signals_held as _signals_held

FLOAT = "%.4f"


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(df):
    """``df`` with every text cell that a spreadsheet would run as a formula (starting with
    = + - @, tab or carriage return) prefixed with an apostrophe (OWASP CSV injection)."""
    import pandas as pd
    out = None
    for col in df.columns:
        if not (df[col].dtype == object or pd.api.types.is_string_dtype(df[col])):
            continue
        mask = df[col].map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START)).astype(bool)
        if mask.any():
            out = df.copy() if out is None else out
            out[col] = out[col].astype(object)
            out.loc[mask, col] = "'" + df.loc[mask, col].astype(str)
    return df if out is None else out


def write_csv(df, path: Path, float_format: str = FLOAT) -> int:
    """Write a table the way every sim table is written (fixed float format, '\\n', text
    cells safe to open in a spreadsheet); returns its number of rows."""
    neutralise(df).to_csv(path, index=False, float_format=float_format, lineterminator="\n")
    return len(df)


def _csv(df, path: Path) -> int:
    return write_csv(df, path)


def next_run_dir(root: Path, prefix: str = "run") -> Path:
    k = 1
    while (root / f"{prefix}-{k:03d}").exists():
        k += 1
    return root / f"{prefix}-{k:03d}"


def _tmp_prefix(kind: str) -> str:
    # the pid in the name lets a later run tell a dead run's leftovers from a live run's work
    return f".tmp-{kind}-{os.getpid()}-"


_TMP = re.compile(r"\.(?:tmp|old)-[a-z]+-(\d+)-.*")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:   # a zombie (killed, not yet reaped) is dead for our purpose
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[-1].split()[0] != b"Z"
    except OSError:
        return True


def remove_stale(folder: Path, max_age_s: float = 86400.0) -> list[Path]:
    """Remove the temporary folders and files that runs which died (kill -9, power cut) left
    in ``folder``: those whose process is gone, and unnamed ones older than a day."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for p in entries:
        if not p.name.startswith((".tmp-", ".old-")):
            continue
        m = _TMP.fullmatch(p.name)
        try:
            stale = (not _alive(int(m.group(1)))) if m else now - p.lstat().st_mtime > max_age_s
        except OSError:
            continue
        if stale:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
            removed.append(p)
    return removed


def check_writable(root: str | Path, shown: str | None = None, key: str = "--out") -> None:
    """Raise :class:`InputError` unless a run folder can be made under ``root``, before any
    work is done: the deepest existing folder on the way must be a folder sim can write in
    (tried for real: read-only, immutable and full file systems all fail the same way).
    Nothing is left behind."""
    root = Path(root)
    shown = str(root) if shown is None else shown
    long = [part for part in root.parts if len(part.encode("utf-8", "surrogateescape")) > 255]
    if long:
        raise InputError(shown, key, "folder names of at most 255 bytes", f"a name of {len(long[0].encode()):,} bytes",
                         "choose another --out")
    cur = root
    while not os.path.lexists(cur) and cur != cur.parent:
        cur = cur.parent
    if os.path.lexists(cur) and not cur.is_dir():
        raise InputError(shown, key, "a folder for the results", f"a path through '{cur}', which is a file",
                         "choose another --out")
    try:
        probe = tempfile.mkdtemp(prefix=_tmp_prefix("probe"), dir=cur)
        os.rmdir(probe)
    except OSError as exc:
        raise InputError(shown, key, "a folder sim can write in",
                         f"'{cur}', which is not writable ({exc.strerror or exc})", "choose another --out") from None


def _make_dirs(root: Path) -> list[Path]:
    """mkdir -p, returning the folders this call created (outermost first)."""
    missing = []
    cur = root
    while not cur.exists():
        missing.append(cur)
        if cur == cur.parent:
            break
        cur = cur.parent
    made = []
    for d in reversed(missing):
        try:
            os.mkdir(d)
            made.append(d)
        except FileExistsError:
            pass
    return made


def _remove_empty(made: list[Path]) -> None:
    for d in reversed(made):
        try:
            os.rmdir(d)
        except OSError:
            break


@contextlib.contextmanager
def new_folder(root: Path, prefix: str = "run"):
    """Yield a temporary folder under ``root``; on success rename it to the next free
    ``prefix-NNN`` (atomic, never replacing an earlier one), on failure or interrupt remove
    it, and any folder this call made that is left empty. Leftovers of dead runs in
    ``root`` are removed first."""
    root = Path(root)
    made: list[Path] = []
    tmp = None
    try:
        for attempt in range(5):   # a concurrent failing run may remove an empty root meanwhile
            made += _make_dirs(root)
            try:
                tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix(prefix), dir=root))
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
        os.chmod(tmp, 0o755)
        remove_stale(root)
        holder = {"path": tmp}
        yield holder
        while True:
            dest = next_run_dir(root, prefix)
            try:
                raise_if_interrupted()   # an interrupt Python swallowed stops the run here
                os.rename(tmp, dest)   # fails if another process took the name meanwhile
                break
            except OSError:
                if not dest.exists():
                    raise
        holder["path"] = dest
    except BaseException:
        with _signals_held():   # a second Ctrl-C does not stop the clean-up half way
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            _remove_empty(made)
        raise


def run_scenario(sc, out: str | Path, paths: int | None = None, seed: int | None = None, lang: str = "zh",
                 figures: bool = True, refit: bool = False, sensitivity: bool = False, notify=None,
                 every: bool = False, svg: bool = False):
    """What ``sim run`` does: fit (or reuse the cached fit), project every policy, with
    ``sensitivity`` refit and project each assumption variant, and write a new run folder
    (``every``, ``svg``: see :func:`render`). Returns (the folder, whether the cached fit was
    reused, the folder's tables as read back: :class:`sim.rundata.RunData`)."""
    with stage(tr("stage_fit", lang)):   # the figures' machinery warms up while a cached fit is read
        cal, _, reused = cached_fit(sc, seed=seed, use_cache=not refit, notify=notify,
                                    meanwhile=functools.partial(_warm_figures, lang) if figures else None)
    with stage(tr("stage_project", lang)):
        res = project(sc, cal, n_paths=paths, seed=seed)
        if sensitivity:
            sens = run_sensitivity(sc, res.targets_frame(), n_paths=max(1000, (paths or sc.paths) // 2), seed=seed)
            res = dataclasses.replace(res, sensitivity=sens)
    dest, rd = write_run(res, out, lang=lang, figures=figures, every=every, svg=svg)
    return dest, reused, rd


def _warm_figures(lang: str) -> None:
    """Import and warm up what every figure uses (matplotlib, the CJK font), once per run."""
    from .figures import _warm_up, setup
    setup(lang)
    _warm_up(lang)


def write_calibration(sc, folder_root: str | Path, lang: str = "zh", refit: bool = False, notify=None):
    """What ``sim calibrate`` does: a thorough fit (or the cached one), then a new folder
    ``calibrate-NNN`` under ``folder_root`` with calibration.csv (prior and posterior of every
    parameter), fitted.csv (fitted vs published), prior_predictive.csv and their figures.
    Returns (the folder, the calibration, its summary, the cache key, whether reused)."""
    from . import figures as fg
    with stage(tr("stage_fit", lang)):
        cal, key, reused = cached_fit(sc, use_cache=not refit, thorough=True, notify=notify)
    summ = cal.summary()
    fv = fitted_vs_published(sc, cal)
    pp, ev = growth_table(sc, seed=sc.seed), evidence(sc)
    with new_folder(Path(folder_root), "calibrate") as f:
        d = f["path"]
        write_csv(summ, d / "calibration.csv", "%.6g")
        write_csv(fv, d / "fitted.csv", "%.4f")
        write_csv(pp, d / "prior_predictive.csv", "%.4f")
        units = {u: {"zh": x.zh, "en": x.en} for u, x in sc.units.items()}
        inds = {k: {"zh": v.zh, "en": v.en} for k, v in sc.structure.indicators.items()}
        fg.save(fg.prior_predictive_chart(pp, ev, units, inds, sc.structure.headline, lang),
                str(d / "prior_predictive"), svg=True)
        rate_labels = {p.name: {"zh": p.zh or p.name, "en": p.en or p.name} for p in cal.space.params}
        fg.save(fg.prior_vs_posterior(summ, rate_labels, lang, units, sc.structure.start_words).flat[0],
                str(d / "prior_vs_posterior"), svg=True)
        if len(fv):
            fg.save(fg.fitted_vs_published(fv, units, inds, lang).flat[0], str(d / "fitted_vs_published"), svg=True)
    return f["path"], cal, summ, key, reused


def write_run(res, out_root: str | Path, lang: str = "zh", figures: bool = True, every: bool = False,
              svg: bool = False):
    """Write every output of ``res`` into a new run folder under ``out_root/<scenario>/``
    (``every``, ``svg``: see :func:`render`). Returns (the folder, its tables as read back)."""
    with new_folder(Path(out_root) / Path(res.scenario.path).stem, "run") as f:
        rd = _write_all(res, f["path"], lang, figures, every, svg)
    return f["path"], dataclasses.replace(rd, folder=f["path"])


def _write_all(res, d: Path, lang: str, figures: bool, every: bool = False, svg: bool = False):
    """The tables, run.json and (with ``figures``) the figures and pack of ``res`` into ``d``;
    returns the tables as read back (:class:`sim.rundata.RunData`), which the pack used."""
    from .data import rows_to_frame
    sc = res.scenario
    # the tables, shared with a forked process (each writes its own files; same bytes either way)
    done = run_shared([(_table, (res, frame, d / name), cost) for name, frame, cost in TABLES],
                      cores() >= 2)
    rows = {name: n for (name, _, _), n in zip(TABLES, done)}
    used = rows_to_frame([r for r in sc.rows if r.unit in sc.report_units + sc.pool_with])
    rows["sources.csv"] = _csv(used, d / "sources.csv")
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
        "tables": rows,   # rows of each table: 'sim report' tells a truncated table from a whole one
        "figures": {"every": bool(every), "svg": bool(svg)} if figures else None,   # 'sim report' draws the same set
    }
    from .update import manifest_extras
    manifest.update(manifest_extras(res, d, lang))   # observations, previous run, new actuals; inputs.json
    (d / "run.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=False) + "\n",
                                encoding="utf-8")
    if figures:
        return render(d, lang, every=every, svg=svg)
    from .pack import write_xlsx
    from .rundata import load_run
    rd = load_run(d)
    write_xlsx(rd, lang)
    return rd


# each table of a run: its file, what makes it from the Results, its relative cost (measured)
TABLES = (("projection.csv", lambda r: r.projection_frame(), 3.0), ("targets.csv", lambda r: r.targets_frame(), 3.0),
          ("flows.csv", lambda r: r.flows_frame(), 1.0), ("costs.csv", lambda r: r.costs_frame(), 2.5),
          ("scenarios.csv", lambda r: r.scenarios_frame(), 4.0),
          ("calibration.csv", lambda r: r.calibration.summary(), 0.5),
          ("tornado.csv", lambda r: r.tornado_frame(), 1.5), ("tiers.csv", lambda r: r.tiers_frame(), 0.5),
          ("ranking.csv", lambda r: r.ranking_frame(), 0.5))


def _table(res, frame, path: Path) -> int:
    """Write one table of a run (see :data:`TABLES`); returns its number of rows."""
    return _csv(frame(res), path)


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
        "headline": st.headline,
        "headline_words": dict(st.headline_words),
        "waterfall": [{"flows": [st.flows[f] for f in c.flows], "sign": c.sign, "zh": c.zh, "en": c.en}
                      for c in st.waterfall],
        "variants": {v.name: {"zh": v.zh, "en": v.en} for v in st.variants},
        "start_words": {lang: dict(words) for lang, words in st.start_words.items()},
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


FONT_CACHE = Path(".cache") / "fonts"   # under a run's parent folder (the scenario's results)


def render(folder: Path, lang: str, every: bool = False, svg: bool = False, cache: Path | None = None):
    """Draw the figures (into figures/<lang>/), report_<lang>.html and report_<lang>.xlsx of a
    run folder from its tables; the other language's files are left as they are. ``every``:
    every figure, not only those the pack shows (:func:`sim.figures.figure_tasks`); ``svg``:
    the fan charts also as SVG; ``cache``: the folder of the page's font subsets (default
    :data:`FONT_CACHE` beside the run folder, in its parent).

    The page is rendered once, before the figures, with empty image data; its characters
    choose the embedded font subset, taken from the cache when the same characters were
    subset before (a rerun, ``sim report``) and stored there once the page is written. The
    page with its font subset and the workbook need no matplotlib: a child forked first
    makes them while this process imports and warms up matplotlib
    (:func:`sim.workers.in_background`); the figures are then shared between this process
    and another forked one (:func:`sim.workers.run_shared`). Everything written is the same
    as a serial run. Returns the tables the pack was drawn from (:class:`sim.rundata.RunData`).
    """
    from .figures import figure_tasks, render_all
    from .fonts import store_subset
    from .pack import draft_and_font, write_html, write_xlsx
    from .rundata import load_run
    rd = load_run(folder)
    cache = Path(folder).resolve().parent / FONT_CACHE if cache is None else Path(cache)
    figs = Path(folder) / "figures" / lang
    stems = {t[3] for t in figure_tasks(rd, every=every)}
    if (figs / "goal_frontier.png").is_file():
        stems.add("goal_frontier")
    side = [(write_xlsx, (rd, lang), 1.1), (draft_and_font, (rd, lang, stems, cache), 4.0)]   # the large result last
    with in_background(side, cores() > 1) as side_results:
        render_all(rd, figs, lang, every=every, svg=svg)
        _, (doc, font, key) = side_results()
    write_html(rd, lang, font=font, figs=figs, doc=doc)
    store_subset(cache, key, font)
    return rd


def rerender(folder: str | Path, lang: str, goal_folder: str | Path | None = None, every: bool = False,
             svg: bool = False) -> Path:
    """Re-render a finished run's figures and reports (no simulation; ``every``, ``svg``: see
    :func:`render`; a run drawn with either keeps it).

    The folder is checked first (:func:`sim.rundata.load_run`); the new files are drawn in a
    hidden folder inside it and then moved into place, so an interrupted or failed
    re-render leaves the run as it was. The run folder itself is never renamed (so
    ``sim report .`` works from inside it) and its tables are never touched."""
    from .rundata import load_run, read_table
    shown = str(folder)
    folder = Path(os.path.realpath(folder))
    drawn = load_run(folder, shown).manifest.get("figures")   # validates the folder before anything is touched
    if isinstance(drawn, dict):   # the figure set the run drew (every figure, SVGs) unless more is asked for
        every, svg = every or drawn.get("every") is True, svg or drawn.get("svg") is True
    goal_files = []
    if goal_folder is not None:
        g_shown = str(goal_folder)
        g = Path(os.path.realpath(goal_folder))
        if not (g / "goal.csv").is_file():
            raise InputError(g_shown, "goal.csv", "a folder written by 'sim goal'", "no goal.csv")
        read_table(g / "goal.csv", f"{g_shown.rstrip('/')}/goal.csv", ids=("kind", "name"))
        goal_files = [g / n for n in ("goal.csv", "frontier.csv") if (g / n).is_file()]
        if len(goal_files) == 2:
            read_table(goal_files[1], f"{g_shown.rstrip('/')}/frontier.csv")
        png = g / f"frontier_{lang}.png"
        if png.is_file():
            goal_files.append(png)
    check_writable(folder, shown, key="")
    remove_stale(folder)
    tmp = Path(tempfile.mkdtemp(prefix=_tmp_prefix("report"), dir=folder))
    os.chmod(tmp, 0o755)
    try:
        copied = set()
        for p in folder.iterdir():
            if p.is_file() and not p.is_symlink() and p.suffix in (".csv", ".json") and not p.name.startswith("."):
                shutil.copy2(p, tmp / p.name)
                copied.add(p.name)
        for p in goal_files:
            if p.suffix == ".png":
                (tmp / "figures" / lang).mkdir(parents=True, exist_ok=True)
                shutil.copy2(p, tmp / "figures" / lang / "goal_frontier.png")
            else:
                shutil.copy2(p, tmp / p.name)
        render(tmp, lang, every=every, svg=svg, cache=folder.parent / FONT_CACHE)
        with _signals_held():
            _commit(tmp, folder, copied - {p.name for p in goal_files})
    finally:
        with _signals_held():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _commit(tmp: Path, folder: Path, unchanged: set[str]) -> None:
    """Move the re-rendered files of ``tmp`` (all but the ``unchanged`` copies of the run's
    tables) into ``folder``: each file by one atomic rename, each language's figures folder
    (figures/<lang>) by two; the other language's figures stay as they are."""
    raise_if_interrupted()
    for p in sorted(tmp.iterdir()):
        if p.is_file() and p.name not in unchanged:
            os.replace(p, folder / p.name)
    if (tmp / "figures").is_dir():
        (folder / "figures").mkdir(exist_ok=True)
        for sub in sorted((tmp / "figures").iterdir()):
            old = folder / "figures" / f"{_tmp_prefix(sub.name).replace('.tmp-', '.old-', 1)}x"
            if (folder / "figures" / sub.name).exists():
                os.rename(folder / "figures" / sub.name, old)
            os.rename(sub, folder / "figures" / sub.name)
            shutil.rmtree(old, ignore_errors=True)
