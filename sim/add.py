"""``sim add``: append one published figure to a scenario file as an [[observations]] block.

The figure is checked the way ``sim check`` checks a hand-written block (units, indicators
and years of the scenario, with "did you mean"; a figure that contradicts a ledger row or
an earlier block; sub-units that no longer add up), then appended as text: the file's
comments, layout, line endings and byte-order mark stay as they are (the TOML is never
re-serialised). The new file is written beside the old one, parsed and loaded in full, and
only then renamed over it (atomic), so a failure leaves the file untouched.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from .data import Row, check_parts, consistent, describe, number, whole_number
from .errors import InputError, raise_if_interrupted
from .observations import check_figure, fit_status, known_indicators, scenario_units
from .results import target_phrase
from .scenario import NO_PASSAGE, load_scenario


@dataclass(frozen=True)
class Added:
    block: str                # the text appended (or that would be)
    row: Row
    written: bool             # False for a dry run or a figure already recorded
    duplicate_of: str = ""    # the row that already holds the same figure
    supersedes: tuple = ()    # rows of the same cell this figure makes redundant (a bound, a derived value)
    fitted: bool = False
    why_not: str = ""
    targets: tuple = ()       # (target row, phrase) of targets this actual settles

    def lines(self, shown: str, dry_run: bool) -> list[str]:
        """What ``sim add`` prints about the figure (``shown``: the scenario file as named)."""
        if self.duplicate_of:
            return [f"{shown}: already recorded: {self.duplicate_of}; nothing added"]
        out = [f"{'would add' if dry_run else 'added'} to {shown}:"]
        out += [f"  {line}" for line in self.block.splitlines()]
        out += [f"supersedes {s}" for s in self.supersedes]
        if self.row.is_actual:
            out.append("the next run fits it" if self.fitted else f"listed in the next run, not fitted: {self.why_not}")
        out += [f"target {t.unit} {t.indicator} {t.year} {t.value:,.0f}: {phrase}" for t, phrase in self.targets]
        return out


def parse_value(text: str, bound: str | None, file: str) -> tuple[float, str]:
    """'1010', '1,010', '1010.0', '> 480' or '>=480' (a lower bound) -> (value, bound)."""
    s = str(text).strip()
    ge = s[:1] in (">", "≥") or s[:2] == ">="
    if ge:
        s = s.lstrip(">=≥ ").strip()
        if bound == "eq":
            raise InputError(file, "--value", "a plain number with --bound eq", repr(text), "drop --bound eq or the '>'")
    v = number(s)
    if v is None:
        raise InputError(file, "--value", "a number such as 1010 (or > 480 for a lower bound)", repr(text))
    if not math.isfinite(v) or v < 0:
        raise InputError(file, "--value", "a finite number >= 0", repr(text))
    return v, ("ge" if ge else (bound or "eq"))


def toml_string(s: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML; DEL must be escaped too)."""
    return json.dumps(s, ensure_ascii=False).replace("\x7f", "\\u007f")


def block_text(r: Row, passage_given: bool, nl: str = "\n") -> str:
    value = str(int(r.value)) if float(r.value).is_integer() else repr(float(r.value))
    lines = ["[[observations]]", f"unit = {toml_string(r.unit)}", f"indicator = {toml_string(r.indicator)}",
             f"year = {r.year}", f"value = {value}"]
    if r.kind != "actual":
        lines.append(f"kind = {toml_string(r.kind)}")
    if r.bound != "eq":
        lines.append(f"bound = {toml_string(r.bound)}")
    lines.append(f"source_file = {toml_string(r.source_file)}")
    if passage_given:
        lines.append(f"passage = {toml_string(r.passage)}")
    return nl.join(lines) + nl


