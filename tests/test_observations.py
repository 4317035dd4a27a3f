"""[[observations]] in a scenario file: the README's block works as written, integers stay
integers, every mistake gets one sentence, figures of one cell must agree, and targets whose
year already has an actual are reported met or missed."""

import json
import math
import re
import textwrap

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.data import Row, whole_number
from sim.observations import fit_status, superseded
from sim.results import target_phrase
from sim.scenario import load_scenario


def readme_block(root) -> str:
    """The indented [[observations]] example under 'Adding a newer figure' in README.md."""
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text.split("### Adding a newer figure", 1)[1]
    m = re.search(r"\n(    \[\[observations\]\]\n(?:    .*\n)+)", section)
    block = textwrap.dedent(m.group(1)).strip("\n")
    assert block.startswith("[[observations]]"), block
    return block + "\n"


def append(path, text):
    with open(path, "a", encoding="utf-8") as f:
        f.write("\n" + text)


def check(scenario):
    r = CliRunner().invoke(main, ["check", str(scenario)])
    lines = [x for x in r.output.splitlines() if x.strip()]
    return r.exit_code, lines


# ---- the README block, as written and with the whole-city unit its comment offers -------------------
def test_readme_block_checks_runs_and_settles_its_target(workdir, root):
    block = readme_block(root)
    append(workdir / "scenarios/cixi.toml", block)
    code, lines = check("scenarios/cixi.toml")
    assert code == 0, lines
    sc = load_scenario("scenarios/cixi.toml")
    mine = [s for s in fit_status(sc) if s[0].origin == "cixi.toml"]
    # sim check names a figure of the file that the fit will not use, and why
    assert ("not fitted: cixi_city hte_valid 2024 actual 1,010 (cixi.toml): " + mine[0][2] in lines) == (not mine[0][1])
    row = [r for r in sc.rows if r.origin == "cixi.toml"]
    assert len(row) == 1 and row[0].year == 2024 and isinstance(row[0].year, int) and row[0].value == 1010
    r = CliRunner().invoke(main, ["run", "scenarios/cixi.toml", "--paths", "300", "--no-figures", "--lang", "en"])
    assert r.exit_code == 0, r.output
    d = workdir / "results/cixi/run-001"
    man = json.loads((d / "run.json").read_text(encoding="utf-8"))
    obs = [o for o in man["observations"] if o["origin"] == "cixi.toml"]
    assert len(obs) == 1
    # the run lists it, fitted or not, as fit_status says; if not, it says why
    status = {(s[0].unit, s[0].year, s[0].origin): s[1:] for s in fit_status(sc)}
    assert (obs[0]["fitted"], obs[0]["why_not"]) == status[("cixi_city", 2024, "cixi.toml")]
    assert obs[0]["fitted"] or obs[0]["why_not"]
    # the city-level target of 950 for 2024 is met by the published 1,010
    tg = pd.read_csv(d / "targets.csv")
    t = tg[(tg.unit == "cixi_city") & (tg.indicator == "hte_valid") & (tg.year == 2024)]
    assert len(t) == 5 and (t.status == "met").all() and (t.actual == 1010).all() and t.p_met.isna().all()
    assert "Cixi (city level) Valid High-Tech Enterprises 2024 target 950: met (actual 1,010 >= 950)" in r.output


