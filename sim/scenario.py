"""The scenario file: TOML -> a frozen, validated :class:`Scenario`.

This is the only reader of scenario files. It also loads every data file the scenario
names (ledger, units, structure, priors, starts, levers), so that a run either has all of
its inputs valid or stops with one sentence before anything is computed or written.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from scipy.special import digamma, polygamma

from .data import Row, Unit, check_parts, check_unique, load_ledger, load_units, parse_row
from .engine import Compiled
from .errors import InputError, did_you_mean
from .observations import check_figure, known_indicators, scenario_units
from .levers import Lever
from .load_priors import bounded_prior, rate_prior
from .load_structure import load_structure
from .params import Param, ParamSpace, beta_to_logit_normal, range_to_sd
from .starts import Hier, PlanBase, Regional, UnitStart, last_fit_year
from .structure import Structure
from .tomlio import Table, read_bytes, read_toml

# The scenario every scenario file must hold: the policy in force, the one others are compared with.
BASE_POLICY = "baseline"

CONTROL = ("district", "city", "province")   # who holds a lever
DATA_KEYS = ("ledger", "units", "structure", "priors", "starts", "levers")
DATA_DEFAULTS = {k: f"../calibration/{k}.{'csv' if k in ('ledger', 'units') else 'toml'}" for k in DATA_KEYS}
STARTS_RESERVED = ("hierarchy", "shares", "regional")
MAX_POLICIES = 50                 # scenarios (policies) in one file; each is simulated and drawn
NAME_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def check_id(name: str, file: str, key: str, what: str) -> str:
    """A scenario or lever name: letters, digits, '_' and '-' (it names files and sheets)."""
    if not NAME_ID.fullmatch(name):
        raise InputError(file, key, f"a {what} name of letters, digits, '_' and '-' (at most 64)", repr(name))
    return name


@dataclass(frozen=True)
class Start:
    """A unit's start specification (:class:`sim.starts.UnitStart`) and its own parameters."""
    spec: UnitStart
    params: tuple[Param, ...]

    @property
    def year(self) -> int:
        return self.spec.year

    @property
    def parts(self) -> tuple[tuple[str, float], ...]:
        return self.spec.parts_weights


@dataclass(frozen=True)
class Pooling:
    """Which rates pooled units may move away from the main unit's, and by how much."""
    partial: tuple[str, ...] = ()
    tau: float = 0.0
    source: str = "complete pooling: every rate shared (no [pooling] table)"


@dataclass(frozen=True)
class Target:
    unit: str
    indicator: str
    year: int
    value: float
    source: str
    passage: str


@dataclass(frozen=True)
class Policy:
    name: str
    zh: str
    en: str
    settings: tuple[tuple[str, float], ...]   # (lever, amount), every lever of the scenario
    from_year: int

    def amount(self, lever: str) -> float:
        return dict(self.settings)[lever]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    zh: str
    en: str
    unit: str
    parts: tuple[str, ...]
    pool_with: tuple[str, ...]
    horizon: int
    structure: Structure
    rates: ParamSpace
    starts: dict[str, Start]
    units: dict[str, Unit]
    rows: tuple[Row, ...]
    levers: dict[str, Lever]
    policies: tuple[Policy, ...]
    targets: tuple[Target, ...]
    skipped_targets: tuple[tuple[Row, str], ...]
    paths: int
    seed: int
    key_indicators: tuple[str, ...]
    input_hashes: dict[str, str] = field(default_factory=dict)
    fit_cache: str = ""          # folder of cached fits (calibration/fitted beside the priors file)
    noise: Param = None          # the reporting-noise scale (a multiplier of every indicator's cv)
    pooling: Pooling = Pooling()
    growth_evidence: tuple = ()                         # regional growth statements (priors file)
    year_noise: dict = field(default_factory=dict)      # rate -> sd of its yearly shock on the link scale
    hierarchy: dict = field(default_factory=dict)      # level -> Hier
    ratio_params: tuple = ()                           # Params of the hierarchy's shared ratios
    regional: Regional | None = None
    input_files: dict = field(default_factory=dict)   # "scenario" and each data key -> the file read

    @cached_property
    def compiled(self) -> Compiled:
        """The structure as index arrays (:class:`sim.engine.Compiled`), built once per scenario
        and shared by the fit, the projection, goal seeking and the prior-predictive check. A
        cached property, not a field: ``dataclasses.replace(sc, structure=...)`` (a sensitivity
        variant) gives a new scenario that compiles its own structure."""
        return Compiled(self.structure)

    @property
    def fit_units(self) -> tuple[str, ...]:
        return (self.unit,) + self.pool_with

    @property
    def report_units(self) -> tuple[str, ...]:
        return (self.unit,) + self.parts

    def actuals(self, unit: str) -> list[Row]:
        """Actual rows of a unit for modelled indicators (the data the fit uses)."""
        return [r for r in self.rows if r.unit == unit and r.is_actual and r.indicator in self.structure.indicators]

    @property
    def year_noise_sd(self) -> np.ndarray:
        """sd of each rate's yearly shock on its link scale (priors file [year_noise]), in the
        structure's parameter order: prob_params, then rate_params."""
        st = self.structure
        return np.array([self.year_noise.get(n, 0.0) for n in st.prob_params + st.rate_params])

    def last_actual_year(self, unit: str) -> int:
        """The last year with a fitted figure of the unit (its own or a sub-unit's)."""
        return last_fit_year(self.starts[unit].spec, self.rows, self.structure.indicators)

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def unit_label(self, unit: str, lang: str) -> str:
        u = self.units[unit]
        return u.zh if lang == "zh" else u.en


