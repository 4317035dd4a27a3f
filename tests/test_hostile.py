"""Hostile input and faults (issue 11): every bad input is one sentence with exit status 2,
no traceback and nothing written; every fault is survived; nothing leaks.

The first part is one table of cases, each run through the command line in-process: a
malformed file, a hostile value, a bad option. Every case asserts one line in the
template ("error: FILE: KEY: expected X, got Y[; fix]." or a question), the exit status,
no traceback, the pattern of the message, and that nothing was written (no results/
folder at all, no fit cache). The second part runs real processes: interrupts (SIGINT to
the process group, SIGTERM), kill -9, a damaged fit cache, damaged run folders, read-only
output and concurrent runs. The security cases (data paths outside the project, links,
devices) have their own section.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import main

RUN = ["--paths", "200", "--out", "results", "--no-figures"]
Y, C, J, Z = "scenarios/yuyao.toml", "scenarios/cixi.toml", "scenarios/jiangbei.toml", "scenarios/zhenhai.toml"


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

def edit(d: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    p = d / rel
    text = p.read_text(encoding="utf-8")
    assert old in text, (rel, old)
    p.write_text(text.replace(old, new, count), encoding="utf-8")


def append(d: Path, rel: str, text: str) -> None:
    with open(d / rel, "a", encoding="utf-8") as fh:
        fh.write(text)


def line_of(d: Path, rel: str, start: str) -> str:
    return next(x for x in (d / rel).read_text(encoding="utf-8").splitlines() if x.startswith(start))


def written(d: Path) -> list[str]:
    """Everything a failed command must not leave: results/ content and fit caches."""
    out = []
    if (d / "results").exists():
        out += [str(p.relative_to(d)) for p in (d / "results").rglob("*")] or ["results/"]
    fitted = d / "calibration" / "fitted"
    if fitted.exists():
        out += [str(p.relative_to(d)) for p in fitted.iterdir()]
    return out


def one_line(text: str) -> str:
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1, text
    return lines[0]


def assert_sentence(line: str) -> None:
    assert "Traceback" not in line
    assert line.startswith("error: "), line
    assert line.endswith((".", "?")) and not line.endswith(("?.", "..")), line
    assert ": expected " in line and ", got " in line, line   # the one template


# ---------------------------------------------------------------------------------------
# the table: (id, category, setup(d) or None, argv, pattern)
# ---------------------------------------------------------------------------------------

CASES = []


def case(cid, category, argv, pattern, setup=None, marks=()):
    CASES.append(pytest.param(category, setup, argv, pattern, id=f"{category}:{cid}", marks=marks))


def nested_includes(d, n):
    lines = ["\n"]
    prev = "baseline"
    for i in range(n):
        lines.append(f'[scenarios.s{i}]\ninclude = "{prev}"\nzh = "方案{i}"\nen = "s{i}"\n')
        prev = f"s{i}"
    append(d, Y, "\n".join(lines))


def fifo(d, rel):
    p = d / rel
    p.unlink()
    os.mkfifo(p)


# -- tracebacks that are now sentences ---------------------------------------------------
# (a horizon at the last actual year projects nothing; with no target up to it there is nothing to report)
case("horizon at the last actual year", "traceback", ["run", Y] + RUN,
     r"yuyao\.toml: targets: expected at least one target of yuyao .* and the horizon 2024",
     lambda d: edit(d, Y, "horizon = 2026", "horizon = 2024"))
case("horizon before the last actual year", "traceback", ["check", Y],
     r"yuyao\.toml: scenario\.horizon: expected a year at or after .* got 2023",
     lambda d: edit(d, Y, "horizon = 2026", "horizon = 2023"))
case("ledger with only its header", "traceback", ["run", Y] + RUN,
     r"ledger\.csv: expected at least one published figure, got only the header",
     lambda d: (d / "calibration/ledger.csv").write_text(
         (d / "calibration/ledger.csv").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"))
case("units file with only its header", "traceback", ["check", Y],
     r"units\.csv: expected at least one unit, got only the header",
     lambda d: (d / "calibration/units.csv").write_text("unit,parent,zh,en\n", encoding="utf-8"))
case("no target to score", "traceback", ["run", Y] + RUN,
     r"yuyao\.toml: targets: expected at least one target of yuyao .* got none \(\d+ skipped: indicator not modelled",
     lambda d: [edit(d, "calibration/ledger.csv", f"yuyao,{i},2025,", f"yuyao,{i}_x,2025,")
                for i in ("hte_valid", "hte_new", "tech_sme_new")])
case("NaN in a prior pair", "traceback", ["run", Y] + RUN,
     r"priors\.toml: rates\.sme_cert\.beta: expected \[a, b\], two finite numbers.* got \[nan, 14\]",
     lambda d: edit(d, "calibration/priors.toml", "beta = [2.5, 14]", "beta = [nan, 14]"))
case("inf in a prior pair", "traceback", ["check", Y],
     r"priors\.toml: rates\.sme_cert\.beta: expected \[a, b\], two finite numbers.* got \[2\.5, inf\]",
     lambda d: edit(d, "calibration/priors.toml", "beta = [2.5, 14]", "beta = [2.5, inf]"))
case("NaN in a lever strength", "traceback", ["run", Y] + RUN,
     r"levers\.toml: cixi_reserve_voucher\.strength: expected \[low, high\], two finite numbers from -10 to 10 "
     r"with low <= high, got \[nan, 0\.4\]",
     lambda d: edit(d, "calibration/levers.toml", "strength = [0.0, 0.4]", "strength = [nan, 0.4]"))
case("NaN in a start-level pair", "traceback", ["check", Y],
     r"starts\.toml: (yuyao|shares)\.leader_share\.beta: expected \[a, b\], two finite numbers",
     lambda d: edit(d, "calibration/starts.toml", "beta = [1, 39]", "beta = [1, nan]"))
case("policy name with a slash", "traceback", ["run", Y] + RUN,
     r"yuyao\.toml: scenarios\.a/b: expected a key without '/', '\\' or control characters .* got 'a/b'",
     lambda d: append(d, Y, '\n[scenarios."a/b"]\ninclude = "baseline"\nzh = "甲"\nen = "a"\n'))
case("policy name starting with '='", "traceback", ["check", Y],
     r"yuyao\.toml: scenarios\.=1\+1: expected a scenario name of letters, digits, '_' and '-'.* got '=1\+1'",
     lambda d: append(d, Y, '\n[scenarios."=1+1"]\ninclude = "baseline"\nzh = "甲"\nen = "a"\n'))
case("lever name with a backslash", "traceback", ["check", Y],
     r"levers\.toml: yuyao\\x: expected a key without '/', '\\'",
     lambda d: edit(d, "calibration/levers.toml", "[yuyao_prov_sme_reward]", '["yuyao\\\\x"]'))
case("unit id with a slash", "traceback", ["check", Y],
     r"units\.csv: line 6: unit: expected a unit id of letters, digits, '_' and '-'.* got 'yu/yao'",
     lambda d: edit(d, "calibration/units.csv", "yuyao,,", "yu/yao,,"))
case("label with a mathtext formula", "traceback", ["run", Y] + RUN,
     r"yuyao\.toml: scenario\.zh: expected text with at most one '\$' .* got '\$x\^2\$'",
     lambda d: edit(d, Y, 'zh = "余姚市"', 'zh = "$x^2$"'))
case("policy label with '$'", "traceback", ["check", Y],
     r"yuyao\.toml: scenarios\.reserve_push\.en: expected text with at most one '\$'",
     lambda d: edit(d, Y, 'en = "Double the reserve reward (100k per firm-year)"', 'en = "$\\\\frac{1}{0}$"'))
case("unit label with '$' in units.csv", "traceback", ["check", Y],
     r"units\.csv: line 6: en: expected text with at most one '\$'",
     lambda d: edit(d, "calibration/units.csv", ",余姚市,Yuyao", ",余姚市,$Yu$yao"))
case("flow label with '$' in the structure", "traceback", ["check", Y],
     r"structure\.toml: flows\.reserve_in\.en: expected text with at most one '\$'",
     lambda d: edit(d, "calibration/structure.toml", 'en = "Entered reserve"', 'en = "$E$ reserve"'))
case("control character in a ledger passage", "traceback", ["run", Y] + RUN,
     r"ledger\.csv: line 63: passage: expected text without control characters, got the character U\+0007",
     lambda d: edit(d, "calibration/ledger.csv", "全市高企总量达1032家", "全市高企总量达\x071032家"))
case("control character in a TOML string", "traceback", ["check", Y],
     r"yuyao\.toml: scenario\.en: expected text without control characters, got the character U\+0001",
     lambda d: edit(d, Y, 'en = "Yuyao"', 'en = "Yu\\u0001yao"'))
case("NUL byte in a unit label", "traceback", ["check", Y],
     r"units\.csv: line 6: zh: expected text without control characters, got the character U\+0000",
     lambda d: edit(d, "calibration/units.csv", ",余姚市,", ",余\x00姚市,"))
case("200,000-character CSV field", "traceback", ["run", Y] + RUN,
     r"ledger\.csv: line 63: expected fields of at most 10,000 characters, got a longer field",
     lambda d: edit(d, "calibration/ledger.csv", "全市高企总量达1032家", "长" * 200_000))
case("20,000-character CSV field", "traceback", ["check", Y],
     r"ledger\.csv: line 63: passage: expected text of at most 10,000 characters, got 20,\d{3} characters",
     lambda d: edit(d, "calibration/ledger.csv", "全市高企总量达1032家", "长" * 20_000))
case("100,000-character TOML string", "traceback", ["check", Y],
     r"yuyao\.toml: scenario\.en: expected text of at most 10,000 characters, got 100,000 characters",
     lambda d: edit(d, Y, 'en = "Yuyao"', 'en = "' + "y" * 100_000 + '"'))
case("include chain 1,100 deep", "traceback", ["run", Y] + RUN,
     r"yuyao\.toml: scenarios: expected at most 50 scenarios .* got 1,104",
     lambda d: nested_includes(d, 1100))
case("include cycle", "traceback", ["check", Y],
     r"yuyao\.toml: scenarios\.\w+\.include: expected no cycle of includes, got ",
     lambda d: edit(d, Y, '[scenarios.baseline]\n', '[scenarios.baseline]\ninclude = "combined"\n'))
case("TOML nested 3,000 deep", "traceback", ["check", Y],
     r"yuyao\.toml: .*expected (TOML nested a reasonable depth|tables nested at most 50 deep|valid TOML)",
     lambda d: append(d, Y, "\n[deep]\nx = " + "[" * 3000 + "]" * 3000 + "\n"))
case("target year with a superscript", "traceback", ["goal", Y, "--target", "hte_valid@2025²", "--paths", "200"],
     r"yuyao\.toml: --target: expected INDICATOR@YEAR with a four-digit year such as 2026, got 'hte_valid@2025²'")
case("target year with Arabic-Indic digits", "traceback", ["goal", Y, "--target", "hte_valid@٢٠٢٥"],
     r"yuyao\.toml: --target: expected INDICATOR@YEAR with a four-digit year")
case("target without a year", "traceback", ["goal", Y, "--target", "hte_valid"],
     r"yuyao\.toml: --target: expected INDICATOR@YEAR such as hte_valid@2026, got 'hte_valid'")
case("target indicator misspelt", "traceback", ["goal", Y, "--target", "hte_vaild@2025"],
     r"yuyao\.toml: --target: expected an indicator of the structure, got 'hte_vaild'; did you mean 'hte_valid'\?")
case("target year after the horizon", "traceback", ["goal", Y, "--target", "hte_valid@2031"],
     r"yuyao\.toml: --target: expected a year after the start year 2023 and up to the horizon 2026, got 2031")
case("goal base that does not exist", "traceback", ["goal", Y, "--target", "hte_valid@2025", "--base", "combind"],
     r"yuyao\.toml: --base: expected the name of a scenario in the file, got 'combind'; did you mean 'combined'\?")
case("output path through a file", "traceback", ["run", Y, "--paths", "200", "--out", "afile/sub", "--no-figures"],
     r"afile/sub: --out: expected a folder for the results, got a path through 'afile', which is a file",
     lambda d: (d / "afile").write_text("x", encoding="utf-8"))

case("output folder name of 300 bytes", "traceback", ["run", Y, "--paths", "200", "--out", "r" * 300],
     r"r+\.\.\. \(300 characters\): --out: expected folder names of at most 255 bytes, got a name of 300 bytes")
case("scenario file named '..toml'", "traceback", ["run", "scenarios/..toml"] + RUN,
     r"scenarios/\.\.toml: expected a file name that does not start with '\.' \(it names the results folder\), "
     r"got '\.\.toml'", lambda d: shutil.copy(d / Y, d / "scenarios/..toml"))

# -- wrong exit, hang, out of memory, bad input accepted ---------------------------------
case("empty TOML scenario", "accepted", ["check", Y], r"yuyao\.toml: scenario: expected a table, got nothing",
     lambda d: (d / Y).write_text("", encoding="utf-8"))
case("--prob nan", "accepted", ["goal", Y, "--target", "hte_valid@2025", "--prob", "nan"],
     r"sim goal: --prob: expected a finite number from 0\.01 to 0\.99, got 'nan'")
case("--budget nan", "accepted", ["goal", Y, "--target", "hte_valid@2025", "--budget", "nan"],
     r"sim goal: --budget: expected a finite number >= 0, got 'nan'")
case("--value inf", "accepted", ["goal", Y, "--target", "hte_valid@2025", "--value", "inf"],
     r"sim goal: --value: expected a finite number >= 0, got 'inf'")
case("--value -infinity", "accepted", ["goal", Y, "--target", "hte_valid@2025", "--value", "-Infinity"],
     r"sim goal: --value: expected a finite number >= 0, got '-Infinity'")
case("--budget negative", "accepted", ["goal", Y, "--target", "hte_valid@2025", "--budget", "-5"],
     r"sim goal: --budget: expected a finite number >= 0, got '-5'")
case("ledger is /dev/zero", "accepted", ["check", Y],
     r"yuyao\.toml: data\.ledger: expected a data file inside the project .* got '/dev/zero', which is outside",
     lambda d: edit(d, Y, 'ledger = "../calibration/ledger.csv"', 'ledger = "/dev/zero"'))
case("scenario is /dev/zero", "accepted", ["check", "/dev/zero"],
     r"/dev/zero: expected a regular file, got a character device")
case("ledger is a FIFO", "accepted", ["run", Y] + RUN,
     r"calibration/ledger\.csv: expected a regular file, got a named pipe \(FIFO\)",
     lambda d: fifo(d, "calibration/ledger.csv"))
case("scenario is a FIFO", "accepted", ["check", Y], r"yuyao\.toml: expected a regular file, got a named pipe",
     lambda d: fifo(d, Y))
case("ledger larger than the size limit", "accepted", ["check", Y],
     r"ledger\.csv: expected a file of at most 64 MB, got 65 MB",
     lambda d: os.truncate(d / "calibration/ledger.csv", 65 * 2**20))
case("duplicated ledger actual", "accepted", ["run", Y] + RUN,
     r"ledger\.csv: yuyao hte_valid 2024: expected one actual per unit, indicator and year.* got the same actual twice "
     r"\(line 64 and line \d+\); delete one of them",
     lambda d: append(d, "calibration/ledger.csv", line_of(d, "calibration/ledger.csv", "yuyao,hte_valid,2024") + "\n"))
case("same actual from a second source", "accepted", ["check", Y],
     r"ledger\.csv: yuyao hte_new 2024: expected one actual per unit, indicator and year .* got the same actual twice",
     lambda d: append(d, "calibration/ledger.csv", line_of(d, "calibration/ledger.csv", "yuyao,hte_new,2024")
                      .replace("seeds/003", "seeds/004") + "\n"))
case("a target with two values", "accepted", ["check", Y],
     r"ledger\.csv: yuyao hte_valid 2025: expected figures of the same unit, indicator, year and kind that agree, "
     r"got yuyao hte_valid 2025 target 1,200 \(ledger\) and yuyao hte_valid 2025 target 1,300 \(ledger\)",
     lambda d: append(d, "calibration/ledger.csv", line_of(d, "calibration/ledger.csv", "yuyao,hte_valid,2025")
                      .replace(",1200,", ",1300,") + "\n"))
case("pool_with names the unit itself", "accepted", ["run", Y] + RUN,
     r"yuyao\.toml: scenario\.pool_with\[0\]: expected other units to pool with \(not the unit itself\), got 'yuyao'",
     lambda d: edit(d, Y, 'unit = "yuyao"', 'unit = "yuyao"\npool_with = ["yuyao"]'))
case("pool_with names a unit twice", "accepted", ["check", Z],
     r"zhenhai\.toml: scenario\.pool_with\[1\]: expected each unit once, got 'yuyao' twice",
     lambda d: edit(d, Z, 'pool_with = ["yuyao", "jiangbei"]', 'pool_with = ["yuyao", "yuyao"]'))
case("lever with start after end", "accepted", ["run", Y] + RUN,
     r"levers\.toml: yuyao_reserve_reward\.end: expected a year >= start \(2026\), got 2024; swap start and end",
     lambda d: edit(d, "calibration/levers.toml", "[yuyao_reserve_reward]\n", "[yuyao_reserve_reward]\nstart = 2026\nend = 2024\n"))
case("unit that is its own parent", "accepted", ["check", Y],
     r"units\.csv: unit yuyao: parent: expected a parent that is not the unit or one of its parts, got the unit itself",
     lambda d: edit(d, "calibration/units.csv", "yuyao,,", "yuyao,yuyao,"))
case("two units each other's parent", "accepted", ["check", J],
     r"units\.csv: unit \w+: parent: expected a parent that is not the unit or one of its parts, got a cycle "
     r"(yuyao -> zhenhai -> yuyao|zhenhai -> yuyao -> zhenhai)",
     lambda d: (edit(d, "calibration/units.csv", "yuyao,,", "yuyao,zhenhai,"),
                edit(d, "calibration/units.csv", "zhenhai,,", "zhenhai,yuyao,")))
case("prior median of 1e300", "accepted", ["run", Y] + RUN,
     r"priors\.toml: rates\.\w+\.median: expected a number with 0\.0 <= value <= 100\.0, got 1e\+300",
     lambda d: edit(d, "calibration/priors.toml", "median = 0.20", "median = 1e300"))
case("lever strength of a million", "accepted", ["run", Y] + RUN,
     r"levers\.toml: cixi_reserve_voucher\.strength: expected \[low, high\], two finite numbers from -10 to 10",
     lambda d: edit(d, "calibration/levers.toml", "strength = [0.0, 0.4]", "strength = [0.0, 1e6]"))
case("lever cost factor of 1e300", "accepted", ["check", Y],
     r"levers\.toml: cixi_reserve_voucher\.cost_factor: expected a number with 0\.0 <= value <= 1000\.0, got 1e\+300",
     lambda d: edit(d, "calibration/levers.toml", "cost_factor = 0.3333", "cost_factor = 1e300"))
case("a ledger value that is not a number", "accepted", ["check", Y],
     r"ledger\.csv: line 64: value: expected a number, got 'about 1032'",
     lambda d: edit(d, "calibration/ledger.csv", "yuyao,hte_valid,2024,1032,", 'yuyao,hte_valid,2024,"about 1032",'))
case("a repeated ledger column", "accepted", ["check", Y],
     r"ledger\.csv: header: expected each column once, got 'bound' twice",
     lambda d: edit(d, "calibration/ledger.csv", "passage,derivation", "passage,derivation,bound,bound"))

# -- click usage errors: one line, the same template -------------------------------------
case("--paths 0", "usage", ["run", Y, "--paths", "0"], r"sim run: --paths: expected an integer from 100 to 2,000,000, got '0'")
case("--paths not a number", "usage", ["run", Y, "--paths", "many"], r"sim run: --paths: expected an integer .* got 'many'")
case("--paths 1e3", "usage", ["run", Y, "--paths", "1e3"], r"sim run: --paths: expected an integer .* got '1e3'")
case("--paths without a value", "usage", ["run", Y, "--paths"], r"--paths: expected a value after the option, got nothing")
case("--seed negative", "usage", ["run", Y, "--seed", "-1"], r"sim run: --seed: expected an integer >= 0 \(below 2\*\*63\), got '-1'")
case("--lang xx", "usage", ["run", Y, "--lang", "xx"], r"sim run: --lang: expected one of zh, en, got 'xx'")
case("--lang in capitals", "usage", ["report", "results", "--lang", "EN"],
     r"sim report: --lang: expected one of zh, en, got 'EN'; did you mean 'en'\?")
case("unknown option", "usage", ["run", Y, "--pathz", "300"],
     r"sim run: --pathz: expected one of .*--paths.* got an unknown option; did you mean '--paths'\?")
case("unknown command", "usage", ["rnu", Y], r"sim: COMMAND: expected one of add, backtest, calibrate, check, compare, goal, report, run, "
                                              r"got 'rnu'; did you mean 'run'\?")
case("--prob 1.5", "usage", ["goal", Y, "--target", "hte_valid@2025", "--prob", "1.5"],
     r"sim goal: --prob: expected a finite number from 0\.01 to 0\.99, got '1\.5'")
case("a directory as the scenario", "usage", ["run", "scenarios"] + RUN, r"scenarios: expected a file, got a directory")
case("no scenario", "usage", ["run"], r"sim run: SCENARIO: expected a scenario file, got nothing")
case("a missing scenario file", "usage", ["check", "scenarios/nope.toml"],
     r"scenarios/nope\.toml: expected an existing file, got no such file")
case("an extra argument", "usage", ["check", Y, Y], r"sim check: arguments: expected only the ones in 'sim check --help', got an extra")
case("backtest --until 1800", "usage", ["backtest", Y, "--until", "1800"],
     r"sim backtest: --until: expected an integer from 1,990 to 2,100, got '1800'")
case("goal --paths 50", "usage", ["goal", Y, "--target", "hte_valid@2025", "--paths", "50"],
     r"sim goal: --paths: expected an integer from 200 to 200,000, got '50'")
case("report of a folder that does not exist", "usage", ["report", "results/nope/run-001"],
     r"results/nope/run-001: expected a run folder written by 'sim run', got no such folder")

# -- security: data paths confined to the project, content never echoed ------------------
case("ledger outside the project", "security", ["check", Y],
     r"yuyao\.toml: data\.ledger: expected a data file inside the project \(scenarios/ or calibration/\), "
     r"got '\.\./\.\./\.\./\.\./etc/passwd', which is outside; copy the file into the project",
     lambda d: edit(d, Y, 'ledger = "../calibration/ledger.csv"', 'ledger = "../../../../etc/passwd"'))
case("ledger absolute outside the project", "security", ["check", Y],
     r"yuyao\.toml: data\.units: expected a data file inside the project .* got '/etc/passwd', which is outside",
     lambda d: edit(d, Y, 'units = "../calibration/units.csv"', 'units = "/etc/passwd"'))
case("ledger linked to a file outside", "security", ["check", Y],
     r"yuyao\.toml: data\.ledger: expected a data file inside the project .* got '../calibration/ledger\.csv', a link to a file outside",
     lambda d: ((d / "calibration/ledger.csv").unlink(), os.symlink("/etc/passwd", d / "calibration/ledger.csv")))
case("priors in a sibling folder", "security", ["check", Y],
     r"yuyao\.toml: data\.priors: expected a data file inside the project .* got '\.\./other/priors\.toml'",
     lambda d: ((d / "other").mkdir(), shutil.copy(d / "calibration/priors.toml", d / "other/priors.toml"),
                edit(d, Y, 'priors = "../calibration/priors.toml"', 'priors = "../other/priors.toml"')))


@pytest.mark.parametrize("category,setup,argv,pattern", CASES)
def test_hostile_input_is_one_sentence_exit_2_nothing_written(workdir, category, setup, argv, pattern):
    if setup is not None:
        setup(workdir)
    r = CliRunner().invoke(main, argv)
    assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
    assert r.exit_code == 2, r.output
    line = one_line(r.output)
    assert_sentence(line)
    assert re.search(pattern, line), line
    assert "root:" not in r.output   # no content of /etc/passwd
    assert written(workdir) == []


def test_csv_text_cells_never_start_a_formula(proj):
    """OWASP CSV injection: text that a spreadsheet would run (= + - @) is written with a
    leading apostrophe in every table of the run; numbers stay numbers."""
    edit(proj, "calibration/ledger.csv", '"全年新认定国家高新技术企业250家,全市高企总量达1032家"',
         '"=HYPERLINK(""http://x"",""1032"")"')
    edit(proj, "calibration/ledger.csv", "新认定 national HTE in 2024", "@SUM(A1) new HTE in 2024")
    r = CliRunner().invoke(main, ["run", Y, "--paths", "200", "--no-figures"])
    assert r.exit_code == 0, r.output
    import pandas as pd
    folder = proj / "results/yuyao/run-001"
    src = pd.read_csv(folder / "sources.csv")
    assert "'=HYPERLINK(\"http://x\",\"1032\")" in set(src.passage)
    assert "'@SUM(A1) new HTE in 2024 (first-time certifications)" in set(src.definition)
    for csv_file in folder.glob("*.csv"):
        df = pd.read_csv(csv_file, dtype=str, keep_default_na=False)
        for col in df.columns:
            numeric = pd.to_numeric(df[col], errors="coerce").notna() | (df[col] == "")
            bad = df[col][~numeric & df[col].str.match(r"[=+\-@\t\r]")]
            assert bad.empty, (csv_file.name, col, bad.tolist()[:3])
    r = CliRunner().invoke(main, ["report", str(folder)])    # and the folder still renders
    assert r.exit_code == 0, r.output


def test_the_table_covers_every_category_with_at_least_60_cases():
    cats = {}
    for p in CASES:
        cats[p.values[0]] = cats.get(p.values[0], 0) + 1
    assert len(CASES) >= 60, len(CASES)
    assert set(cats) == {"traceback", "accepted", "usage", "security"}, cats


def test_include_chain_within_the_limit_is_accepted(workdir):
    nested_includes(workdir, 40)
    r = CliRunner().invoke(main, ["check", Y])
    assert r.exit_code == 0, r.output
    assert "44 scenarios" in r.output


def test_a_single_dollar_is_plain_text(workdir):
    edit(workdir, Y, 'en = "Double the reserve reward (100k per firm-year)"', 'en = "Reserve reward US$100k"')
    r = CliRunner().invoke(main, ["check", Y])
    assert r.exit_code == 0, r.output


def test_one_target_from_two_documents_is_not_a_duplicate(root):
    """The shipped ledger quotes Cixi's 2025 target from two documents: allowed (same value)."""
    r = CliRunner().invoke(main, ["check", str(root / C)])
    assert r.exit_code == 0, r.output