def test_whole_city_actual_in_a_target_year_is_fitted_and_reported_missed(workdir, root):
    block = readme_block(root).replace('unit = "cixi_city"', 'unit = "cixi"')
    before = load_scenario("scenarios/cixi.toml")
    append(workdir / "scenarios/cixi.toml", block)
    sc = load_scenario("scenarios/cixi.toml")
    new = [s for s in fit_status(sc) if s[0].origin == "cixi.toml"]
    assert new and new[0][1] is True
    assert sum(len(sc.actuals(u)) for u in sc.fit_units) == sum(len(before.actuals(u)) for u in before.fit_units) + 1
    r = CliRunner().invoke(main, ["run", "scenarios/cixi.toml", "--paths", "300", "--lang", "en"])
    assert r.exit_code == 0, r.output
    d = workdir / "results/cixi/run-001"
    man = json.loads((d / "run.json").read_text(encoding="utf-8"))
    assert man["last_actual_year"] == 2024 and man["actuals_fitted"] == 8
    assert any(o["origin"] == "cixi.toml" and o["fitted"] for o in man["observations"])
    tg = pd.read_csv(d / "targets.csv")
    t = tg[(tg.unit == "cixi") & (tg.indicator == "hte_valid")]
    by_year = t.groupby("year").status.first().to_dict()
    assert by_year[2024] == "missed"            # 1,010 < the plan's 1,200
    assert by_year[2023] == "not_projected"     # before the new start of the projection, no actual
    assert by_year[2025] == by_year[2026] == "projected"
    assert t[t.year <= 2024].p_met.isna().all() and t[t.year >= 2025].p_met.between(0, 1).all()
    sf = pd.read_csv(d / "scenarios.csv")
    assert sf[(sf.unit == "cixi") & (sf.year == 2024) & (sf.indicator == "hte_valid")].p_met.isna().all()
    assert "Cixi (whole city) Valid High-Tech Enterprises 2024 target 1,200: missed (actual 1,010 < 1,200)" in r.output
    html = (d / "report_en.html").read_text(encoding="utf-8")
    assert "missed (actual 1,010 &lt; 1,200)" in html


# ---- integers and strings ------------------------------------------------------------------------
@pytest.mark.parametrize("year", ["2024", '"2024"', "2024.0"])
def test_a_year_typed_naturally_is_the_year(workdir, year):
    append(workdir / "scenarios/yuyao.toml", f'[[observations]]\nunit = "yuyao"\nindicator = "reserve"\n'
                                             f'year = {year}\nvalue = 130\nsource_file = "x"\n')
    sc = load_scenario("scenarios/yuyao.toml")
    r = [r for r in sc.rows if r.origin == "yuyao.toml"][0]
    assert r.year == 2024 and type(r.year) is int and r.value == 130.0
    assert r.passage == "(no passage quoted)"


@pytest.mark.parametrize("value,year", [("2024", 2024), (2024, 2024), ("2024.0", 2024), (2024.0, 2024),
                                        (" 2024 ", 2024), ("2024.5", None), (True, None), ("MMXXIV", None)])
def test_whole_number(value, year):
    assert whole_number(value) == year


def test_ledger_year_written_by_a_spreadsheet(workdir):
    p = workdir / "calibration/ledger.csv"
    text = p.read_text(encoding="utf-8")
    assert ",yuyao,hte_valid,2024,1032," not in text
    p.write_text(text.replace("yuyao,hte_valid,2024,1032,", 'yuyao,hte_valid,2024.0,"1,032",', 1), encoding="utf-8")
    sc = load_scenario("scenarios/yuyao.toml")
    assert any(r.unit == "yuyao" and r.indicator == "hte_valid" and r.year == 2024 and r.value == 1032 for r in sc.rows)


# ---- every mistake: one sentence, exit 2 -------------------------------------------------------------
BASE = 'unit = "yuyao"\nindicator = "hte_valid"\nyear = 2025\nvalue = 1100\nsource_file = "x"\n'
BAD = [
    ("misspelt key", BASE.replace("value =", "valeu ="),
     r"observations\[0\]\.valeu: .*unknown key 'valeu'; did you mean 'value'\?"),
    ("misspelt indicator", BASE.replace("hte_valid", "hte_vaild"),
     r"observations\[0\]: indicator: expected an indicator declared .* got 'hte_vaild'; did you mean 'hte_valid'\?"),
    ("unit not in units.csv", BASE.replace('"yuyao"', '"yuyoa"'), r"observations\[0\]: unit: .*did you mean 'yuyao'\?"),
    ("unit outside the scenario", BASE.replace('"yuyao"', '"zhenhai"'),
     r"observations\[0\]: unit: expected one of the scenario's units \(yuyao\), got 'zhenhai'"),
    ("fractional year", BASE.replace("2025", "2025.5"), r"observations\[0\]: year: expected a year such as 2024, got 2025\.5"),
    ("year after the horizon", BASE.replace("2025", "2031"),
     r"observations\[0\]: year: expected a year up to the scenario's horizon 2026, got 2031"),
    ("fraction of a firm", BASE.replace("1100", "1100.5"),
     r"observations\[0\]: value: expected a whole number of firms for hte_valid, got 1100\.5"),
    ("negative value", BASE.replace("1100", "-3"), r"observations\[0\]: value: expected a finite number >= 0"),
    ("text value", BASE.replace("1100", '"many"'), r"observations\[0\]: value: expected a number, got 'many'"),
    ("bad bound", BASE + 'bound = "gt"\n', r"observations\[0\]: bound: .*got 'gt'"),
    ("contradicts the ledger", BASE.replace("2025", "2024"),
     r"yuyao hte_valid 2024: expected figures of the same unit, indicator, year and kind that agree, got "
     r"yuyao hte_valid 2024 actual 1,032 \(ledger\) and yuyao hte_valid 2024 actual 1,100 \(yuyao\.toml\)"),
    ("lower bound above the exact value", BASE.replace("2025", "2024") + 'bound = "ge"\n', r"actual > 1,100"),
    ("two blocks disagree", BASE + "\n[[observations]]\n" + BASE.replace("1100", "1101"), r"1,100 \(yuyao\.toml\) and"),
]