def load_scenario(path: str | Path, files: dict | None = None, replace: dict | None = None) -> Scenario:
    """Read, validate and assemble a scenario file and the data files it names.

    ``files`` ({data key: (path, shown name)}) and ``replace`` ({dotted TOML key: value, or
    None to remove it}) substitute inputs: :mod:`sim.compare` reruns a run's snapshot, and
    snapshots with some inputs of another run, through them.
    """
    path = Path(path)
    shown = str(path)
    raw = read_toml(path, shown)
    for dotted, value in (replace or {}).items():
        *outer, last = dotted.split(".")
        d = raw
        for k in outer:
            d = d.setdefault(k, {})
        if value is None:
            d.pop(last, None)
        else:
            d[last] = value
    t = Table(raw, shown)
    base = path.parent
    hashes = {path.name: _sha(path, shown)}

    sc = t.table("scenario")
    name = sc.string("name", default=path.stem)
    zh, en = sc.string("zh"), sc.string("en")
    unit = sc.string("unit")
    pool_with = tuple(sc.strings("pool_with", default=[]))
    horizon = sc.number("horizon", integer=True, lo=2000, hi=2100)
    key_ind = sc.strings("key_indicators", default=None)   # None: the structure file's
    sc.close()

    dt = t.table("data", default=None)
    files_override, files = files or {}, {}
    roots = project_roots(path)
    for key in DATA_KEYS:
        rel = dt.string(key, default=DATA_DEFAULTS[key]) if dt is not None else DATA_DEFAULTS[key]
        files[key] = (base / rel, _shown(base, rel))
        if key not in files_override:   # files given in code (sim compare's snapshots) are not the user's paths
            confine(base / rel, roots, shown, f"data.{key}", rel)
    files.update({k: (Path(v[0]), v[1]) for k, v in files_override.items()})
    if dt is not None:
        dt.close()
    for key, (p, s) in files.items():
        if p.is_file():
            hashes[f"{key}:{Path(s).name}"] = _sha(p, s)

    units = load_units(*files["units"])
    structure = load_structure(*files["structure"])
    rows = load_ledger(*files["ledger"], units)
    rates, noise, pooling, evidence, year_noise = _load_rates(*files["priors"], structure)
    starts_raw = read_toml(*files["starts"])
    levers = _load_levers(read_toml(*files["levers"]), files["levers"][1], structure)
    _check_districts(levers, files["levers"][1], units)

    for i, u in enumerate(pool_with):
        if u == unit:
            raise InputError(shown, f"scenario.pool_with[{i}]", "other units to pool with (not the unit itself)",
                             repr(u), "remove it")
        if u in pool_with[:i]:
            raise InputError(shown, f"scenario.pool_with[{i}]", "each unit once", f"{u!r} twice", "remove one")
    for u, key in [(unit, "scenario.unit")] + [(p, "scenario.pool_with") for p in pool_with]:
        if u not in units:
            raise InputError(shown, key, "a unit id from units.csv", repr(u), did_you_mean(u, units))
        if u not in starts_raw:
            raise InputError(files["starts"][1], u, f"a start table [{u}] for the unit", "none",
                             "add its start levels")
    key_ind = structure.key_indicators if key_ind is None else tuple(key_ind)
    for k in key_ind:
        if k not in structure.indicators:
            raise InputError(shown, "scenario.key_indicators", "indicators declared in the structure file",
                             repr(k), did_you_mean(k, structure.indicators))
    parts = tuple(u.unit for u in units.values() if u.parent == unit)

    # figures a planner adds in the scenario file (``sim add`` appends them): the same checks
    # as the ledger, plus the scenario's units, known indicators and years
    extra = []
    allowed = scenario_units(unit, pool_with, units)
    indicators = known_indicators(structure, rows)
    for i, ot in enumerate(t.tables("observations", default=[])):
        extra.append(_observation(ot, shown, f"observations[{i}]", units, path.name))
        check_figure(extra[-1], shown, lambda k, i=i: f"observations[{i}]: {k}", allowed_units=allowed,
                     indicators=indicators, structure=structure, horizon=horizon)
    check_parts(rows, units, files["ledger"][1], additive=structure.indicators)
    rows = rows + extra
    if extra:
        check_unique(rows, shown)
        check_parts(rows, units, shown, additive=structure.indicators)

    starts, hierarchy, ratio_params, regional = _load_starts(starts_raw, files["starts"][1], structure, rows, units)
    for u in (unit,) + pool_with:
        if starts[u].year > horizon:
            raise InputError(files["starts"][1], f"{u}.year", f"a start year <= the horizon {horizon}", str(starts[u].year))

    # levers defined in the scenario file itself add to (or replace) the library
    lt = t.table("levers", default=None)
    if lt is not None:
        own = _load_levers(lt.data, shown, structure, prefix="levers.")
        _check_districts(own, shown, units, prefix="levers.")
        levers = {**levers, **own}
        lt._seen.update(lt.keys())
    first_proj = last_fit_year(starts[unit].spec, rows, structure.indicators) + 1
    if horizon < first_proj - 1:   # a horizon at the last actual year projects nothing and reports met / missed
        raise InputError(shown, "scenario.horizon", f"a year at or after {unit}'s last actual year {first_proj - 1}",
                         str(horizon), f"set horizon = {first_proj} or later")
    policies = _load_policies(t.table("scenarios"), shown, levers, first_proj, horizon)
    used = {lv for p in policies for lv, _ in p.settings}
    levers = {k: v for k, v in levers.items() if k in used}

    targets, skipped = _targets(t, shown, rows, (unit,) + parts, structure, starts[unit].year, horizon)
    if not targets:
        why = "; ".join(dict.fromkeys(w for _, w in skipped))
        raise InputError(shown, "targets", f"at least one target of {unit} or its sub-units between the start year "
                         f"{starts[unit].year} and the horizon {horizon} (ledger rows of kind 'target' or [[targets]])",
                         f"none ({len(skipped)} skipped: {why})" if skipped else "none",
                         "add a [[targets]] table" if not skipped else None)

    rt = t.table("run", default=None)
    paths = rt.number("paths", default=10000, integer=True, lo=100, hi=2_000_000) if rt else 10000
    seed = rt.number("seed", default=20261123, integer=True, lo=0) if rt else 20261123
    if rt is not None:
        rt.close()
    t.close()
    return Scenario(name, shown, zh, en, unit, parts, pool_with, horizon, structure, rates, starts, units,
                    tuple(rows), levers, policies, tuple(targets), tuple(skipped), paths, seed, key_ind, hashes,
                    str(files["priors"][0].parent / "fitted"), noise, pooling, evidence, year_noise, hierarchy,
                    ratio_params, regional, {"scenario": str(path), **{k: str(p) for k, (p, _) in files.items()}})


