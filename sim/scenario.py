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
from pathlib import Path

import numpy as np

from .data import Row, Unit, check_parts, check_unique, load_ledger, load_units, parse_row
from .errors import InputError, did_you_mean
from .levers import Lever
from .params import Param, ParamSpace, beta_to_logit_normal, range_to_sd, rate_prior
from .structure import Structure, load_structure
from .tomlio import Table, read_bytes, read_toml

DATA_KEYS = ("ledger", "units", "structure", "priors", "starts", "levers")
DATA_DEFAULTS = {k: f"../calibration/{k}.{'csv' if k in ('ledger', 'units') else 'toml'}" for k in DATA_KEYS}
START_ITEMS = ("hte", "sme", "reserve", "leader_share")
MAX_POLICIES = 50                 # scenarios (policies) in one file; each is simulated and drawn
NAME_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


def check_id(name: str, file: str, key: str, what: str) -> str:
    """A scenario or lever name: letters, digits, '_' and '-' (it names files and sheets)."""
    if not NAME_ID.fullmatch(name):
        raise InputError(file, key, f"a {what} name of letters, digits, '_' and '-' (at most 64)", repr(name))
    return name


@dataclass(frozen=True)
class Start:
    unit: str
    year: int
    params: tuple[Param, ...]                  # unit.hte, unit.sme, unit.reserve, unit.leader_share
    parts_year: int | None = None
    parts: tuple[tuple[str, float], ...] = ()  # (sub-unit, weight)
    parts_source: str = ""


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
    pooling: tuple = ((), 0.0, "")   # (partially pooled rates, tau, source)

    @property
    def fit_units(self) -> tuple[str, ...]:
        return (self.unit,) + self.pool_with

    @property
    def report_units(self) -> tuple[str, ...]:
        return (self.unit,) + self.parts

    def actuals(self, unit: str) -> list[Row]:
        """Actual rows of a unit for modelled indicators (the data the fit uses)."""
        return [r for r in self.rows if r.unit == unit and r.is_actual and r.indicator in self.structure.indicators]

    def last_actual_year(self, unit: str) -> int:
        years = [r.year for r in self.actuals(unit) if r.year >= self.starts[unit].year]
        return max(years, default=self.starts[unit].year)

    def label(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    def unit_label(self, unit: str, lang: str) -> str:
        u = self.units[unit]
        return u.zh if lang == "zh" else u.en


def load_scenario(path: str | Path) -> Scenario:
    """Read, validate and assemble a scenario file and the data files it names."""
    path = Path(path)
    shown = str(path)
    t = Table(read_toml(path, shown), shown)
    base = path.parent
    hashes = {path.name: _sha(path, shown)}

    sc = t.table("scenario")
    name = sc.string("name", default=path.stem)
    zh, en = sc.string("zh"), sc.string("en")
    unit = sc.string("unit")
    pool_with = tuple(sc.strings("pool_with", default=[]))
    horizon = sc.number("horizon", integer=True, lo=2000, hi=2100)
    key_ind = tuple(sc.strings("key_indicators", default=["hte_valid", "tech_sme"]))
    sc.close()

    dt = t.table("data", default=None)
    files = {}
    roots = project_roots(path)
    for key in DATA_KEYS:
        rel = dt.string(key, default=DATA_DEFAULTS[key]) if dt is not None else DATA_DEFAULTS[key]
        files[key] = (base / rel, _shown(base, rel))
        confine(base / rel, roots, shown, f"data.{key}", rel)
    if dt is not None:
        dt.close()
    for key, (p, s) in files.items():
        if p.is_file():
            hashes[f"{key}:{Path(s).name}"] = _sha(p, s)

    units = load_units(*files["units"])
    structure = load_structure(*files["structure"])
    rows = load_ledger(*files["ledger"], units)
    rates, noise, pooling = _load_rates(*files["priors"], structure)
    starts_all = read_toml(*files["starts"])
    levers = _load_levers(read_toml(*files["levers"]), files["levers"][1], structure)

    for i, u in enumerate(pool_with):
        if u == unit:
            raise InputError(shown, f"scenario.pool_with[{i}]", "other units to pool with (not the unit itself)",
                             repr(u), "remove it")
        if u in pool_with[:i]:
            raise InputError(shown, f"scenario.pool_with[{i}]", "each unit once", f"{u!r} twice", "remove one")
    for u, key in [(unit, "scenario.unit")] + [(p, "scenario.pool_with") for p in pool_with]:
        if u not in units:
            raise InputError(shown, key, "a unit id from units.csv", repr(u), did_you_mean(u, units))
        if u not in starts_all:
            raise InputError(files["starts"][1], u, f"a start table [{u}] for the unit", "none",
                             "add its start levels")
    for k in key_ind:
        if k not in structure.indicators:
            raise InputError(shown, "scenario.key_indicators", "indicators declared in the structure file",
                             repr(k), did_you_mean(k, structure.indicators))
    parts = tuple(u.unit for u in units.values() if u.parent == unit)

    # extra actuals a planner adds in the scenario file
    extra = []
    for i, ot in enumerate(t.tables("observations", default=[])):
        rec = {k: ot.get(k, (str, int, float)) for k in list(ot.keys())}
        ot.close(allowed=("unit", "indicator", "year", "value", "kind", "derived_from", "definition",
                          "source_file", "passage", "derivation", "bound"))
        rec.setdefault("kind", "actual")
        extra.append(parse_row(rec, shown, f"observations[{i}]", units, origin=path.name))
    rows = rows + extra
    if extra:
        check_unique(rows, shown)
        check_parts(rows, units, shown)

    starts = {u: _load_start(Table(starts_all[u], files["starts"][1], u), u, rows, units)
              for u in (unit,) + pool_with}
    if starts[unit].parts and set(p for p, _ in starts[unit].parts) != set(parts):
        raise InputError(files["starts"][1], f"{unit}.parts", f"weights for all sub-units {sorted(parts)}",
                         f"weights for {sorted(p for p, _ in starts[unit].parts)}")
    if parts and not starts[unit].parts:
        raise InputError(files["starts"][1], f"{unit}.parts", "a parts table (the unit has sub-units in units.csv)", "none")
    for u in (unit,) + pool_with:
        if starts[u].year > horizon:
            raise InputError(files["starts"][1], f"{u}.year", f"a start year <= the horizon {horizon}", str(starts[u].year))

    # levers defined in the scenario file itself add to (or replace) the library
    lt = t.table("levers", default=None)
    if lt is not None:
        levers = {**levers, **_load_levers(lt.data, shown, structure, prefix="levers.")}
        lt._seen.update(lt.keys())
    first_proj = max(starts[unit].year, _last_actual(rows, unit, starts[unit].year, structure)) + 1
    if horizon < first_proj:
        raise InputError(shown, "scenario.horizon", f"a year after {unit}'s last actual year {first_proj - 1} "
                         "(the projection starts there)", str(horizon), f"set horizon = {first_proj} or later")
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
                    str(files["priors"][0].parent / "fitted"), noise, pooling)


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