@pytest.mark.parametrize("name,body,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_observation_one_sentence(workdir, name, body, pattern):
    append(workdir / "scenarios/yuyao.toml", "[[observations]]\n" + body)
    code, lines = check("scenarios/yuyao.toml")
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: scenarios/yuyao.toml: ") and lines[0].endswith((".", "?")), lines[0]
    assert re.search(pattern, lines[0]), lines[0]


def test_sub_units_that_no_longer_add_up(workdir):
    # the whole city published 1,010, the city-level part alone 1,100: impossible
    append(workdir / "scenarios/cixi.toml", textwrap.dedent("""\
        [[observations]]
        unit = "cixi"
        indicator = "hte_valid"
        year = 2024
        value = 1010
        source_file = "x"

        [[observations]]
        unit = "cixi_city"
        indicator = "hte_valid"
        year = 2024
        value = 1100
        source_file = "x"
        """))
    code, lines = check("scenarios/cixi.toml")
    assert code == 2 and len(lines) == 1
    assert re.search(r"cixi hte_valid 2024: expected the sub-units with a figure \(cixi_city\) to add up to at most "
                     r"1010, got a sum of 1100", lines[0]), lines[0]
    # a lower bound for the part that the total allows is fine
    text = (workdir / "scenarios/cixi.toml").read_text(encoding="utf-8")
    (workdir / "scenarios/cixi.toml").write_text(text.replace("value = 1100", 'value = 900\nbound = "ge"'),
                                                  encoding="utf-8")
    assert check("scenarios/cixi.toml")[0] == 0


# ---- several figures of one cell: the fit uses one ---------------------------------------------------
def row(value, kind="actual", bound="eq", origin="ledger"):
    return Row("yuyao", "hte_valid", 2024, value, kind, "actual" if kind == "derived" else "", "", "s", "p",
               "d" if kind == "derived" else "", origin, bound)


def test_superseded_keeps_the_exact_published_figure():
    rows = [row(1000, bound="ge"), row(1032), row(1032, origin="yuyao.toml"), row(1030, kind="derived"),
            row(1020, bound="ge")]
    drop = superseded(rows)
    assert set(drop) == {0, 2, 3, 4}
    assert drop[2].startswith("a duplicate of yuyao hte_valid 2024 actual 1,032 (ledger)")
    assert drop[0].startswith("superseded by") and drop[3].startswith("superseded by")
    # of two lower bounds, the higher one counts
    assert set(superseded([row(1000, bound="ge"), row(1020, bound="ge")])) == {0}


def test_a_duplicate_block_is_listed_not_fitted_twice(workdir):
    from sim.calibrate import Model
    before = Model(load_scenario("scenarios/yuyao.toml")).n_obs
    append(workdir / "scenarios/yuyao.toml", '[[observations]]\nunit = "yuyao"\nindicator = "hte_valid"\n'
                                             'year = 2024\nvalue = 1032\nsource_file = "again"\n')
    sc = load_scenario("scenarios/yuyao.toml")
    assert Model(sc).n_obs == before
    dup = [s for s in fit_status(sc) if s[0].origin == "yuyao.toml"]
    assert dup[0][1] is False and dup[0][2].startswith("a duplicate of yuyao hte_valid 2024 actual 1,032 (ledger)")


def test_fit_status_reasons(root):
    extra = [{"unit": "jiangbei", "indicator": "hte_valid", "year": 2019, "value": 150, "source_file": "x"},
             {"unit": "jiangbei", "indicator": "hte_new", "year": 2020, "value": 30, "source_file": "x"}]
    sc = load_scenario(root / "scenarios/jiangbei.toml", replace={"observations": extra})
    st = fit_status(sc)
    assert st and all(isinstance(f, bool) for _, f, _ in st)
    why = {(r.unit, r.indicator, r.year): (f, w) for r, f, w in st}
    assert why[("jb_waitan", "hte_valid", 2021)] == (False, "defines the sub-unit split (its prior), not fitted twice")
    assert why[("jiangbei", "hte_valid", 2021)] == (True, "")
    assert why[("jiangbei", "hte_listed", 2021)][1].startswith("indicator not modelled")
    assert why[("jiangbei", "tech_sme", 2020)] == (True, "")
    from sim.calibrate import Model
    assert sum(f for _, f, _ in st) == Model(sc).n_obs     # the list says what the fit does
    assert why[("jiangbei", "hte_valid", 2019)] == (False, "before the start year 2020")
    assert why[("jiangbei", "hte_new", 2020)][0] is False and "flow of the start year" in why[("jiangbei", "hte_new", 2020)][1]


# ---- target phrases ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status,actual,bound,en,zh", [
    ("met", 1010, "eq", "met (actual 1,010 >= 950)", "已达成（实际1,010 ≥ 目标950）"),
    ("met", 960, "ge", "met (actual > 960 >= 950)", "已达成（实际超过960 ≥ 目标950）"),
    ("missed", 900, "eq", "missed (actual 900 < 950)", "未达成（实际900 < 目标950）"),
    ("open", 480, "ge", "open (actual > 480, target 950)", "待定（实际超过480，目标950）"),
])
def test_target_phrase(status, actual, bound, en, zh):
    r = {"status": status, "target": 950.0, "actual": float(actual), "actual_bound": bound, "p_met": math.nan}
    assert target_phrase(r, "en") == en and target_phrase(r, "zh") == zh