OBSERVATION_TEXT = ("unit", "indicator", "kind", "derived_from", "definition", "source_file", "passage",
                    "derivation", "bound")
NO_PASSAGE = "(no passage quoted)"


def _observation(ot: Table, shown: str, where: str, units, origin: str) -> Row:
    """One [[observations]] block -> a ledger row. Integers stay integers (year = 2024 is a
    year, not 2024.0); the passage may be left out (it then says so)."""
    rec = {k: ot.get(k, str) for k in OBSERVATION_TEXT if ot.has(k)}
    for k, expected in (("year", "a year such as 2024"), ("value", "a number such as 1010")):
        if ot.has(k):
            v = ot.get(k, (int, float, str), expected=expected)
            rec[k] = int(v) if isinstance(v, float) and v.is_integer() and k == "year" else v
    ot.close(allowed=OBSERVATION_TEXT + ("year", "value"))
    rec.setdefault("kind", "actual")
    rec.setdefault("passage", NO_PASSAGE)
    return parse_row(rec, shown, where, units, origin=origin)


def _sha(p: Path, shown: str) -> str:
    return hashlib.sha256(read_bytes(p, shown)).hexdigest()[:16]


def project_roots(scenario: Path) -> tuple[Path, ...]:
    """Where a scenario's data files may be: its own folder tree, and the ``calibration/``
    folder of the project it is in (the nearest folder above it that has one)."""
    base = Path(os.path.realpath(scenario.parent))
    roots = [base]
    for d in (base,) + tuple(base.parents):
        if (d / "calibration").is_dir():
            roots.append(Path(os.path.realpath(d / "calibration")))
            break
    return tuple(roots)


