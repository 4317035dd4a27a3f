"""A finished run folder read back: its tables and manifest, for figures and reports.

Figures and the meeting pack are drawn from these tables only (never from the raw paths),
so ``sim report RUN_FOLDER`` re-renders them, in either language, without simulating.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .errors import InputError

TABLES = ("projection", "targets", "scenarios", "flows", "costs", "calibration", "sources", "tornado")
OPTIONAL = ("tiers", "ranking", "goal")   # written since the meeting pack's pipeline and lever ranking


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


def load_run(folder: str | Path) -> RunData:
    folder = Path(folder)
    man = folder / "run.json"
    if not man.is_file():
        raise InputError(str(folder), "run.json", "a run folder written by 'sim run'", "no run.json")
    try:
        manifest = json.loads(man.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(man), "", "a JSON manifest", f"an unreadable file ({exc})") from None
    if isinstance(manifest, dict) and isinstance(manifest.get("labels"), dict):
        manifest["labels"] = _printable(manifest["labels"])
    tables = {}
    for t in TABLES:
        p = folder / f"{t}.csv"
        if not p.is_file():
            raise InputError(str(folder), f"{t}.csv", "every table of a finished run", "a missing file")
        try:
            tables[t] = pd.read_csv(p, keep_default_na=True)
        except pd.errors.EmptyDataError:
            tables[t] = pd.DataFrame()
    for t in OPTIONAL:
        p = folder / f"{t}.csv"
        try:
            tables[t] = pd.read_csv(p) if p.is_file() else pd.DataFrame()
        except pd.errors.EmptyDataError:
            tables[t] = pd.DataFrame()
    return RunData(folder, manifest, tables)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _printable(v):
    """Labels with control characters replaced by spaces (they are drawn in figures)."""
    if isinstance(v, str):
        return _CONTROL.sub(" ", v)
    if isinstance(v, dict):
        return {k: _printable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_printable(x) for x in v]
    return v