def test_data_inside_the_scenario_folder_tree_is_allowed(workdir):
    (workdir / "scenarios/data").mkdir()
    shutil.copy(workdir / "calibration/ledger.csv", workdir / "scenarios/data/ledger.csv")
    edit(workdir, Y, 'ledger = "../calibration/ledger.csv"', 'ledger = "data/ledger.csv"')
    r = CliRunner().invoke(main, ["check", Y])
    assert r.exit_code == 0, r.output


def test_memory_estimate_is_a_pure_function_that_refuses_what_cannot_fit(root):
    from sim.errors import InputError
    from sim.resources import check_memory, run_bytes
    from sim.scenario import load_scenario
    small = run_bytes(1000, 4, 3, 1, 6, 13, 5, 13)
    assert run_bytes(2000, 4, 3, 1, 6, 13, 5, 13) - small == small - run_bytes(0, 4, 3, 1, 6, 13, 5, 13)
    assert run_bytes(1000, 4, 6, 12, 6, 13, 6, 13) > small
    # projected in chunks: beyond a chunk, a path costs only what is kept of it (goal: 1e6 paths < 4 GB)
    big = run_bytes(1_000_000, 5, 5, 3, 6, 13, 16, 13)
    assert run_bytes(2_000_000, 5, 5, 3, 6, 13, 16, 13) - big < big
    assert big < 4 * 2**30
    sc = load_scenario(root / Y)
    check_memory(sc, 10_000, "yuyao.toml", free=2 * 2**30)
    with pytest.raises(InputError, match=r"--paths: expected a run that fits in the 2\.0 GB .* got 2,000,000 paths"):
        check_memory(sc, 2_000_000, "yuyao.toml", free=2 * 2**30)


