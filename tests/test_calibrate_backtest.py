"""sim calibrate and sim backtest from the command line, and the Yuyao reference backtest."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from sim.backtest import crps_samples, loglinear, naive_forecasts
from sim.cli import main


def test_calibrate_writes_labels_and_figures(workdir):
    r = CliRunner().invoke(main, ["calibrate", "scenarios/yuyao.toml", "--out", "results"])
    assert r.exit_code == 0, r.output
    d = workdir / "results/yuyao/calibrate-001"
    cal = pd.read_csv(d / "calibration.csv")
    assert {"parameter", "prior_median", "prior_p05", "prior_p95", "prior_source", "post_mean", "post_p05", "post_p95",
            "contraction", "label"} <= set(cal.columns)
    assert set(cal.label) <= {"data-informed", "partly informed", "prior-dominated"}
    # 003: "全年新认定国家高新技术企业250家" pins down the certification rate of tech SMEs
    assert cal.set_index("parameter").loc["sme_cert", "label"] == "data-informed"
    assert (d / "prior_vs_posterior.png").is_file() and (d / "fitted_vs_published.png").is_file()
    fv = pd.read_csv(d / "fitted.csv")
    assert set(fv.indicator) == {"hte_valid", "hte_valid_change", "hte_new", "tech_sme", "tech_sme_new"}
    # a second call reuses the cached fit and says so
    assert "校准：" in r.output and "由数据确定的程度" in r.output and "R-hat" not in r.output
    r2 = CliRunner().invoke(main, ["calibrate", "scenarios/yuyao.toml", "--out", "results", "--lang", "en"])
    assert "reused the cached fit" in r2.output
    assert (workdir / "calibration/fitted").is_dir()


def test_leave_one_district_out_reference(workdir):
    """Leave-one-district-out: withhold Yuyao's 2024 actuals (003: "全年新认定国家高新技术企业250家,全市高企总量达
    1032家", "新认定省科技型中小企业493家,总量达2770家") and Jiangbei's base (004: 2021 HTE 203, 2020 tech SMEs
    1,069), fit on the other district, and score the withheld figures. A unit with no actuals gets wide intervals:
    they must cover what was published; its PITs must not sit at the extremes."""
    for unit, n_scored in (("yuyao", 5), ("jiangbei", 2)):
        r = CliRunner().invoke(main, ["backtest", "scenarios/cixi.toml", "--leave-out", unit, "--paths", "2000",
                                      "--out", "results"])
        assert r.exit_code == 0, r.output
        d = sorted((workdir / "results/cixi").glob("backtest-*"))[-1]
        bt = pd.read_csv(d / "backtest.csv")
        assert len(bt) == n_scored and set(bt.unit) == {unit} and (bt.design == "leave-out").all()
        assert bt.inside90.all(), bt[["indicator", "actual", "model_p05", "model_p95"]]
        assert bt.pit.between(0.05, 0.95).all(), bt[["indicator", "pit"]]
        sk = pd.read_csv(d / "skill.csv").iloc[0]
        assert sk.inside90 == 1.0 and 0.2 <= sk.mean_pit <= 0.8
        assert (d / "backtest.png").is_file()
    # Jiangbei's plan path extrapolated back to 2020-2021 is a naive forecast the model is scored against
    assert bt.plan_forecast.notna().all()


def test_backtest_until_a_year_scores_later_actuals(workdir):
    r = CliRunner().invoke(main, ["backtest", "scenarios/jiangbei.toml", "--until", "2020", "--paths", "1000",
                                  "--out", "results"])
    assert r.exit_code == 0, r.output
    bt = pd.read_csv(workdir / "results/jiangbei/backtest-001/backtest.csv")
    assert ("jiangbei", "hte_valid", 2021) in set(zip(bt.unit, bt.indicator, bt.year))
    assert (bt.fit_until == 2020).all() and bt.pit.between(0, 1).all() and (bt.crps > 0).all()


@pytest.mark.parametrize("name", ["cixi", "zhenhai"])
def test_backtest_with_nothing_to_score_says_so(workdir, name):
    """Cixi's and Zhenhai's seeds publish no actuals: nothing to score, one sentence, exit 2, nothing written."""
    r = CliRunner().invoke(main, ["backtest", f"scenarios/{name}.toml", "--paths", "300", "--out", "results"])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and "nothing after it to score" in r.output
    assert not list((workdir / "results").glob(f"{name}/backtest-*"))


def test_crps_and_baselines():
    rng = np.random.default_rng(0)
    x = rng.normal(10, 2, 200_000)
    # CRPS of N(mu, s) at y = mu is s (sqrt(2) - 1) / sqrt(pi) * ... : 2 * 0.2337 = 0.4674
    assert crps_samples(x, 10.0) == pytest.approx(2 * (2 * 0.3989423 - 1 / np.sqrt(np.pi)), rel=0.02)
    ll, gr = naive_forecasts([(2020, 100.0), (2021, 110.0)], 2023)
    assert loglinear([(2020, 100.0), (2022, 121.0)], 2021) == pytest.approx(110.0)
    assert gr == pytest.approx(110 * 1.1 ** 2) and ll == pytest.approx(110 * 1.1 ** 2)
    assert naive_forecasts([(2020, 100.0)], 2022) == (None, None)


def test_sensitivity_flags_targets_that_move(yuyao_results):
    from sim.sensitivity import THRESHOLD, sensitivity
    sc = yuyao_results.scenario
    base = yuyao_results.targets_frame()
    out = sensitivity(sc, base, n_paths=800, seed=3)
    cols = ["p_met_priors_x0.5", "p_met_priors_x2", "p_met_def_tech_sme_excl_hte", "p_met_def_hte_new_incl_relocated"]
    assert set(cols) <= set(out.columns)
    for _, r in out.iterrows():
        moved = [c[6:] for c in cols if abs(r[c] - r.p_met) > THRESHOLD]
        assert r.assumption_sensitive == ";".join(moved) or (not moved and r.assumption_sensitive in ("", None))


def test_targets_name_the_prior_dominated_rates_they_depend_on(yuyao_results):
    tf = yuyao_results.targets_frame()
    labels = yuyao_results.calibration.labels()
    for dep in tf.depends_on_prior_dominated:
        for name in filter(None, dep.split(";")):
            assert labels[name] == "prior-dominated"