def _last_actual(rows, unit, start_year, structure) -> int:
    years = [r.year for r in rows if r.unit == unit and r.is_actual and r.indicator in structure.indicators
             and r.year >= start_year]
    return max(years, default=start_year)


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
    else:
        noise = rate_prior(nt, "noise_scale", "log")
    pt = t.table("pooling", default=None)
    pooling = ((), 0.0, "complete pooling: every rate shared (no [pooling] table)")
    if pt is not None:
        names = tuple(pt.strings("partial", choices=structure.prob_params + structure.rate_params))
        pooling = (names, pt.number("tau", lo=1e-3, hi=5.0), pt.string("source"))
        pt.close()
    t.close()
    return ParamSpace(params), noise, pooling


def _load_start(t: Table, unit: str, rows, units) -> Start:
    year = t.number("year", integer=True, lo=1990, hi=2100)
    params = []
    for item in START_ITEMS:
        it = t.table(item)
        source = it.string("source")
        if item == "leader_share" and it.has("fixed"):
            v = it.number("fixed", lo=1e-9, hi=1 - 1e-9)
            params.append(Param(f"{unit}.{item}", "logit", float(np.log(v / (1 - v))), 1e-4, source))
        elif item == "leader_share":
            a, b = it.pair("beta", lo=1e-6, ordered=False)
            mean, sd = beta_to_logit_normal(a, b)
            params.append(Param(f"{unit}.{item}", "logit", mean, sd, source))
        else:
            value = it.number("value", lo=0.0)
            rng = it.number("range", lo=1e-4, hi=5.0)
            params.append(Param(f"{unit}.{item}", "log", float(np.log(max(value, 0.5))),
                                range_to_sd(rng), source))
        it.close()
    parts, parts_year, parts_source = (), None, ""
    pt = t.table("parts", default=None)
    if pt is not None:
        parts_year = pt.number("year", integer=True, lo=1990, hi=2100)
        ind = pt.string("indicator")
        kind = pt.string("kind", choices=("actual", "target"))
        parts_source = pt.string("source")
        pt.close()
        kids = [u.unit for u in units.values() if u.parent == unit]
        found = {r.unit: r.value for r in rows if r.unit in kids and r.indicator == ind and r.year == parts_year
                 and (r.is_target if kind == "target" else r.is_actual)}
        missing = [k for k in kids if k not in found]
        if missing:
            raise InputError(t.file, f"{unit}.parts", f"ledger rows ({ind}, {parts_year}, {kind}) for every sub-unit",
                             f"none for {', '.join(missing)}")
        parts = tuple((k, found[k]) for k in kids)
    t.close()
    return Start(unit, year, tuple(params), parts_year, parts, parts_source)


