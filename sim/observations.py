"""Published figures in use: the checks a new figure must pass, which actuals the fit uses
(and why not), and the actual known for a cell.

Fit rules (today's model; :class:`sim.calibrate.Model` applies the same ones):

* fitted: actuals, and values derived from actuals, of the fit units (the scenario's unit
  and the units it pools with), for indicators the structure file declares, from the unit's
  start year on (flows from the year after it: the model starts from stocks);
* sub-units' actuals are fitted as their share of the unit's figure, except those that
  define the unit's split (they are the split's prior);
* not fitted, with the reason: indicators the model does not declare, years before the
  start year, flows of the start year, and figures made redundant by another figure of
  the same cell (a duplicate; a derived value or a lower bound where the exact published
  value is known; a lower bound below a higher one).

Figures of one cell (unit, indicator, year, actual or not) must agree: see
:func:`sim.data.consistent`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import Row, describe
from .errors import InputError, did_you_mean
from .starts import fit_rows



def scenario_units(unit: str, pool_with, units: dict) -> list[str]:
    """The units a scenario file may hold figures of: its unit, the units it pools with,
    and their sub-units."""
    out = []
    for u in (unit, *pool_with):
        out += [u] + [x.unit for x in units.values() if x.parent == u]
    return list(dict.fromkeys(out))


def known_indicators(structure, rows) -> list[str]:
    """Indicators a figure may have: those the structure declares and those the ledger uses."""
    return list(dict.fromkeys(list(structure.indicators) + sorted({r.indicator for r in rows})))


def check_figure(r: Row, file: str, key, *, allowed_units, indicators, structure, horizon: int) -> None:
    """Raise one sentence if a new figure does not fit the scenario: a unit outside it, an
    unknown indicator (did you mean), a year after the horizon, a fractional count of firms.
    ``key(field)`` names the field in the message (``--unit`` or ``observations[0]: unit``)."""
    if r.unit not in allowed_units:
        shown = ", ".join(allowed_units[:8]) + (", ..." if len(allowed_units) > 8 else "")
        raise InputError(file, key("unit"), f"one of the scenario's units ({shown})", repr(r.unit),
                         did_you_mean(r.unit, allowed_units))
    if r.indicator not in indicators:
        raise InputError(file, key("indicator"), "an indicator declared in the structure file or used in the ledger",
                         repr(r.indicator), did_you_mean(r.indicator, indicators))
    if r.year > horizon:
        raise InputError(file, key("year"), f"a year up to the scenario's horizon {horizon}", str(r.year))
    if r.indicator in structure.indicators and r.kind != "derived" and not float(r.value).is_integer():
        raise InputError(file, key("value"), f"a whole number of firms for {r.indicator}", f"{r.value:g}")


def _rank(r: Row):
    """Which figure of a cell the fit uses: the exact published value, then a derived one,
    then the highest lower bound."""
    if r.bound == "ge":
        return (2, -r.value)
    return (1 if r.kind == "derived" else 0, 0.0)


def superseded(rows) -> dict[int, str]:
    """{index in ``rows``: reason} of the actuals another actual of the same cell makes
    redundant (the fit leaves them out)."""
    cells: dict[tuple, list[int]] = {}
    for k, r in enumerate(rows):
        if r.is_actual:
            cells.setdefault((r.unit, r.indicator, r.year), []).append(k)
    out = {}
    for ks in cells.values():
        if len(ks) < 2:
            continue
        best = min(ks, key=lambda k: (_rank(rows[k]), k))
        b = rows[best]
        for k in ks:
            if k == best:
                continue
            r = rows[k]
            same = (r.value, r.bound) == (b.value, b.bound)
            out[k] = f"{'a duplicate of' if same else 'superseded by'} {describe(b)}"
    return out


def fit_status(sc) -> list[tuple[Row, bool, str]]:
    """(row, fitted, why not) for every actual of the run's units (the scenario's unit, its
    sub-units and the units it pools with), in ledger order: the rules of
    :func:`sim.starts.fit_rows`, which the fit itself uses."""
    verdict = {}
    for u in sc.fit_units:
        fitted, left = fit_rows(sc.starts[u].spec, sc.rows, sc.structure.indicators)
        verdict.update({id(r): (True, "") for r, _ in fitted})
        verdict.update({id(r): (False, why) for r, why in left})
    units = set(sc.report_units) | set(sc.pool_with)
    out = []
    for r in sc.rows:
        if r.unit not in units or not r.is_actual:
            continue
        if r.indicator not in sc.structure.indicators:
            out.append((r, False, "indicator not modelled (not declared in the structure file)"))
        else:
            out.append((r,) + verdict.get(id(r), (False, "not a unit of this scenario's fit")))
    return out


@dataclass(frozen=True)
class Actual:
    """The actual known for a cell: its value, 'eq' or 'ge', and where it comes from."""
    value: float
    bound: str
    source: str


def actual_of(sc, unit: str, indicator: str, year: int) -> Actual | None:
    """The best actual of a cell (exact, then derived, then the highest lower bound), else
    the sum of the sub-units' actuals when every sub-unit has one; None if neither."""
    rows = [r for r in sc.rows if r.is_actual and (r.unit, r.indicator, r.year) == (unit, indicator, year)]
    if rows:
        r = min(rows, key=_rank)
        return Actual(float(r.value), r.bound, r.source_file)
    kids = [u.unit for u in sc.units.values() if u.parent == unit]
    if not kids:
        return None
    parts = [actual_of(sc, k, indicator, year) for k in kids]
    if any(p is None for p in parts):
        return None
    return Actual(float(sum(p.value for p in parts)), "ge" if any(p.bound == "ge" for p in parts) else "eq",
                  "sum of " + ", ".join(kids))