def confine(p: Path, roots, shown: str, key: str, rel: str) -> None:
    """Raise unless ``p`` (symbolic links resolved) lies inside one of ``roots``. Nothing
    is read from a file outside, so no error can echo its content."""
    def inside(x: Path) -> bool:
        return any(x == r or r in x.parents for r in roots)
    if not inside(Path(os.path.realpath(p))):
        where = " or ".join(f"{os.path.relpath(r)}/" for r in roots)
        plain = Path(os.path.realpath(os.path.dirname(p) or ".")) / os.path.basename(p)
        found = f"{rel!r}, a link to a file outside" if inside(plain) else f"{rel!r}, which is outside"
        raise InputError(shown, key, f"a data file inside the project ({where})", found,
                         "copy the file into the project")


def _shown(base: Path, rel: str) -> str:
    # show paths relative to where the user is, without resolving symlinks or making them absolute
    return os.path.normpath(os.path.join(str(base), rel))


def _load_rates(path, shown, structure: Structure) -> ParamSpace:
    t = Table(read_toml(path, shown), shown)
    rt = t.table("rates")
    params = []
    for name in structure.prob_params + structure.rate_params:
        if not rt.has(name):
            raise InputError(shown, f"rates.{name}", "a prior for every rate of the structure", "none")
        kind = "logit" if name in structure.prob_params else "log"
        params.append(rate_prior(rt.table(name), name, kind))
    rt.close(allowed=structure.prob_params + structure.rate_params)
    nt = t.table("reporting_noise", default=None)
    if nt is None:
        noise = Param("noise_scale", "log", 0.0, 1e-4, "fixed at 1 (no [reporting_noise] table in the priors file)")
    elif nt.has("bounds"):
        noise = bounded_prior(nt, "noise_scale")
    else:
        noise = rate_prior(nt, "noise_scale", "log")
    pt = t.table("pooling", default=None)
    pooling = Pooling()
    if pt is not None:
        names = tuple(pt.strings("partial", choices=structure.prob_params + structure.rate_params))
        pooling = Pooling(names, pt.number("tau", lo=1e-3, hi=5.0), pt.string("source"))
        pt.close()
    year_noise = {}
    yt = t.table("year_noise", default=None)
    if yt is not None:
        names = structure.prob_params + structure.rate_params
        sd = yt.number("sd", lo=0.0, hi=2.0)
        year_noise = {n: sd for n in names}
        ot = yt.table("rates", default=None)
        if ot is not None:
            for n in ot.keys():
                if n not in names:
                    raise InputError(shown, f"year_noise.rates.{n}", "a rate of the structure", repr(n),
                                     did_you_mean(n, names))
                year_noise[n] = ot.number(n, lo=0.0, hi=2.0)
            ot.close()
        yt.string("source")
        yt.close()
    evidence = []
    for et in t.tables("growth_evidence", default=[]):
        evidence.append(dict(indicator=et.string("indicator", choices=tuple(structure.indicators)),
                             growth=et.number("growth", lo=-1.0, hi=10.0), years=et.string("years"),
                             zh=et.string("zh"), en=et.string("en"), source=et.string("source")))
        et.close()
    t.close()
    return ParamSpace(params), noise, pooling, tuple(evidence), year_noise


