"""The observation ledger: every published figure with its kind and its source.

``calibration/ledger.csv`` has one row per figure: unit, indicator, year, value, kind
(``actual`` observed, ``target`` a plan, ``derived`` computed from other figures with the
arithmetic in ``derivation``), ``derived_from`` (for derived rows: whether the inputs were
actuals or targets), the definition note, the seed file and the quoted passage.

Only actuals (and values derived from actuals) are ever fitted; targets are what the
projections are scored against.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError, did_you_mean
from .tomlio import MAX_TEXT, check_text, read_text

LEDGER_COLUMNS = ("unit", "indicator", "year", "value", "kind", "derived_from", "definition",
                  "source_file", "passage", "derivation")
OPTIONAL_COLUMNS = ("bound",)   # absent column: every figure is an exact value
KINDS = ("actual", "target", "derived")
BOUNDS = ("eq", "ge")   # "ge": a published lower bound (突破/超过/以上 a value), fitted as censored
UNIT_COLUMNS = ("unit", "parent", "zh", "en")
UNIT_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Row:
    unit: str
    indicator: str
    year: int
    value: float
    kind: str
    derived_from: str
    definition: str
    source_file: str
    passage: str
    derivation: str
    origin: str = "ledger"   # "ledger" or the scenario file that added it
    bound: str = "eq"        # "eq" an exact published value, "ge" a lower bound ("more than 480")

    @property
    def is_actual(self) -> bool:
        """True for observed values, including values derived from observed values."""
        return self.kind == "actual" or (self.kind == "derived" and self.derived_from == "actual")

    @property
    def is_target(self) -> bool:
        return self.kind == "target"


@dataclass(frozen=True)
class Unit:
    unit: str
    parent: str
    zh: str
    en: str


def _read_csv(path: Path, shown: str, columns) -> list[dict]:
    text = read_text(path, shown)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _records(reader, shown, columns)
    except csv.Error as exc:   # raised inside a line that is not yet counted
        if "field larger than field limit" in str(exc):
            raise InputError(shown, f"line {reader.line_num + 1}", f"fields of at most {MAX_TEXT:,} characters",
                             "a longer field") from None
        raise InputError(shown, f"line {reader.line_num + 1}", "valid CSV", f"a CSV error ({exc})") from None


def _records(reader: csv.DictReader, shown: str, columns) -> list[dict]:
    header = reader.fieldnames or []
    for col in columns:
        if col not in header:
            raise InputError(shown, "header", f"a column '{col}'", f"columns {header}",
                             did_you_mean(col, header))
    allowed = tuple(columns) + (OPTIONAL_COLUMNS if columns == LEDGER_COLUMNS else ())
    extra = [c for c in header if c not in allowed]
    if extra:
        raise InputError(shown, "header", "only the columns " + ", ".join(allowed), f"unknown column '{extra[0]}'",
                         did_you_mean(extra[0], allowed))
    if len(set(header)) != len(header):
        dup = next(c for c in header if header.count(c) > 1)
        raise InputError(shown, "header", "each column once", f"'{dup}' twice")
    rows = []
    for rec in reader:
        i = reader.line_num
        if None in rec or any(v is None for v in rec.values()):
            raise InputError(shown, f"line {i}", f"{len(header)} fields", "a different number of fields")
        for k, v in rec.items():
            check_text(v, shown, f"line {i}: {k}")
        rows.append({k: v.strip() for k, v in rec.items()} | {"_line": i})
    return rows


def load_units(path: Path, shown: str) -> dict[str, Unit]:
    units = {}
    for rec in _read_csv(path, shown, UNIT_COLUMNS):
        if not rec["unit"]:
            raise InputError(shown, f"line {rec['_line']}: unit", "a unit id", "an empty field")
        if not UNIT_ID.fullmatch(rec["unit"]):
            raise InputError(shown, f"line {rec['_line']}: unit", "a unit id of letters, digits, '_' and '-' "
                             "(it names files)", repr(rec["unit"]))
        if rec["unit"] in units:
            raise InputError(shown, f"line {rec['_line']}: unit", "unique unit ids", f"'{rec['unit']}' twice")
        units[rec["unit"]] = Unit(rec["unit"], rec["parent"], rec["zh"], rec["en"])
    if not units:
        raise InputError(shown, "", "at least one unit", "only the header")
    for u in units.values():
        if u.parent and u.parent not in units:
            raise InputError(shown, f"unit {u.unit}: parent", "a unit listed in the file", repr(u.parent),
                             did_you_mean(u.parent, units))
    for u in units.values():
        chain = [u.unit]
        while units[chain[-1]].parent:
            chain.append(units[chain[-1]].parent)
            if chain[-1] in chain[:-1]:
                found = "the unit itself" if len(chain) == 2 else "a cycle " + " -> ".join(chain)
                raise InputError(shown, f"unit {u.unit}: parent", "a parent that is not the unit or one of its parts",
                                 found)
    return units


def parse_row(rec: dict, shown: str, where: str, units: dict[str, Unit], origin: str = "ledger") -> Row:
    """Validate one ledger record (a dict of strings or TOML values)."""
    def bad(key, expected, found, fix=None):
        raise InputError(shown, f"{where}: {key}", expected, found, fix)

    unit = str(rec.get("unit", ""))
    if unit not in units:
        bad("unit", "a unit id from units.csv", repr(unit), did_you_mean(unit, units))
    year = whole_number(rec.get("year", ""))
    if year is None:
        bad("year", "a year such as 2024", repr(rec.get("year")))
    if not 1990 <= year <= 2100:
        bad("year", "a year between 1990 and 2100", repr(year))
    value = number(rec.get("value", ""))
    if value is None:
        bad("value", "a number", repr(rec.get("value")))
    if not math.isfinite(value) or value < 0:
        bad("value", "a finite number >= 0", repr(rec.get("value")))
    kind = str(rec.get("kind", ""))
    if kind not in KINDS:
        bad("kind", "one of actual, target, derived", repr(kind), did_you_mean(kind, KINDS))
    derived_from = str(rec.get("derived_from", ""))
    if kind == "derived" and derived_from not in ("actual", "target"):
        bad("derived_from", "actual or target for a derived row", repr(derived_from))
    if kind == "derived" and not str(rec.get("derivation", "")):
        bad("derivation", "the arithmetic of a derived value", "an empty field")
    indicator = str(rec.get("indicator", ""))
    if not indicator or not indicator.replace("_", "").isalnum() or indicator.lower() != indicator:
        bad("indicator", "a snake_case indicator id", repr(indicator))
    for key in ("source_file", "passage"):
        if not str(rec.get(key, "")):
            bad(key, "the source of the figure", "an empty field")
    bound = str(rec.get("bound", "") or "eq")
    if bound not in BOUNDS:
        bad("bound", "eq (an exact value) or ge (a lower bound, 'more than')", repr(bound), did_you_mean(bound, BOUNDS))
    return Row(unit, indicator, year, value, kind, derived_from, str(rec.get("definition", "")),
               str(rec["source_file"]), str(rec["passage"]), str(rec.get("derivation", "")), origin, bound)


def load_ledger(path: Path, shown: str, units: dict[str, Unit]) -> list[Row]:
    recs = _read_csv(path, shown, LEDGER_COLUMNS)
    if not recs:
        raise InputError(shown, "", "at least one published figure", "only the header")
    rows = [parse_row(rec, shown, f"line {rec['_line']}", units) for rec in recs]
    check_unique(rows, shown, [f"line {rec['_line']}" for rec in recs])
    check_parts(rows, units, shown)
    return rows


def whole_number(v) -> int | None:
    """An integer from an int, an integral float (2024.0) or a string of either ("2024",
    "2024.0", as spreadsheets write them); None for anything else."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    try:
        f = float(str(v).strip())
    except ValueError:
        return None
    return int(f) if math.isfinite(f) and f.is_integer() else None