def test_lower_bound_that_clears_the_target_counts_as_met(workdir):
    from sim.calibrate import fit
    from sim.project import project
    append(workdir / "scenarios/cixi.toml", '[[observations]]\nunit = "cixi_city"\nindicator = "hte_valid"\n'
                                            'year = 2024\nvalue = 960\nbound = "ge"\nsource_file = "x"\n'
                                            'passage = "突破960家"\n')
    sc = load_scenario("scenarios/cixi.toml")
    res = project(sc, fit(sc, draws=200, chains=8, steps=300, burn=150), n_paths=200)
    tf = res.targets_frame()
    t = tf[(tf.unit == "cixi_city") & (tf.indicator == "hte_valid")]
    assert set(t[t.year == 2024].status) == {"met"} and t[t.year == 2024].p_met.isna().all()
    assert set(t[t.year == 2025].status) == {"projected"}       # 1,250 for 2025: a lower bound of 960 says nothing


def test_actuals_up_to_the_horizon_leave_nothing_to_project_and_still_run(workdir):
    for year, value in ((2025, 1250), (2026, 1400)):
        r = CliRunner().invoke(main, ["add", "scenarios/yuyao.toml", "--unit", "yuyao", "--indicator", "hte_valid",
                                      "--year", str(year), "--value", str(value), "--source", "bureau"])
        assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["run", "scenarios/yuyao.toml", "--paths", "300", "--lang", "en"])
    assert r.exit_code == 0, r.output
    d = workdir / "results/yuyao/run-001"
    tg = pd.read_csv(d / "targets.csv")
    assert tg.p_met.isna().all() and set(tg.status) <= {"met", "missed", "not_projected"}
    assert "Yuyao Valid High-Tech Enterprises 2025 target 1,200: met (actual 1,250 >= 1,200)" in r.output
    assert (d / "report_en.html").is_file()