def _load_starts(data: dict, shown: str, structure: Structure, rows, units):
    """Parse a starts file: the hierarchy, the regional series, the default share priors and
    every unit's table. Returns (starts by unit, hierarchy by level, ratio Params, regional)."""
    t = Table(data, shown)
    levels, shares = structure.level_names, structure.share_names
    hier, ratio_params = {}, []
    ht = t.table("hierarchy", default=None)
    if ht is not None:
        for name in ht.keys():
            if name not in levels:
                raise InputError(shown, f"hierarchy.{name}", "a start level of the structure (" + ", ".join(levels) + ")",
                                 repr(name), did_you_mean(name, levels))
            lt = ht.table(name)
            rel = lt.string("relative_to", choices=("regional",) + levels)
            rt = lt.table("ratio")
            median = rt.number("median", lo=0.0)
            if median <= 0:
                raise InputError(shown, f"hierarchy.{name}.ratio.median", "a number > 0", repr(median))
            log_sd = rt.number("log_sd", lo=0.01, hi=5.0)
            rt.close()
            src = lt.string("source")
            ratio_params.append(Param(f"ratio.{name}", "log", float(np.log(median)), log_sd, src,
                                      lt.string("zh", default=f"{name}比率"), lt.string("en", default=f"{name} ratio")))
            hier[name] = Hier(name, rel, f"ratio.{name}", lt.number("between_sd", lo=0.0, hi=5.0), src)
            lt.close()
        ht.close()
        seen = set()
        for name in levels:   # relative_to must point to a level defined before, or the regional series
            if name in hier:
                rel = hier[name].relative_to
                if rel != "regional" and rel not in seen:
                    raise InputError(shown, f"hierarchy.{name}.relative_to", "'regional' or a level listed before it "
                                     "in the structure's [start] table", repr(rel))
            seen.add(name)
    regional = None
    gt = t.table("regional", default=None)
    if gt is not None:
        ind = gt.string("indicator", choices=tuple(structure.indicators))
        vt = gt.table("values")
        pts = []
        for k in vt.keys():
            if not k.isdigit() or not 1990 <= int(k) <= 2100:
                raise InputError(shown, f"regional.values.{k}", "a year such as 2024 as the key", repr(k))
            pts.append((int(k), vt.number(k, lo=0.0)))
        vt.close()
        if len(pts) < 2 or any(v <= 0 for _, v in pts):
            raise InputError(shown, "regional.values", "at least two years with values > 0", repr(dict(pts)))
        pts.sort()
        regional = Regional(ind, tuple(y for y, _ in pts), tuple(float(v) for _, v in pts),
                            gt.number("divisor", lo=1.0), gt.string("source"))
        gt.close()
    if any(h.relative_to == "regional" for h in hier.values()) and regional is None:
        raise InputError(shown, "regional", "a [regional] table (a hierarchy level is relative to it)", "none")
    default_shares = {}
    st = t.table("shares", default=None)
    if st is not None:
        for name in st.keys():
            if name not in shares:
                raise InputError(shown, f"shares.{name}", "a share of the structure (" + ", ".join(shares) + ")",
                                 repr(name), did_you_mean(name, shares))
            default_shares[name] = st.table(name)
        st.close()
    starts = {}
    for u in t.keys():
        if u in STARTS_RESERVED:
            continue
        if u not in units:
            raise InputError(shown, u, "a unit id from units.csv (or hierarchy, shares, regional)", repr(u),
                             did_you_mean(u, list(units) + list(STARTS_RESERVED)))
        starts[u] = _load_unit_start(t.table(u), u, structure, hier, default_shares, rows, units)
    for name, dt in default_shares.items():
        dt.close(allowed=("beta", "fixed", "source"))
    t.close()
    return starts, hier, tuple(ratio_params), regional


def _share_param(t: Table, pname: str) -> Param:
    source = t.string("source")
    if t.has("fixed"):
        v = t.number("fixed", lo=1e-9, hi=1 - 1e-9)
        return Param(pname, "logit", float(np.log(v / (1 - v))), 1e-4, source)
    a, b = t.pair("beta", lo=1e-6, ordered=False)
    if not (np.isfinite(a) and np.isfinite(b)) or a <= 0 or b <= 0:
        raise InputError(t.file, f"{t.where}.beta", "[a, b] with a > 0 and b > 0", repr([a, b]))
    mean, sd = beta_to_logit_normal(a, b)
    return Param(pname, "logit", mean, sd, source)