def test_paths_that_cannot_fit_in_the_free_memory_are_one_sentence(workdir, monkeypatch):
    """(A table case until runs were chunked: 2,000,000 Jiangbei paths now fit in this machine's
    memory, so the free memory is set low here.)"""
    import sim.resources
    monkeypatch.setattr(sim.resources, "available_bytes", lambda: 3 * 2**30)
    r = CliRunner().invoke(main, ["run", J, "--paths", "2000000", "--no-figures"])
    assert r.exit_code == 2, r.output
    line = one_line(r.output)
    assert_sentence(line)
    assert re.search(r"jiangbei\.toml: --paths: expected a run that fits in the 3\.0 GB of memory free .* "
                     r"got 2,000,000 paths needing about [\d.,]+ GB; use --paths [\d,]+ or fewer", line), line
    assert written(workdir) == []


# ---------------------------------------------------------------------------------------
# run folders that are damaged: one sentence naming the file
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted_project(tmp_path_factory):
    """scenarios/ and calibration/ with Yuyao's fit cached, and one finished run folder
    (tables only) in results/: the fault tests copy it instead of fitting again."""
    d = tmp_path_factory.mktemp("fitted")
    root = Path(__file__).resolve().parents[1]
    for sub in ("scenarios", "calibration"):
        shutil.copytree(root / sub, d / sub, ignore=shutil.ignore_patterns("fitted"))
    r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "200", "--no-figures"], cwd=d,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert len(list((d / "calibration/fitted").glob("*.npz"))) == 1
    return d


