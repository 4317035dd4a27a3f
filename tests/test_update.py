"""The update loop: a new actual against the previous run's forecast (PIT, a line when outside
the 90% interval), the headline's movement since the previous run, the inputs snapshot."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.results import QUANTS
from sim.update import pit_from_quantiles, previous_run, sentences


# ---- PIT from seven quantiles --------------------------------------------------------------------
Q = [609, 650, 700, 760, 820, 880, 926]


def test_pit_at_the_quantiles_and_between():
    for p, q in zip(QUANTS, Q):
        assert pit_from_quantiles(q, Q) == pytest.approx(p)
    assert pit_from_quantiles(730, Q) == pytest.approx(0.375)


def test_pit_tails_are_continuous_and_monotone():
    xs = np.linspace(300, 1300, 2001)
    f = np.array([pit_from_quantiles(x, Q) for x in xs])
    assert np.all(np.diff(f) >= 0) and f[0] < 0.001 and f[-1] > 0.999
    assert pit_from_quantiles(926 + 1e-6, Q) == pytest.approx(0.95, abs=1e-6)
    assert pit_from_quantiles(609 - 1e-6, Q) == pytest.approx(0.05, abs=1e-6)
    # beyond the 95% quantile: a normal tail with sd = (q95 - median) / 1.645
    from scipy.stats import norm
    sd = (926 - 760) / norm.ppf(0.95)
    assert pit_from_quantiles(1010, Q) == pytest.approx(norm.cdf((1010 - 760) / sd))


def test_pit_with_tied_integer_quantiles():
    q = [0, 0, 0, 1, 1, 2, 3]
    assert pit_from_quantiles(0, q) == pytest.approx((0.05 + 0.25) / 2)
    assert pit_from_quantiles(1, q) == pytest.approx((0.5 + 0.75) / 2)
    assert 0 < pit_from_quantiles(-1, q) < 0.001
    assert pit_from_quantiles(-1, [0, 0, 0, 0, 1, 2, 3]) == 0.0     # no spread below the median: no tail
    assert pit_from_quantiles(2.5, q) == pytest.approx(0.925)


# ---- the previous run ------------------------------------------------------------------------------
def fake_run(folder, scenario_file, complete=True):
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"scenario_file": scenario_file}), encoding="utf-8")
    if complete:
        for t in ("projection.csv", "targets.csv"):
            (folder / t).write_text("unit\n", encoding="utf-8")


def test_previous_run_is_the_newest_complete_run_of_the_same_file(tmp_path):
    fake_run(tmp_path / "run-002", "cixi.toml")
    fake_run(tmp_path / "run-010", "cixi.toml")
    fake_run(tmp_path / "run-011", "other.toml")
    fake_run(tmp_path / "run-012", "cixi.toml", complete=False)
    (tmp_path / "run-013").mkdir()
    (tmp_path / "run-013" / "run.json").write_text("{not json", encoding="utf-8")
    fake_run(tmp_path / "compare-020", "cixi.toml")
    assert previous_run(tmp_path, "cixi.toml").name == "run-010"
    assert previous_run(tmp_path / "none", "cixi.toml") is None


# ---- end to end ------------------------------------------------------------------------------------
def test_a_surprising_actual_is_named_against_the_previous_forecast(workdir):
    r = CliRunner().invoke(main, ["run", "scenarios/cixi.toml", "--paths", "400", "--no-figures"])
    assert r.exit_code == 0, r.output
    man1 = json.loads((workdir / "results/cixi/run-001/run.json").read_text(encoding="utf-8"))
    assert man1["previous_run"] is None and man1["new_actuals"] == [] and man1["since_previous"] is None
    snap = json.loads((workdir / "results/cixi/run-001/inputs.json").read_text(encoding="ascii"))
    assert snap["files"]["scenario"]["text"] == (workdir / "scenarios/cixi.toml").read_text(encoding="utf-8")
    assert set(snap["files"]) == {"scenario", "ledger", "units", "structure", "priors", "starts", "levers"}
    proj = __import__("pandas").read_csv(workdir / "results/cixi/run-001/projection.csv")
    cell = proj[(proj.unit == "cixi") & (proj.indicator == "hte_valid") & (proj.year == 2024)
                & (proj.scenario == "baseline")].iloc[0]
    far = int(cell.p95 * 1.5)
    r = CliRunner().invoke(main, ["add", "scenarios/cixi.toml", "--unit", "cixi", "--indicator", "hte_valid",
                                  "--year", "2024", "--value", str(far), "--source", "bureau"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["run", "scenarios/cixi.toml", "--paths", "400", "--no-figures"])
    assert r.exit_code == 0, r.output
    man = json.loads((workdir / "results/cixi/run-002/run.json").read_text(encoding="utf-8"))
    assert man["previous_run"] == "run-001"
    (s,) = man["new_actuals"]
    assert (s["unit"], s["indicator"], s["year"], s["actual"]) == ("cixi", "hte_valid", 2024, far)
    assert s["outside_90"] == "above" and s["pit"] > 0.95
    assert s["previous_p95"] == pytest.approx(cell.p95, abs=1e-3)
    line = (f"慈溪市（全市）有效高新技术企业：2024年实际{far:,}家，高于上次预测的90%区间"
            f"[{cell.p05:,.0f}, {cell.p95:,.0f}]（run-001，PIT {s['pit']:.2f}）")
    assert line in r.output
    assert man["since_previous"]["before"]["p_met"] is not None
    moved = [x for x in r.output.splitlines() if x.startswith("与上次运行（run-001）相比")]
    assert len(moved) == 1
    en = sentences(man, "en")
    assert en[0].startswith("Since the previous run (run-001)") and "above the previous forecast's 90% interval" in en[1]
    # the report says it too
    r = CliRunner().invoke(main, ["report", "results/cixi/run-002", "--lang", "zh"])
    assert r.exit_code == 0, r.output
    html = __import__("html").unescape((workdir / "results/cixi/run-002/report_zh.html").read_text(encoding="utf-8"))
    assert line in html and moved[0] in html
    # sim compare on the two Cixi runs: the one added figure is all that changed
    r = CliRunner().invoke(main, ["compare", "results/cixi/run-001", "results/cixi/run-002", "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert "changed between the runs: new_data" in r.output
    cmp = __import__("pandas").read_csv(workdir / "results/cixi/compare-001/compare.csv")
    row = cmp[(cmp.unit == "cixi") & (cmp.indicator == "hte_valid") & (cmp.year == 2026)
              & (cmp.scenario == "baseline") & (cmp.measure == "median")].iloc[0]
    assert row.new_data > 0 and row.priors_starts == 0 and row.levers == 0
    assert row.change == pytest.approx(row.new_data + row.monte_carlo_noise, abs=1e-3)
    assert abs(row.monte_carlo_noise) <= 3 * row.noise_se + 0.51     # the reruns reproduce both runs
    settled = cmp[(cmp.unit == "cixi") & (cmp.indicator == "hte_valid") & (cmp.year == 2024) & (cmp.measure == "p_met")]
    assert (settled.status_after == "met").all() and settled.after.isna().all()
    assert (workdir / "results/cixi/compare-001/compare.png").is_file()


def test_an_actual_inside_the_interval_is_reported_without_alarm():
    man = {"labels": {"units": {"cixi": {"zh": "慈溪市", "en": "Cixi"}},
                      "indicators": {"hte_valid": {"zh": "有效高企", "en": "valid HTE"}}, "policies": []},
           "new_actuals": [{"unit": "cixi", "indicator": "hte_valid", "year": 2024, "actual": 800.0, "bound": "eq",
                            "previous_run": "run-003", "previous_p05": 609.0, "previous_p50": 760.0,
                            "previous_p95": 926.0, "pit": 0.6, "pit_is_lower_bound": False, "outside_90": ""}]}
    assert sentences(man, "zh") == ["慈溪市有效高企：2024年实际800家，在上次预测的90%区间[609, 926]内（run-003，PIT 0.60）"]
    man["new_actuals"][0].update(actual=1010.0, outside_90="above", pit=0.99, bound="ge")
    assert sentences(man, "en") == ["Cixi valid HTE: 2024 actual > 1,010, above the previous forecast's 90% interval "
                                    "[609, 926] (run-003, PIT ≥0.99)"]

    man["new_actuals"][0].update(actual=500.0, outside_90="", pit=0.001)
    assert sentences(man, "zh") == ["慈溪市有效高企：2024年实际超过500家，与上次预测的90%区间[609, 926]不矛盾（run-003，PIT ≥0.00）"]