def _load_unit_start(t: Table, unit: str, structure: Structure, hier, default_shares, rows, units) -> Start:
    year = t.number("year", integer=True, lo=1990, hi=2100)
    params, explicit, zs = [], [], []
    for name in structure.level_names:
        if t.has(name):
            it = t.table(name)
            value = it.number("value", lo=0.0)
            rng = it.number("range", lo=1e-4, hi=5.0)
            params.append(Param(f"{unit}.{name}", "log", float(np.log(max(value, 0.5))), range_to_sd(rng),
                                it.string("source")))
            it.close()
            explicit.append((name, f"{unit}.{name}"))
        elif name in hier:
            h = hier[name]
            params.append(Param(f"{unit}.{name}.z", "shift", 0.0, 1.0,
                                f"hierarchical: {unit}'s {name} = {h.relative_to} x ratio.{name} x exp({h.between_sd:g} z)"))
            zs.append((name, f"{unit}.{name}.z"))
        else:
            raise InputError(t.file, f"{unit}.{name}", f"a start level {{ value, range, source }} (no [hierarchy.{name}] "
                             "to derive it from)", "nothing")
    for name in structure.share_names:
        src = t.table(name) if t.has(name) else default_shares.get(name)
        if src is None:
            raise InputError(t.file, f"{unit}.{name}", "a share prior { beta = [a, b], source } (or a [shares] default)",
                             "nothing")
        params.append(_share_param(src, f"{unit}.{name}"))
        if t.has(name):
            src.close()
        explicit.append((name, f"{unit}.{name}"))
    plan_base = None
    pb = t.table("plan_base", default=None)
    if pb is not None:
        ind = pb.string("indicator", choices=tuple(structure.indicators))
        pyear = pb.number("year", integer=True, lo=1990, hi=2100)
        if pyear != year:
            raise InputError(t.file, f"{unit}.plan_base.year", f"the unit's start year {year} (a base-year column)",
                             str(pyear))
        found = [r.value for r in rows if r.unit == unit and r.indicator == ind and r.year == pyear]
        if not found:
            raise InputError(t.file, f"{unit}.plan_base", f"a ledger row ({unit}, {ind}, {pyear})", "none")
        plan_base = PlanBase(ind, pyear, float(found[0]), pb.number("cv", lo=0.01, hi=2.0), pb.string("source"),
                             pb.string("note"))
        pb.close()
    parts, weights, parts_year, parts_ind, parts_kind, parts_source = (), (), None, "", "", ""
    pt = t.table("parts", default=None)
    kids = [u.unit for u in units.values() if u.parent == unit]
    if pt is not None:
        parts_year = pt.number("year", integer=True, lo=1990, hi=2100)
        parts_ind = pt.string("indicator")
        parts_kind = pt.string("kind", choices=("actual", "target"))
        parts_source = pt.string("source")
        conc = pt.number("concentration", default=None, lo=1.0, hi=1e6)
        pt.close()
        found = {r.unit: r.value for r in rows if r.unit in kids and r.indicator == parts_ind and r.year == parts_year
                 and (r.is_target if parts_kind == "target" else r.is_actual)}
        missing = [k for k in kids if k not in found]
        if missing:
            raise InputError(t.file, f"{unit}.parts", f"ledger rows ({parts_ind}, {parts_year}, {parts_kind}) for every "
                             "sub-unit", f"none for {', '.join(missing)}")
        if parts_kind == "target" and conc is None:
            raise InputError(t.file, f"{unit}.parts.concentration", "a concentration (pseudo-firms) for a plan's split",
                             "nothing")
        total = sum(found.values())
        weights = tuple((k, found[k]) for k in kids)
        for k in kids:
            alpha = (conc * (found[k] + 0.5) / (total + 0.5 * len(kids)) if conc is not None else found[k] + 1.0)
            mean, sd = float(digamma(alpha)), float(np.sqrt(polygamma(1, alpha)))
            params.append(Param(f"{k}.split", "log", mean, sd,
                                f"Dirichlet split of {unit} (alpha {alpha:.3g}): {parts_source}"))
        parts = tuple((k, f"{k}.split") for k in kids)
    elif kids:
        raise InputError(t.file, f"{unit}.parts", "a parts table (the unit has sub-units in units.csv)", "none")
    t.close()
    spec = UnitStart(unit, year, tuple(explicit), tuple(zs), plan_base, parts_year, parts_ind, parts_kind, parts,
                     weights, parts_source)
    return Start(spec, tuple(params))