@pytest.fixture
def proj(fitted_project, tmp_path):
    """A copy of the fitted project (no results/) as the working folder."""
    for sub in ("scenarios", "calibration"):
        shutil.copytree(fitted_project / sub, tmp_path / sub)
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.fixture(scope="module")
def finished_run(fitted_project):
    return fitted_project / "results/yuyao/run-001"


def _manifest(folder: Path, change) -> None:
    m = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    change(m)
    (folder / "run.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")


def _truncate(p: Path, keep: float) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])


def _drop_last_line(p: Path) -> None:
    lines = p.read_text(encoding="utf-8").splitlines(keepends=True)
    p.write_text("".join(lines[:-1]), encoding="utf-8")


def _set_cell(p: Path, col: str, value: str, row: int = 0) -> None:
    import csv
    rows = list(csv.reader(p.read_text(encoding="utf-8").splitlines()))
    rows[row + 1][rows[0].index(col)] = value
    with open(p, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _drop_column(p: Path, col: str) -> None:
    import csv
    rows = list(csv.reader(p.read_text(encoding="utf-8").splitlines()))
    i = rows[0].index(col)
    with open(p, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows([r[:i] + r[i + 1:] for r in rows])


DAMAGE = [
    ("empty CSV", lambda f: (f / "targets.csv").write_bytes(b""), r"targets\.csv: expected a table with a header line, got an empty file"),
    ("truncated CSV", lambda f: _truncate(f / "projection.csv", 0.5), r"projection\.csv: line \d+: expected complete lines, got a truncated last line"),
    ("CSV cut at a line end", lambda f: _drop_last_line(f / "flows.csv"), r"flows\.csv: expected \d+ rows \(as run\.json records\), got \d+"),
    ("missing column", lambda f: _drop_column(f / "targets.csv", "p_met"), r"targets\.csv: header: expected a column 'p_met', got no such column"),
    ("non-numeric value", lambda f: _set_cell(f / "projection.csv", "p50", "n/a"), r"projection\.csv: line 2: p50: expected a finite number, got 'n/a'"),
    ("infinite value", lambda f: _set_cell(f / "scenarios.csv", "p_met", "inf"), r"scenarios\.csv: line 2: p_met: expected a finite number, got 'inf'"),
    ("year not whole", lambda f: _set_cell(f / "costs.csv", "year", "2025.5"), r"costs\.csv: line 2: year: expected a whole year, got '2025\.5'"),
    ("missing table", lambda f: (f / "tornado.csv").unlink(), r"run-001: tornado\.csv: expected every table of a finished run, got a missing file"),
    ("unknown scenario in a table", lambda f: _set_cell(f / "targets.csv", "scenario", "ghost"),
     r"targets\.csv: scenario: expected ids labelled in run\.json .* got 'ghost'"),
    ("run.json missing", lambda f: (f / "run.json").unlink(), r"run-001: run\.json: expected a run folder written by 'sim run', got no run\.json"),
    ("run.json without a key", lambda f: _manifest(f, lambda m: m.pop("seed")), r"run\.json: seed: expected a key written by 'sim run', got nothing \(the key is missing\)"),
    ("run.json without a nested key", lambda f: _manifest(f, lambda m: m["labels"].pop("units")), r"run\.json: labels\.units: expected a key written by 'sim run'"),
    ("run.json seed of the wrong type", lambda f: _manifest(f, lambda m: m.update(seed="<script>")), r"run\.json: seed: expected an integer, got a string \"<script>\""),
    ("run.json labels of the wrong type", lambda f: _manifest(f, lambda m: m["labels"].update(policies={})), r"run\.json: labels\.policies: expected a list, got a table"),
    ("run.json truncated", lambda f: _truncate(f / "run.json", 0.6), r"run\.json: (line \d+: expected a JSON manifest, got (a damaged or truncated file|invalid JSON)|expected a JSON manifest in UTF-8, got bytes that are not UTF-8)"),
    ("run.json not JSON", lambda f: (f / "run.json").write_text("seed = 1\n", encoding="utf-8"), r"run\.json: line 1: expected a JSON manifest, got invalid JSON"),
    ("run.json label with a formula", lambda f: _manifest(f, lambda m: m["labels"]["scenario"].update(zh="$\\sqrt{x}$")),
     r"run\.json: labels\.scenario\.zh: expected text with at most one '\$'"),
    ("a table linked to a file outside", lambda f: ((f / "sources.csv").unlink(), os.symlink("/etc/passwd", f / "sources.csv")),
     r"sources\.csv: expected a file of the run folder, got a link to a file outside it"),
]


@pytest.mark.parametrize("what,damage,pattern", DAMAGE, ids=[d[0] for d in DAMAGE])
def test_report_on_a_damaged_run_folder_names_the_file(finished_run, tmp_path, what, damage, pattern):
    folder = tmp_path / "results/yuyao/run-001"
    shutil.copytree(finished_run, folder, symlinks=True)
    damage(folder)
    before = sorted(p.name for p in folder.iterdir())
    os.chdir(tmp_path)
    r = CliRunner().invoke(main, ["report", "results/yuyao/run-001"])
    assert r.exit_code == 2, r.output
    line = one_line(r.output)
    assert_sentence(line)
    assert re.search(pattern, line), line
    assert "root:" not in line
    assert sorted(p.name for p in folder.iterdir()) == before          # nothing touched, nothing left
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("content,pattern", [
    ("", r"goal\.csv: expected a table with a header line, got an empty file"),
    ("kind,sentence\nmix,x\n", r"goal\.csv: header: expected a column 'name', got no such column"),
    ("kind,name,sentence\nmix,cheap,x", r"goal\.csv: line 2: expected complete lines, got a truncated last line"),
])
def test_report_with_a_damaged_goal_folder_names_the_file(finished_run, tmp_path, content, pattern):
    folder = tmp_path / "run-001"
    shutil.copytree(finished_run, folder)
    (tmp_path / "goal-001").mkdir()
    (tmp_path / "goal-001/goal.csv").write_text(content, encoding="utf-8")
    os.chdir(tmp_path)
    r = CliRunner().invoke(main, ["report", "run-001", "--goal", "goal-001"])
    assert r.exit_code == 2, r.output
    line = one_line(r.output)
    assert_sentence(line)
    assert re.search(pattern, line), line
    assert not (folder / "report.html").exists()


def test_report_from_inside_the_run_folder(finished_run, tmp_path):
    folder = tmp_path / "run-001"
    shutil.copytree(finished_run, folder)
    tables = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    r = subprocess.run([sys.executable, "-m", "sim.cli", "report", ".", "--lang", "en"], cwd=folder,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "wrote ./report_en.html and ./report_en.xlsx"
    assert (folder / "report_en.html").is_file() and (folder / "figures").is_dir()
    assert {p.name: p.read_bytes() for p in folder.glob("*.csv")} == tables
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]
    # beside the run: only the page's font subset, kept for the next re-render (no leftovers)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [".cache"]
    assert [p.name[:5] for p in (tmp_path / ".cache" / "fonts").iterdir()] == ["font-"]


# ---------------------------------------------------------------------------------------
# real processes: interrupts, kill -9, damaged cache, read-only output, concurrent runs
# ---------------------------------------------------------------------------------------

def _sim(d: Path, *args, **kw):
    return subprocess.Popen([sys.executable, "-m", "sim.cli", *args], cwd=d, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def _wait_for(pred, timeout=300.0, step=0.01):
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        if pred():
            return True
        time.sleep(step)
    return False


def _tmp_dirs(d: Path):
    root = d / "results"
    return [p for p in root.rglob(".tmp-*")] if root.exists() else []


@pytest.mark.parametrize("sig,code,when", [(signal.SIGINT, 130, "writing"), (signal.SIGTERM, 143, "writing"),
                                           (signal.SIGINT, 130, "fitting")])
def test_interrupt_prints_one_line_exits_and_cleans_up(proj, sig, code, when):
    fitted = sorted(p.name for p in (proj / "calibration/fitted").iterdir())
    if when == "writing":
        p = _sim(proj, "run", Y, "--paths", "3000")
        assert _wait_for(lambda: _tmp_dirs(proj) or p.poll() is not None), "never started writing"
        time.sleep(0.3)
    else:
        p = _sim(proj, "calibrate", Y, "--refit")     # long chains: seconds of sampling in worker processes
        time.sleep(3.0)
    assert p.poll() is None, "finished before the interrupt"
    os.killpg(p.pid, sig)           # like Ctrl-C in a terminal: the whole process group, workers too
    out, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert err.strip() == "interrupted; nothing written", err
    assert not (proj / "results").exists(), list((proj / "results").rglob("*"))
    assert sorted(p.name for p in (proj / "calibration/fitted").iterdir()) == fitted


def test_kill_9_leaves_no_visible_folder_and_the_next_run_removes_its_leftovers(proj):
    p = _sim(proj, "run", Y, "--paths", "3000")
    assert _wait_for(lambda: _tmp_dirs(proj) or p.poll() is not None)
    assert p.poll() is None
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=60)
    root = proj / "results/yuyao"
    assert [x.name for x in root.iterdir() if not x.name.startswith(".")] == []     # nothing visible
    assert _tmp_dirs(proj)                                                            # a hidden leftover
    r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "300", "--no-figures"], cwd=proj,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert sorted(x.name for x in root.iterdir()) == ["run-001"]


def test_stale_temp_folders_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    from sim.report import new_folder
    root = tmp_path / "results/x"
    root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (root / f".tmp-run-{dead.pid}-abc").mkdir()
    (root / f".tmp-run-{os.getppid()}-live").mkdir()
    (root / ".tmp-run-legacy").mkdir()
    with new_folder(root) as f:
        (f["path"] / "a.csv").write_text("a\n", encoding="utf-8")
    names = sorted(x.name for x in root.iterdir())
    assert names == [f".tmp-run-{os.getppid()}-live", ".tmp-run-legacy", "run-001"]


def test_a_failure_while_writing_leaves_no_empty_results_folder(proj, monkeypatch):
    import sim.report
    from sim.errors import InputError

    def boom(*a, **k):
        raise InputError("projection.csv", "", "a table", "a failure while writing")
    monkeypatch.setattr(sim.report, "_write_all", boom)
    r = CliRunner().invoke(main, ["run", Y, "--paths", "200"])
    assert r.exit_code == 2, r.output
    assert not (proj / "results").exists()


def _nan_cache(p: Path) -> None:
    with np.load(p) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["draws"] = arrays["draws"].copy()
    arrays["draws"][3, 1] = np.nan
    np.savez(p, **arrays)


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    for k in range(200, len(data), len(data) // 7):
        data[k] ^= 0xFF
    p.write_bytes(bytes(data))


CACHE_DAMAGE = [("empty", lambda p: p.write_bytes(b"")), ("truncated", lambda p: _truncate(p, 0.5)),
                ("bit-flipped", _flip), ("NaN arrays", _nan_cache),
                ("a directory", lambda p: (p.unlink(), p.mkdir())),
                ("not a zip", lambda p: p.write_text("hello", encoding="utf-8"))]


@pytest.mark.parametrize("what,damage", CACHE_DAMAGE, ids=[c[0] for c in CACHE_DAMAGE])
def test_a_damaged_fit_cache_is_refitted_with_a_one_line_note(proj, what, damage):
    (npz,) = (proj / "calibration/fitted").glob("*.npz")
    key = npz.stem
    damage(npz)
    r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "200", "--no-figures", "--lang", "en"],
                       cwd=proj, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "Aborted" not in r.stderr
    notes = [x for x in r.stdout.splitlines() if "damaged" in x]
    assert len(notes) == 1 and notes[0].startswith(f"calibration: the cached fit {key} is damaged ("), r.stdout
    assert "Calibration: fitted now" in r.stdout
    if what == "a directory":   # not replaced: the fit could not be cached, and says so
        assert npz.is_dir() and any(x.startswith("calibration: the fit was not cached (") for x in r.stdout.splitlines())
        return
    import numpy as np
    with np.load(npz, allow_pickle=False) as z:   # written again, whole
        assert np.isfinite(z["draws"]).all()
    if what == "truncated":
        r2 = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "200", "--no-figures", "--lang", "en"],
                            cwd=proj, capture_output=True, text=True, timeout=600)
        assert "Calibration: reused the cached fit" in r2.stdout and "damaged" not in r2.stdout


