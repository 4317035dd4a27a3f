"""Bad input: one sentence naming file and key, exit status 2, no traceback, nothing written."""

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sim.cli import main

CASES = []


def case(name):
    def deco(f):
        CASES.append((name, f))
        return f
    return deco


def edit(path: Path, old: str, new: str, count=1):
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")


@case("toml syntax error")
def _(d):
    edit(d / "scenarios/yuyao.toml", 'unit = "yuyao"', 'unit = "yuyao')
    return r"yuyao\.toml: syntax: expected valid TOML"


@case("unknown key with did you mean")
def _(d):
    edit(d / "scenarios/yuyao.toml", "seed = 20261123", "sede = 20261123")
    return r"yuyao\.toml: run\.sede: .*unknown key 'sede'; did you mean 'seed'\?"


@case("wrong type")
def _(d):
    edit(d / "scenarios/yuyao.toml", "paths = 10000", 'paths = "many"')
    return r"yuyao\.toml: run\.paths: expected an integer .* got string 'many'"


@case("negative probability prior")
def _(d):
    edit(d / "calibration/priors.toml", "beta = [1.5, 18.5]\nsource = \"FACTS.md 'Rules'", "beta = [-1.5, 18.5]\nsource = \"FACTS.md 'Rules'")
    return r"priors\.toml: rates\.sme_exit\.beta: expected"


@case("lever strength range reversed")
def _(d):
    edit(d / "calibration/levers.toml", "strength = [0.0, 0.4]", "strength = [0.4, 0.1]")
    return r"levers\.toml: cixi_reserve_voucher\.strength: expected \[low, high\].* got \[0\.4, 0\.1\]; swap the two numbers"


@case("probability above one in a lever setting")
def _(d):
    edit(d / "scenarios/cixi.toml", "cixi_strict_review = 1,", "cixi_strict_review = 1.5,")
    return r"cixi\.toml: scenarios\.baseline\.levers\.cixi_strict_review: expected a number with 0\.0 <= value <= 1\.0"


@case("target year before the base year")
def _(d):
    with open(d / "scenarios/yuyao.toml", "a", encoding="utf-8") as fh:
        fh.write('\n[[targets]]\nunit = "yuyao"\nindicator = "hte_valid"\nyear = 2020\nvalue = 900\nsource = "test"\n')
    return r"yuyao\.toml: targets\[0\]\.year: expected a year after the start year 2023, got 2020"


@case("missing data file")
def _(d):
    (d / "calibration/priors.toml").unlink()
    return r"priors\.toml: expected an existing file, got no such file"


@case("file that is not UTF-8")
def _(d):
    p = d / "calibration/ledger.csv"
    p.write_bytes(p.read_bytes().replace("余姚".encode(), "余姚".encode("gbk"), 1) + "余".encode("gbk"))
    return r"ledger\.csv: byte \d+: expected UTF-8 text"


@case("sub-units contradict their total")
def _(d):
    edit(d / "calibration/ledger.csv", "jb_waitan,hte_valid,2023,6,", "jb_waitan,hte_valid,2023,7,")
    return r"ledger\.csv: jiangbei hte_valid 2023: expected the sub-units .* to add up to 340, got a sum of 341"


@case("unknown lever")
def _(d):
    edit(d / "scenarios/yuyao.toml", "yuyao_reserve_reward = 10 }", "yuyao_reserve_rewrd = 10 }")
    return r"scenarios\.reserve_push\.levers\.yuyao_reserve_rewrd: expected a lever .* did you mean 'yuyao_reserve_reward'\?"


@case("unknown unit")
def _(d):
    edit(d / "scenarios/yuyao.toml", 'unit = "yuyao"', 'unit = "yuyoa"')
    return r"scenario\.unit: expected a unit id .* did you mean 'yuyao'\?"


@case("negative ledger value")
def _(d):
    edit(d / "calibration/ledger.csv", "yuyao,hte_new,2024,250,", "yuyao,hte_new,2024,-250,")
    return r"ledger\.csv: line \d+: value: expected a finite number >= 0"


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("command", ["check", "run"])
def test_bad_input_one_sentence_exit_2(workdir, name, make, command):
    pattern = make(workdir)
    scen = "scenarios/cixi.toml" if "cixi" in pattern or "levers.toml" in pattern else \
        "scenarios/jiangbei.toml" if "jiangbei" in pattern else "scenarios/yuyao.toml"
    args = [command, scen] + (["--out", "results", "--paths", "200"] if command == "run" else [])
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1, r.output
    assert re.search(pattern, lines[0]), lines[0]
    assert lines[0].startswith("error: ") and lines[0].endswith((".", "?")) and not lines[0].endswith("?.")
    assert not (workdir / "results").exists() or not any((workdir / "results").rglob("*.csv"))
