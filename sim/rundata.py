"""A finished run folder read back: its tables and manifest, for figures and reports.

Figures and the meeting pack are drawn from these tables only (never from the raw paths),
so ``sim report RUN_FOLDER`` re-renders them, in either language, without simulating.

A run folder is input like any other: it may have been truncated by a full disk, edited
by hand or tampered with. :func:`load_run` checks every file before anything is drawn
(regular files of bounded size, complete lines, the columns and number columns each
table needs, the manifest's keys and types, every id a table uses known to the manifest)
and stops with one sentence naming the file otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError
from .tomlio import _CONTROL, MAX_TEXT, check_text, read_bytes

TABLES = ("projection", "targets", "scenarios", "flows", "costs", "calibration", "sources", "tornado")
OPTIONAL = ("tiers", "ranking", "goal")   # written since the meeting pack's pipeline and lever ranking

# table -> (id columns: text that must be present, number columns: numbers or empty)
SCHEMA = {
    "projection": (("unit", "scenario", "indicator", "year"), ("mean", "p05", "p10", "p25", "p50", "p75", "p90", "p95")),
    "targets": (("unit", "scenario", "indicator", "year"), ("target", "p_met", "mc_se", "median", "p10", "p90")),
    "scenarios": (("unit", "scenario", "indicator", "year"),
                  ("target", "p_met", "extra_vs_baseline_p50", "extra_vs_baseline_p10", "extra_vs_baseline_p90",
                   "extra_vs_baseline_mean", "extra_mc_se", "cost_to_year_p50_10k_yuan", "cost_to_year_p10_10k_yuan",
                   "cost_to_year_p90_10k_yuan", "extra_cost_mean_10k_yuan", "cost_per_extra_unit_10k_yuan")),
    "flows": (("unit", "scenario", "flow", "year"), ("mean", "p10", "p50", "p90")),
    "costs": (("scenario", "lever", "year"), ("mean_10k_yuan", "p10_10k_yuan", "p50_10k_yuan", "p90_10k_yuan")),
    "calibration": (("parameter", "label"), ("prior_median", "prior_p05", "prior_p95", "post_mean", "post_p05",
                                             "post_p95", "contraction", "rhat", "ess_bulk", "ess_tail")),
    "tiers": (("unit", "scenario", "tier", "year"), ("mean",)),
    "ranking": (("scenario",), ()),
    "goal": (("kind", "name"), ()),
    "sources": (("unit", "indicator", "year", "kind"), ("value",)),
    "tornado": (("scenario", "unit", "indicator", "year", "factor", "kind"),
                ("target", "factor_p10", "factor_p90", "outcome_at_p10", "outcome_at_p90", "outcome_median", "swing")),
}
INTEGER_COLUMNS = ("year",)
TEXT_COLUMNS = {"calibration": ("prior_source",), "sources": ("definition", "source_file", "passage")}

# The manifest's keys that figures and reports read, and their types.
S, I, N = str, int, (int, float)
LABEL = {"zh": S, "en": S}
MANIFEST = {
    "scenario": S, "package_version": S, "seed": I, "paths": I, "unit": S, "sub_units": [S], "pooled_with": [S],
    "pooling": ("optional", {"partially_pooled_rates": [S], "tau": N, "source": S}),
    "start_year": I, "last_actual_year": I, "horizon": I,
    "inputs_sha256_16": ("map", S),
    "calibration_notes": [S],
    "headline_target": ("optional", {"unit": S, "indicator": S, "year": I, "target": N}),
    "targets_not_scored": [{"unit": S, "indicator": S, "year": I, "value": N, "why": S}],
    "labels": {
        "scenario": LABEL,
        "units": ("map", LABEL),
        "indicators": ("map", {"zh": S, "en": S, "is_flow": bool}),
        "policies": [{"name": S, "zh": S, "en": S}],
        "levers": ("map", {"zh": S, "en": S, "strength": [N], "strength_source": S, "cost_note": S}),
        "rates": ("map", LABEL),
        "key_indicators": [S],
        "main_unit": S,
        "sub_units": [S],
        # written since the structure file declares them (a run folder from before has none)
        "headline": ("absent_ok", S),
        "headline_words": ("absent_ok", ("map", S)),
        "waterfall": ("absent_ok", [{"flows": [S], "sign": I, "zh": S, "en": S}]),
        "variants": ("absent_ok", ("map", LABEL)),
        "start_words": ("absent_ok", ("map", ("map", S))),
    },
}


@dataclass(frozen=True)
class RunData:
    folder: Path
    manifest: dict
    tables: dict

    def __getattr__(self, name):
        tables = self.__dict__.get("tables", {})
        if name in tables:
            return tables[name]
        raise AttributeError(name)

    @property
    def labels(self) -> dict:
        return self.manifest["labels"]

    def unit_label(self, unit: str, lang: str) -> str:
        return self.labels["units"][unit][lang]

    def ind_label(self, ind: str, lang: str) -> str:
        return self.labels["indicators"][ind][lang]

    def policy_label(self, name: str, lang: str) -> str:
        return next(p[lang] for p in self.labels["policies"] if p["name"] == name)

    @property
    def policy_names(self) -> list[str]:
        return [p["name"] for p in self.labels["policies"]]

    @property
    def main_unit(self) -> str:
        return self.labels["main_unit"]

    @property
    def sub_units(self) -> list[str]:
        return self.labels["sub_units"]

    @property
    def base_policy(self) -> str:
        """The policy in force (the first scenario of a run)."""
        return self.policy_names[0]

    @property
    def headline(self) -> str:
        """The headline indicator (a run folder from before it was recorded: its headline
        target's indicator, else its first key indicator)."""
        ht = self.manifest.get("headline_target")
        return self.labels.get("headline") or (ht["indicator"] if ht else self.labels["key_indicators"][0])

    def headline_words(self, lang: str) -> str:
        """The headline indicator in a few words, for figure titles."""
        return self.labels.get("headline_words", {}).get(lang) or self.ind_label(self.headline, lang)

    @property
    def waterfall(self) -> list[dict]:
        """Components of the headline stock's change: {flows, sign, zh, en} each."""
        return self.labels.get("waterfall", [])


def load_run(folder: str | Path, shown: str | None = None) -> RunData:
    """Read and check a run folder; ``shown`` is the folder as the user named it."""
    folder = Path(folder)
    shown = str(folder) if shown is None else shown
    if not folder.is_dir():
        raise InputError(shown, "", "a run folder written by 'sim run'",
                         "no such folder" if not folder.exists() else "a file")
    man = folder / "run.json"
    man_shown = _join(shown, "run.json")
    if not man.exists():
        raise InputError(shown, "run.json", "a run folder written by 'sim run'", "no run.json")
    _inside(man, folder, man_shown)
    raw = read_bytes(man, man_shown)
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(man_shown, "", "a JSON manifest in UTF-8", "bytes that are not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError(man_shown, f"line {exc.lineno}", "a JSON manifest",
                         "a damaged or truncated file" if exc.pos >= len(raw.rstrip()) - 1 else f"invalid JSON ({exc.msg})",
                         "rerun 'sim run'") from None
    except RecursionError:
        raise InputError(man_shown, "", "a JSON manifest", "nesting too deep to read") from None
    _check(manifest, MANIFEST, man_shown, "")
    _check_strings(manifest, man_shown, "")
    counts = manifest.get("tables") if isinstance(manifest.get("tables"), dict) else {}
    tables = {}
    for t in TABLES:
        p = folder / f"{t}.csv"
        if not p.exists():
            raise InputError(shown, f"{t}.csv", "every table of a finished run", "a missing file", "rerun 'sim run'")
        _inside(p, folder, _join(shown, f"{t}.csv"))
        tables[t] = read_table(p, _join(shown, f"{t}.csv"), *SCHEMA[t], text=TEXT_COLUMNS.get(t, ()),
                               rows=counts.get(f"{t}.csv"))
    for t in OPTIONAL:
        p = folder / f"{t}.csv"
        if p.exists():
            _inside(p, folder, _join(shown, f"{t}.csv"))
            tables[t] = read_table(p, _join(shown, f"{t}.csv"), *SCHEMA[t], rows=counts.get(f"{t}.csv"))
        else:
            tables[t] = pd.DataFrame()
    _check_ids(manifest, tables, shown)
    return RunData(folder, manifest, tables)


def _inside(p: Path, folder: Path, shown: str) -> None:
    """A run folder's file must be in the folder (not a link to a file elsewhere, whose
    content an error message could otherwise repeat)."""
    real, home = Path(os.path.realpath(p)), Path(os.path.realpath(folder))
    if real.parent != home:
        raise InputError(shown, "", "a file of the run folder", "a link to a file outside it")


def _join(folder: str, name: str) -> str:
    return name if folder in (".", "") else f"{folder.rstrip('/')}/{name}"


def read_table(path: Path, shown: str, ids=(), numbers=(), text=(), rows=None) -> pd.DataFrame:
    """A CSV table written by sim, checked: complete lines, the ``ids`` columns present and
    filled, the ``numbers`` columns numbers or empty, ``rows`` rows if given."""
    raw = read_bytes(path, shown)
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(shown, f"byte {exc.start}", "UTF-8 text", "bytes that are not UTF-8") from None
    if not content.strip():
        if rows == 0 and content == "\n":   # a table with no rows and no columns, as run.json records
            return pd.DataFrame()
        raise InputError(shown, "", "a table with a header line", "an empty file", "rerun 'sim run'")
    if not content.endswith("\n"):
        raise InputError(shown, f"line {content.count(chr(10)) + 1}", "complete lines",
                         "a truncated last line", "rerun 'sim run'")
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = next(reader)
        width = len(header)
        n = 0
        for record in reader:
            n += 1
            if len(record) != width:
                raise InputError(shown, f"line {reader.line_num}", f"{width} fields (as in the header)",
                                 f"{len(record)}", "the file is damaged; rerun 'sim run'")
    except csv.Error as exc:
        raise InputError(shown, f"line {reader.line_num}", "valid CSV", f"a CSV error ({exc})") from None
    if rows is not None and isinstance(rows, int) and not isinstance(rows, bool) and n != rows:
        raise InputError(shown, "", f"{rows} rows (as run.json records)", f"{n}", "the file is damaged; rerun 'sim run'")
    if n == 0 and header in ([], [""]):
        return pd.DataFrame()          # a table with nothing in it (pandas writes '""')
    for col in tuple(ids) + tuple(numbers) + tuple(text):
        if col not in header:
            raise InputError(shown, "header", f"a column '{col}'", "no such column", "rerun 'sim run'")
    if len(set(header)) != len(header):
        raise InputError(shown, "header", "each column once", "a repeated column")
    cells = pd.read_csv(io.StringIO(content), keep_default_na=False, na_values=[""], dtype=str)
    if _CONTROL.search(content) or "$" in content or max(map(len, content.split("\n"))) > MAX_TEXT:
        for col in header:
            text = cells[col].fillna("")
            suspect = text.str.contains(_CONTROL.pattern, regex=True) | (text.str.count(r"\$") >= 2) | \
                (text.str.len() > MAX_TEXT)
            for i in suspect[suspect].index:
                check_text(text[i], shown, f"line {i + 2}: {col}")
    for col in ids:
        empty = cells[col].isna()
        if empty.any():
            raise InputError(shown, f"line {int(empty.idxmax()) + 2}: {col}", "a value", "an empty field",
                             "the file is damaged; rerun 'sim run'")
    for col in tuple(numbers) + tuple(c for c in ids if c in INTEGER_COLUMNS):
        nums = pd.to_numeric(cells[col], errors="coerce")
        bad = (nums.isna() & cells[col].notna()) | ~nums.fillna(0).map(math.isfinite).astype(bool)
        if col in INTEGER_COLUMNS:
            bad |= nums.notna() & (nums.fillna(0) % 1 != 0)
        if bad.any():
            i = int(bad.idxmax())
            raise InputError(shown, f"line {i + 2}: {col}", "a whole year" if col in INTEGER_COLUMNS else "a finite number",
                             repr(cells[col][i]), "the file is damaged; rerun 'sim run'")
    return pd.read_csv(io.StringIO(content))


def _check(value, spec, shown: str, where: str) -> None:
    """Check a JSON value against a spec: a type or tuple of types, [spec] (a list of),
    {key: spec} (a table with at least those keys), ("map", spec), ("optional", spec): may be
    null, ("absent_ok", spec): a key that may be missing."""
    at = where or "(top level)"
    if isinstance(spec, tuple) and spec and spec[0] == "optional":
        if value is not None:
            _check(value, spec[1], shown, where)
        return
    if isinstance(spec, tuple) and spec and spec[0] == "map":
        if not isinstance(value, dict):
            raise InputError(shown, at, "a table", _kind(value), "rerun 'sim run'")
        for k, v in value.items():
            _check(v, spec[1], shown, f"{where}.{k}" if where else k)
        return
    if isinstance(spec, list):
        if not isinstance(value, list):
            raise InputError(shown, at, "a list", _kind(value), "rerun 'sim run'")
        for i, v in enumerate(value):
            _check(v, spec[0], shown, f"{where}[{i}]")
        return
    if isinstance(spec, tuple) and spec and spec[0] == "absent_ok":
        _check(value, spec[1], shown, where)
        return
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            raise InputError(shown, at, "a table", _kind(value), "rerun 'sim run'")
        for k, sub in spec.items():
            if k not in value and isinstance(sub, tuple) and sub and sub[0] == "absent_ok":
                continue
            if k not in value:
                raise InputError(shown, f"{where}.{k}" if where else k, "a key written by 'sim run'",
                                 "nothing (the key is missing)", "rerun 'sim run'")
            _check(value[k], sub, shown, f"{where}.{k}" if where else k)
        return
    types = spec if isinstance(spec, tuple) else (spec,)
    ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
    if ok and isinstance(value, float) and not math.isfinite(value):
        ok = False
    if not ok:
        names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
        raise InputError(shown, at, " or ".join(dict.fromkeys(names[t] for t in types)),
                         f"{_kind(value)} {json.dumps(value, ensure_ascii=False)[:60]}", "rerun 'sim run'")


def _check_strings(value, shown: str, where: str) -> None:
    if isinstance(value, str):
        check_text(value, shown, where or "(top level)")
    elif isinstance(value, dict):
        for k, v in value.items():
            check_text(str(k), shown, where or "(top level)")
            _check_strings(v, shown, f"{where}.{k}" if where else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_strings(v, shown, f"{where}[{i}]")


def _kind(value) -> str:
    return {dict: "a table", list: "a list", str: "a string", bool: "true or false", int: "an integer",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _check_ids(manifest: dict, tables: dict, shown: str) -> None:
    """Every unit, scenario, indicator, lever and rate a table names has its labels in run.json."""
    lab = manifest["labels"]
    known = {
        "unit": set(lab["units"]),
        "scenario": {p["name"] for p in lab["policies"]},
        "indicator": set(lab["indicators"]),
        "lever": set(lab["levers"]),
    }
    if lab["main_unit"] not in known["unit"]:
        raise InputError(_join(shown, "run.json"), "labels.main_unit", "a unit of labels.units",
                         repr(lab["main_unit"]), "rerun 'sim run'")
    for u in lab["sub_units"]:
        if u not in known["unit"]:
            raise InputError(_join(shown, "run.json"), "labels.sub_units", "units of labels.units", repr(u),
                             "rerun 'sim run'")
    if not known["scenario"]:
        raise InputError(_join(shown, "run.json"), "labels.policies", "at least one scenario", "none", "rerun 'sim run'")
    for ind in lab["key_indicators"]:
        if ind not in known["indicator"]:
            raise InputError(_join(shown, "run.json"), "labels.key_indicators", "indicators of labels.indicators",
                             repr(ind), "rerun 'sim run'")
    ht = manifest.get("headline_target")
    if ht is not None and (ht["unit"] not in known["unit"] or ht["indicator"] not in known["indicator"]):
        raise InputError(_join(shown, "run.json"), "headline_target", "a unit and indicator of labels",
                         f"{ht['unit']!r} {ht['indicator']!r}", "rerun 'sim run'")
    for name, df in tables.items():
        if name in ("sources", "calibration"):
            continue
        for col, ids in known.items():
            if col in df.columns:
                unknown = sorted(set(df[col].dropna()) - ids)
                if unknown:
                    raise InputError(_join(shown, f"{name}.csv"), col, f"ids labelled in run.json ({', '.join(sorted(ids))})",
                                     repr(unknown[0]), "the folder is damaged; rerun 'sim run'")
    tor = tables["tornado"]
    if {"factor", "kind"} <= set(tor.columns):
        for kind, ids in (("rate", set(lab["rates"])), ("lever", set(lab["levers"]))):
            unknown = sorted(set(tor.factor[tor.kind == kind].dropna()) - ids)
            if unknown:
                raise InputError(_join(shown, "tornado.csv"), "factor", f"{kind}s labelled in run.json",
                                 repr(unknown[0]), "the folder is damaged; rerun 'sim run'")