def number(v) -> float | None:
    """A float from a number or a text such as "1010", "1,010" or "1010.5"; None otherwise."""
    if isinstance(v, bool):
        return None
    s = str(v).strip()
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    try:
        return float(s)
    except ValueError:
        return None


def interval(r: Row) -> tuple[float, float]:
    """The values a figure allows: an exact published value itself, a derived value within
    1% (it comes from rounded published percentages), a lower bound everything above it."""
    if r.bound == "ge":
        return (r.value, math.inf)
    tol = 0.01 * abs(r.value) if r.kind == "derived" else 0.0
    return (r.value - tol, r.value + tol)


def consistent(a: Row, b: Row) -> bool:
    """Two figures of the same unit, indicator, year and kind can both be true."""
    (la, ha), (lb, hb) = interval(a), interval(b)
    return max(la, lb) <= min(ha, hb)


def describe(r: Row) -> str:
    """A figure in a message: 'yuyao hte_valid 2024 actual 1,032 (ledger)'."""
    v = f"{r.value:,.0f}" if float(r.value).is_integer() else f"{r.value:,g}"
    return f"{r.unit} {r.indicator} {r.year} {r.kind} {'> ' if r.bound == 'ge' else ''}{v} ({r.origin})"


def check_unique(rows: list[Row], shown: str, where: list[str] | None = None) -> None:
    """Figures of the same cell must agree: exact values equal, derived values within 1%,
    lower bounds at or below the exact value; and the same actual may not be written twice
    (a copied row would read as a second publication)."""
    seen: dict[tuple, list[tuple[int, Row]]] = {}
    for i, r in enumerate(rows):
        key = (r.unit, r.indicator, r.year, r.is_actual)
        for j, s in seen.get(key, []):
            if r.is_actual and (s.kind, s.value, s.bound, s.derived_from) == (r.kind, r.value, r.bound, r.derived_from) \
                    and s.origin == r.origin:
                at = f" ({where[j]} and {where[i]})" if where and i < len(where) else ""
                raise InputError(shown, f"{r.unit} {r.indicator} {r.year}",
                                 "one actual per unit, indicator and year (each is fitted)",
                                 f"the same actual twice{at}", "delete one of them")
            if not consistent(s, r):
                raise InputError(shown, f"{r.unit} {r.indicator} {r.year}",
                                 "figures of the same unit, indicator, year and kind that agree",
                                 f"{describe(s)} and {describe(r)}", "correct or remove one of them")
        seen.setdefault(key, []).append((i, r))