def _load_levers(data: dict, shown: str, structure: Structure, prefix: str = "") -> dict[str, Lever]:
    rates = structure.prob_params + structure.rate_params
    pays = ["fixed", "setting"] + [f"flow:{f}" for f in structure.flows] + [f"state:{s}" for s in structure.tiers]
    out = {}
    for name, raw in data.items():
        check_id(name, shown, f"{prefix}{name}", "lever")
        t = Table(raw, shown, f"{prefix}{name}")
        kind = t.string("kind", choices=("shift", "quota"))
        acts = tuple(t.strings("acts_on", choices=rates))
        if not acts:
            raise InputError(shown, f"{prefix}{name}.acts_on", "at least one rate", "an empty list")
        if kind == "quota" and any(a not in structure.rate_params for a in acts):
            raise InputError(shown, f"{prefix}{name}.acts_on", "inflow rates for a quota lever", repr(list(acts)))
        bounds = t.pair("bounds", lo=0.0, hi=1e9)   # upper limits keep costs and shifts finite
        cal = t.number("calibrated_at", lo=0.0)
        if not bounds[0] <= cal <= bounds[1]:
            raise InputError(shown, f"{prefix}{name}.calibrated_at", f"a setting within bounds {list(bounds)}", repr(cal))
        scale = t.number("scale", default=1.0, lo=1e-9, hi=1e9)
        strength = t.pair("strength", default=(0.0, 0.0), lo=-10.0, hi=10.0)   # link scale: e^10 is 22,000x
        amount = t.string("amount", choices=("money", "count", "intensity"))
        pays_on = t.string("pays_on")
        bad = [x for x in pays_on[5:].split("+")] if pays_on.startswith("flow:") else []
        if (pays_on not in pays and not bad) or any(f not in structure.flows for f in bad):
            raise InputError(shown, f"{prefix}{name}.pays_on", "fixed, setting, state:TIER or flow:NAME (flows joined by +)",
                             repr(pays_on), did_you_mean(pays_on, pays))
        if pays_on == "setting" and amount == "money":
            raise InputError(shown, f"{prefix}{name}.pays_on", "a count or intensity lever for 'setting' (a money "
                             "lever pays its amount per event)", repr(pays_on))
        controlled_by = t.string("controlled_by", choices=CONTROL)
        district = t.string("district") if controlled_by == "district" else t.string("district", default="")
        capacity = t.pair("capacity", default=None, lo=bounds[0], hi=bounds[1])
        source_file = t.string("source_file")
        lever = Lever(
            name=name, zh=t.string("zh"), en=t.string("en"), acts_on=acts, kind=kind, amount=amount,
            calibrated_at=cal, bounds=bounds, scale=scale, strength=strength,
            strength_source=t.string("strength_source", default="" if kind == "quota" else ...),
            pays_on=pays_on, fixed_count=t.number("fixed_count", default=0.0, lo=0.0, hi=1e7),
            cost_per_event=t.number("cost_per_event", default=0.0 if amount == "money" else ..., lo=0.0, hi=1e9),
            cost_factor=t.number("cost_factor", default=1.0, lo=0.0, hi=1e3), cost_note=t.string("cost_note", default=""),
            source_file=source_file, passage=t.string("passage"),
            start=t.number("start", default=None, integer=True, lo=1990, hi=2100),
            end=t.number("end", default=None, integer=True, lo=1990, hi=2100),
            controlled_by=controlled_by, district=district, control_passage=t.string("control_passage"),
            control_source=t.string("control_source", default=source_file),
            capacity=capacity, capacity_note=t.string("capacity_note", default="" if capacity is None else ...),
            capacity_basis=_capacity_basis(t, capacity),
            cost_basis=t.string("cost_basis", choices=("seed", "assumption")))
        if lever.is_free and capacity is None:
            raise InputError(shown, f"{prefix}{name}.capacity", "a capacity [floor, ceiling] with a capacity_note for a "
                             "lever that costs nothing (no free lunch), or a cost_per_event", "neither")
        t.close()
        if lever.start is not None and lever.end is not None and lever.start > lever.end:
            raise InputError(shown, f"{prefix}{name}.end", f"a year >= start ({lever.start})", str(lever.end),
                             "swap start and end")
        out[name] = lever
    return out


def _capacity_basis(t: Table, capacity) -> tuple[str, str]:
    """[floor, ceiling] of a declared capacity, each 'seed' or 'assumption' (required with a capacity)."""
    if capacity is None:
        t.get("capacity_basis", list, default=None)
        return ("assumption", "assumption")
    basis = t.strings("capacity_basis", choices=("seed", "assumption"))
    if len(basis) != 2:
        raise InputError(t.file, t._key("capacity_basis"), "[floor, ceiling], each 'seed' or 'assumption'", repr(basis))
    return tuple(basis)


def _check_districts(levers: dict[str, Lever], shown: str, units, prefix: str = "") -> None:
    for name, lv in levers.items():
        if lv.district and lv.district not in units:
            raise InputError(shown, f"{prefix}{name}.district", "a unit id from units.csv", repr(lv.district),
                             did_you_mean(lv.district, units))