def add_figure(path: str | Path, unit: str, indicator: str, year, value, source: str, passage: str | None = None,
               kind: str = "actual", bound: str | None = None, dry_run: bool = False) -> Added:
    """Validate one figure against the scenario at ``path`` and append it (see module doc)."""
    path = Path(path)
    shown = str(path)
    sc = load_scenario(path)   # the file must be valid before anything is added
    y = whole_number(year)
    if y is None:
        raise InputError(shown, "--year", "a year such as 2024", repr(year))
    if not 1990 <= y <= 2100:
        raise InputError(shown, "--year", "a year between 1990 and 2100", str(y))
    v, bound = parse_value(value, bound, shown)
    if kind not in ("actual", "target"):
        raise InputError(shown, "--kind", "actual or target", repr(kind))
    if not str(source).strip():
        raise InputError(shown, "--source", "where the figure was published (a document, a release)", "an empty text")
    if not indicator or not indicator.replace("_", "").isalnum() or indicator.lower() != indicator:
        raise InputError(shown, "--indicator", f"a snake_case indicator id such as {sc.structure.headline}", repr(indicator))
    given = passage is not None and str(passage).strip() != ""
    row = Row(unit, indicator, y, v, kind, "", "", str(source).strip(), str(passage).strip() if given else NO_PASSAGE,
              "", path.name, bound)
    ledger_rows = [r for r in sc.rows if r.origin == "ledger"]
    check_figure(row, shown, lambda k: f"--{k}", allowed_units=scenario_units(sc.unit, sc.pool_with, sc.units),
                 indicators=known_indicators(sc.structure, ledger_rows), structure=sc.structure, horizon=sc.horizon)

    same_cell = [r for r in sc.rows if (r.unit, r.indicator, r.year, r.is_actual) == (unit, indicator, y, row.is_actual)]
    for r in same_cell:
        if not consistent(r, row):
            raise InputError(shown, "--value", f"a figure that agrees with {describe(r)}, source {r.source_file}",
                             f"{'> ' if bound == 'ge' else ''}{v:,g}",
                             "check the figure, or correct or remove that row first")
    dup = next((r for r in same_cell if (r.value, r.bound, r.kind) == (v, bound, kind)), None)
    check_parts(list(sc.rows) + [row], sc.units, shown, additive=sc.structure.indicators)

    raw = path.read_bytes()
    text = raw.decode("utf-8-sig")
    nl = "\r\n" if "\r\n" in text else "\n"
    block = block_text(row, given, nl)
    if dup is not None:
        return Added(block, row, False, duplicate_of=describe(dup))
    sep = ("" if raw.endswith(b"\n") or not raw else nl) + nl
    new_raw = raw + (sep + block).encode("utf-8")
    _check_appended(raw, new_raw, shown)

    tmp_sc = _validate_copy(path, new_raw) if dry_run else _write_atomically(path, raw, new_raw)
    mine = [s for s in fit_status(tmp_sc) if s[0] == row]
    fitted, why = (mine[-1][1], mine[-1][2]) if mine else (False, "not an actual of the run's units")
    supersedes = tuple(describe(r) for r in same_cell if r.is_actual and row.is_actual)
    settled = ()
    if row.is_actual:
        settled = tuple((t, _phrase(t, row)) for t in sc.targets if (t.unit, t.indicator, t.year) == (unit, indicator, y))
    return Added(block, row, not dry_run, supersedes=supersedes, fitted=fitted, why_not=why, targets=settled)


def _phrase(t, r: Row) -> str:
    status = "met" if r.value >= t.value else ("missed" if r.bound == "eq" else "open")
    return target_phrase({"status": status, "target": t.value, "actual": r.value, "actual_bound": r.bound,
                          "p_met": float("nan")}, "en")


def _check_appended(raw: bytes, new_raw: bytes, shown: str) -> None:
    """The new text must parse to the old tables plus one more [[observations]] block."""
    old = tomllib.loads(raw.decode("utf-8-sig"))
    try:
        new = tomllib.loads(new_raw.decode("utf-8-sig"))
    except tomllib.TOMLDecodeError:
        raise InputError(shown, "observations", "an array of [[observations]] tables (or none) to append to",
                         "an 'observations' key of another kind", "rewrite it as [[observations]] blocks") from None
    added = new.get("observations", [])
    if not isinstance(added, list) or added[:-1] != old.get("observations", []) or \
            {k: v for k, v in new.items() if k != "observations"} != {k: v for k, v in old.items() if k != "observations"}:
        raise InputError(shown, "observations", "a file to which one [[observations]] block can be appended",
                         "a layout where appending changes other tables", "add the block by hand")


def _temp_beside(path: Path) -> tuple[int, str]:
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(str(path.parent), "", "a folder sim can write a temporary copy of the scenario file in",
                         f"a folder it cannot write to ({exc.strerror})") from None


def _validate_copy(path: Path, new_raw: bytes):
    """Write the new text to a hidden file beside ``path`` and load it as ``sim check`` would;
    return the loaded scenario (the hidden file is removed)."""
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(new_raw)
        return _load_as(path, Path(tmp))
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _load_as(path: Path, tmp: Path):
    """Load ``tmp`` as if it were ``path`` (messages and row origins name ``path``)."""
    try:
        sc = load_scenario(tmp)
    except InputError as e:
        raise InputError(str(path), e.key, e.expected, e.found.replace(tmp.name, path.name), e.fix) from None
    rows = tuple(replace(r, origin=path.name) if r.origin == tmp.name else r for r in sc.rows)
    return replace(sc, rows=rows, path=str(path))


def _write_atomically(path: Path, raw: bytes, new_raw: bytes):
    """Write ``new_raw`` to a hidden file beside ``path``, load it in full, and rename it over
    ``path`` (keeping its permissions) if ``path`` still holds ``raw``. Returns the scenario."""
    real = path.resolve()
    if not os.access(real, os.W_OK) or not os.stat(real).st_mode & 0o222:   # read-only, even for root
        raise InputError(str(path), "", "a scenario file you may write to", "a read-only file",
                         "make it writable, or add the block by hand")
    fd, tmp = _temp_beside(path)
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(new_raw)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, os.stat(real).st_mode & 0o7777)
        except OSError as exc:
            raise InputError(str(path), "", "room to write the new file beside it", f"an error ({exc.strerror})") from None
        sc = _load_as(path, Path(tmp))
        if real.read_bytes() != raw:
            raise InputError(str(path), "", "a file that no other program changes meanwhile",
                             "a file that changed while the figure was being added", "run sim add again")
        try:
            raise_if_interrupted()   # an interrupt Python swallowed leaves the file as it was
            os.replace(tmp, real)
        except OSError as exc:
            raise InputError(str(path), "", "a file sim can replace with the new version",
                             f"an error ({exc.strerror or exc}); the file is unchanged") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return sc