def _load_levers(data: dict, shown: str, structure: Structure, prefix: str = "") -> dict[str, Lever]:
    rates = structure.prob_params + structure.rate_params
    pays = ["fixed"] + [f"flow:{f}" for f in structure.flows] + [f"state:{s}" for s in structure.tiers]
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
            raise InputError(shown, f"{prefix}{name}.pays_on", "fixed, state:TIER or flow:NAME (flows joined by +)",
                             repr(pays_on), did_you_mean(pays_on, pays))
        lever = Lever(
            name=name, zh=t.string("zh"), en=t.string("en"), acts_on=acts, kind=kind, amount=amount,
            calibrated_at=cal, bounds=bounds, scale=scale, strength=strength,
            strength_source=t.string("strength_source", default="" if kind == "quota" else ...),
            pays_on=pays_on, fixed_count=t.number("fixed_count", default=0.0, lo=0.0, hi=1e7),
            cost_per_event=t.number("cost_per_event", default=0.0 if amount == "money" else ..., lo=0.0, hi=1e9),
            cost_factor=t.number("cost_factor", default=1.0, lo=0.0, hi=1e3), cost_note=t.string("cost_note", default=""),
            source_file=t.string("source_file"), passage=t.string("passage"),
            start=t.number("start", default=None, integer=True, lo=1990, hi=2100),
            end=t.number("end", default=None, integer=True, lo=1990, hi=2100))
        t.close()
        if lever.start is not None and lever.end is not None and lever.start > lever.end:
            raise InputError(shown, f"{prefix}{name}.end", f"a year >= start ({lever.start})", str(lever.end),
                             "swap start and end")
        out[name] = lever
    return out


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
    if "baseline" not in raw:
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
    for name in ["baseline"] + sorted(n for n in raw if n != "baseline"):
        amounts = resolve(name)
        settings = tuple((lv, float(amounts.get(lv, levers[lv].calibrated_at))) for lv in used)
        fy = raw[name]["from_year"] or first_proj
        policies.append(Policy(name, raw[name]["zh"], raw[name]["en"], settings, fy))
    return tuple(policies)


def _targets(t: Table, shown, rows, units, structure, start_year, horizon):
    targets, skipped = [], []
    for r in rows:
        if r.unit not in units or not r.is_target:
            continue
        if r.indicator not in structure.indicators:
            skipped.append((r, "indicator not modelled"))
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