def _load_policies(t: Table, shown: str, levers: dict[str, Lever], first_proj: int, horizon: int) -> tuple[Policy, ...]:
    raw = {}
    if len(t.keys()) > MAX_POLICIES:
        raise InputError(shown, "scenarios", f"at most {MAX_POLICIES} scenarios (each is simulated and drawn)",
                         f"{len(t.keys()):,}")
    for name in t.keys():
        check_id(name, shown, f"scenarios.{name}", "scenario")
        pt = t.table(name)
        include = pt.string("include", default=None)
        settings = pt.table("levers", default=None)
        amounts = {}
        if settings is not None:
            for lv in settings.keys():
                if lv not in levers:
                    raise InputError(shown, f"scenarios.{name}.levers.{lv}", "a lever from the lever library",
                                     f"unknown lever '{lv}'", did_you_mean(lv, levers))
                lo, hi = levers[lv].bounds
                amounts[lv] = settings.number(lv, lo=lo, hi=hi)
            settings.close()
        raw[name] = dict(zh=pt.string("zh"), en=pt.string("en"), include=include, amounts=amounts,
                         from_year=pt.number("from_year", default=None, integer=True, lo=1990, hi=horizon))
        pt.close()
    t.close()
    if BASE_POLICY not in raw:
        raise InputError(shown, "scenarios", "a [scenarios.baseline] table (the policy in force)",
                         "scenarios " + ", ".join(sorted(raw)) if raw else "none")

    def resolve(name):
        chain = [name]                     # name, what it includes, what that includes, ...
        while raw[chain[-1]]["include"] is not None:
            inc = raw[chain[-1]]["include"]
            if inc not in raw:
                raise InputError(shown, f"scenarios.{chain[-1]}.include", "the name of another scenario", repr(inc),
                                 did_you_mean(inc, raw))
            if inc in chain:
                raise InputError(shown, f"scenarios.{name}.include", "no cycle of includes",
                                 " -> ".join(chain + [inc]))
            chain.append(inc)
        amounts = {}
        for n in reversed(chain):
            amounts.update(raw[n]["amounts"])
        return amounts

    used = sorted({lv for name in raw for lv in resolve(name)})
    policies = []
    for name in [BASE_POLICY] + [n for n in raw if n != BASE_POLICY]:   # file order: the meeting's order
        amounts = resolve(name)
        settings = tuple((lv, float(amounts.get(lv, levers[lv].calibrated_at))) for lv in used)
        fy = raw[name]["from_year"] or first_proj
        policies.append(Policy(name, raw[name]["zh"], raw[name]["en"], settings, fy))
    return tuple(policies)


def _unmodelled(r: Row) -> str:
    """Why a target is not scored: its indicator is not in the structure, and the ledger's
    definition says why after "not modelled:" (calibration/ledger.csv)."""
    why = r.definition.split("not modelled:", 1)[1].strip() if "not modelled:" in r.definition else ""
    return "indicator not modelled" + (f": {why}" if why else "")


def _targets(t: Table, shown, rows, units, structure, start_year, horizon):
    targets, skipped = [], []
    for r in rows:
        if r.unit not in units or not r.is_target:
            continue
        if r.indicator not in structure.indicators:
            skipped.append((r, _unmodelled(r)))
        elif r.year <= start_year:
            skipped.append((r, f"at or before the start year {start_year}"))
        elif r.year > horizon:
            skipped.append((r, f"after the horizon {horizon}"))
        else:
            targets.append(Target(r.unit, r.indicator, r.year, r.value, r.source_file, r.passage))
    for i, tt in enumerate(t.tables("targets", default=[])):
        u = tt.string("unit", choices=units)
        ind = tt.string("indicator", choices=tuple(structure.indicators))
        year = tt.number("year", integer=True, lo=1990, hi=2100)
        if year <= start_year:
            raise InputError(shown, f"targets[{i}].year", f"a year after the start year {start_year}", str(year))
        if year > horizon:
            raise InputError(shown, f"targets[{i}].year", f"a year up to the horizon {horizon}", str(year))
        targets.append(Target(u, ind, year, tt.number("value", lo=0.0), tt.string("source"), tt.string("passage", default="")))
        tt.close()
    uniq = {}
    for tg in targets:
        uniq[(tg.unit, tg.indicator, tg.year)] = tg
    return sorted(uniq.values(), key=lambda x: (x.unit, x.indicator, x.year)), skipped