def check_parts(rows: list[Row], units: dict[str, Unit], shown: str, tol: float = 0.5,
                additive=None) -> None:
    """Sub-units must add up to their unit wherever all of them have a figure; and where only
    some have an actual, those may not exceed their unit's actual (checked for the
    ``additive`` indicators only, counts of firms, when given). Lower bounds ('ge') give inequalities."""
    children: dict[str, list[str]] = {}
    for u in units.values():
        if u.parent:
            children.setdefault(u.parent, []).append(u.unit)
    index: dict[tuple, tuple[float, float]] = {}
    for r in rows:   # the tightest interval known for each cell
        key = (r.unit, r.indicator, r.year, r.is_actual)
        lo, hi = interval(r)
        if key in index:
            lo, hi = max(lo, index[key][0]), min(hi, index[key][1])
        index[key] = (lo, hi)
    for (unit, ind, year, act), (plo, phi) in sorted(index.items()):
        kids = children.get(unit)
        if not kids:
            continue
        vals = [index.get((k, ind, year, act)) for k in kids]
        known = [v for v in vals if v is not None]
        if not known:
            continue
        slo, shi = sum(v[0] for v in known), sum(v[1] for v in known)
        complete = len(known) == len(kids)
        if complete and (slo > phi + tol or shi < plo - tol):
            total = f"{slo:g}" if slo == shi else f"at least {slo:g}" if math.isinf(shi) else f"{slo:g}-{shi:g}"
            parent = f"{plo:g}" if plo == phi else f"at least {plo:g}" if math.isinf(phi) else f"{plo:g}-{phi:g}"
            raise InputError(shown, f"{unit} {ind} {year}",
                             f"the sub-units ({', '.join(kids)}) to add up to {parent}",
                             f"a sum of {total}", "correct the sub-unit rows or the total")
        if not complete and act and additive is not None and ind in additive and slo > phi + tol:
            have = [k for k, v in zip(kids, vals) if v is not None]
            raise InputError(shown, f"{unit} {ind} {year}",
                             f"the sub-units with a figure ({', '.join(have)}) to add up to at most {phi:g}",
                             f"a sum of {slo:g}", "correct the sub-unit rows or the total")


def rows_to_frame(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame([r.__dict__ for r in rows])