def _immutable(path: Path):
    """Make ``path`` unwritable even for root; returns an undo function, or None."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    if shutil.which("chattr") and subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0:
        return lambda: subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    return None


@pytest.mark.parametrize("where", ["results", "results/yuyao"])
def test_read_only_output_is_found_before_the_work(workdir, where):
    (workdir / where).mkdir(parents=True)
    undo = _immutable(workdir / where)
    if undo is None:
        pytest.skip("cannot make a folder read-only here")
    try:
        t = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "200", "--refit"], cwd=workdir,
                           capture_output=True, text=True, timeout=600)
        took = time.monotonic() - t
    finally:
        undo()
    assert r.returncode == 2, r.stderr
    line = one_line(r.stderr)
    assert_sentence(line)
    assert re.search(r"results: --out: expected a folder sim can write in, got '.*results.*', which is not writable", line), line
    assert r.stdout == "" and not (workdir / "calibration/fitted").exists()   # refused before fitting
    assert took < 60
    assert list((workdir / where).iterdir()) == []


def test_cache_write_failure_does_not_claim_cached(workdir):
    fitted = workdir / "calibration/fitted"
    fitted.mkdir()
    undo = _immutable(fitted)
    if undo is None:
        pytest.skip("cannot make a folder read-only here")
    try:
        r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "200", "--no-figures"], cwd=workdir,
                           capture_output=True, text=True, timeout=600)
    finally:
        undo()
    assert r.returncode == 0, r.stderr
    assert "cached as" not in r.stdout
    assert len([x for x in r.stdout.splitlines() if x.startswith("calibration: the fit was not cached (")]) == 1


def test_concurrent_runs_never_clobber_and_give_the_same_bytes(proj):
    procs = [_sim(proj, "run", Y, "--paths", "400", "--no-figures") for _ in range(3)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    runs = sorted((proj / "results/yuyao").iterdir())
    assert [r.name for r in runs] == ["run-001", "run-002", "run-003"]
    for name in ("projection.csv", "targets.csv", "scenarios.csv"):   # run.json names the previous run
        assert len({(r / name).read_bytes() for r in runs}) == 1, name
    wrote = sorted(x for o in outs for x in o[0].splitlines() if x.startswith("已写入 "))
    assert [w.split("（")[0] for w in wrote] == [f"已写入 results/yuyao/{r.name}" for r in runs]


def test_same_seed_same_bytes_for_every_file_of_the_run_folder(proj):
    # two output folders: a second run in the same folder compares itself with the first
    for out in ("results_a", "results_b"):
        r = subprocess.run([sys.executable, "-m", "sim.cli", "run", Y, "--paths", "300", "--lang", "en", "--out", out],
                           cwd=proj, capture_output=True, text=True, timeout=900)
        assert r.returncode == 0, r.stderr
    a, b = proj / "results_a/yuyao/run-001", proj / "results_b/yuyao/run-001"
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    differ = [f for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert differ == []


def test_an_interrupt_python_swallowed_still_stops_before_anything_is_made_visible(tmp_path):
    """Python swallows an exception raised while a finalizer runs ("Exception ignored in ...");
    a Ctrl-C that lands there must still stop the command: the handler remembers the signal
    and every commit point (a run folder's rename, the fit cache, a scenario file) asks first."""
    import gc
    from sim.errors import Interrupted, SignalHandler, raise_if_interrupted
    from sim.report import new_folder
    h = SignalHandler()
    old = signal.signal(signal.SIGINT, h)
    hook = sys.unraisablehook
    seen = []
    sys.unraisablehook = seen.append
    try:
        raise_if_interrupted()                          # nothing yet: no error

        class Swallows:                                 # a finalizer that the signal interrupts
            def __del__(self):
                signal.raise_signal(signal.SIGINT)

        with pytest.raises(Interrupted):
            with new_folder(tmp_path / "results", "run") as f:
                (f["path"] / "table.csv").write_text("a\n1\n")
                x = Swallows()
                x.self = x                              # a cycle: freed by the collector
                del x
                gc.collect()                            # the handler's exception is swallowed here
                assert seen and isinstance(seen[0].exc_value, Interrupted)
        assert list((tmp_path / "results").glob("*")) == []     # no run folder, no temporary one
    finally:
        signal.signal(signal.SIGINT, old)
        sys.unraisablehook = hook
    raise_if_interrupted()                              # another handler installed: nothing pending


def test_a_swallowed_interrupt_leaves_no_fit_cache(tmp_path, monkeypatch):
    import dataclasses as dc

    from sim.calibrate import save_fit
    from sim.errors import Interrupted, SignalHandler
    h = SignalHandler()
    h.signum = signal.SIGTERM                           # as after a swallowed SIGTERM
    old = signal.signal(signal.SIGINT, h)
    try:
        class Cal:                                      # just what save_fit reads
            T, n_obs, notes, diagnostics, rhat, ess_bulk, ess_tail, n_rates = 2024, 1, (), {}, (), (), (), 0
            derived_names = ()
            space = dc.make_dataclass("S", [("names", tuple)])(())
            mode = laplace_cov = derived_prior = np.zeros(1)
            draws = derived = np.zeros((1, 1))
        with pytest.raises(Interrupted):
            save_fit(Cal(), tmp_path / "fitted" / "k.npz")
        assert list((tmp_path / "fitted").iterdir()) == []
    finally:
        signal.signal(signal.SIGINT, old)
