"""Forecasts that hold up: priors that can produce the region's growth, start levels never
taken from targets, inflows that follow the system, every actual fitted (sub-units too),
lower bounds read as lower bounds."""

import dataclasses
import shutil

import numpy as np
import pytest
from scipy import stats

from sim.calibrate import Model, fit
from sim.prior_predictive import evidence, growth_table
from sim.project import project
from sim.scenario import load_scenario

SHIPPED = ("cixi", "yuyao", "jiangbei", "zhenhai")


@pytest.mark.parametrize("name", SHIPPED)
def test_prior_predictive_covers_the_regional_growth(root, name):
    """FACTS.md: China about 18% a year, Ningbo 28% a year (2017-2020): the one-year valid-HTE
    growth the priors imply must cover both for every unit, with its median in between the
    slowest and fastest regional series."""
    sc = load_scenario(root / "scenarios" / f"{name}.toml")
    g = growth_table(sc, n=3000)
    one = g[(g.indicator == "hte_valid") & (g.years == 1)]
    assert set(one.unit) == set(sc.fit_units)
    assert (one.p05 <= 0.18).all() and (one.p95 >= 0.28).all(), one
    ev = evidence(sc)
    lo, hi = ev.growth.min(), ev.growth.max()
    assert one.p50.between(lo - 0.05, hi).all(), one


@pytest.mark.parametrize("name", SHIPPED)
def test_no_start_level_is_taken_from_a_target(root, name):
    """Every shipped unit's levels come from the hierarchy (ratios learnt across districts);
    a plan enters only as the base-year column of its own plan, as a pseudo-observation."""
    sc = load_scenario(root / "scenarios" / f"{name}.toml")
    for u in sc.fit_units:
        spec = sc.starts[u].spec
        assert {lv for lv, _ in spec.z} == set(sc.structure.level_names), u
        assert {n for n, _ in spec.explicit} <= set(sc.structure.share_names), u
        if spec.plan_base is not None:
            assert spec.plan_base.year == spec.year and spec.plan_base.cv >= 0.1


def _growing(sc, growth):
    """Rates (prior mean, with the tech-SME inflow solved) whose tiers grow ``growth`` a year."""
    model = Model(sc)
    theta = model.space.mean.copy()
    i = model.space.index["sme_inflow"]
    c = model.full_c

    def eig(u):
        th = theta.copy()
        th[i] = u
        rates = model.space.natural(th[None])[:, : model.n_rates]
        G, _, _ = c.system_batch(rates)
        return np.max(np.abs(np.linalg.eigvals(G[0][: c.K, : c.K]))) - (1 + growth)

    from scipy.optimize import brentq
    theta[i] = brentq(eig, -6, 1)
    return model, theta


def test_inflows_follow_the_system_and_growth_is_kept(root):
    """Data simulated at 25% a year (the exact integer simulator, every indicator for six
    years) are recovered, and the projection keeps growing about 25% a year instead of
    decaying toward a fixed inflow."""
    from synthetic import synthetic
    sc = load_scenario(root / "scenarios" / "yuyao.toml")
    # without the yearly rate shocks (their own test below): one simulated history then grows
    # at the rates' own pace, which is what this test is about
    sc = dataclasses.replace(sc, pool_with=(), year_noise={})
    model, theta = _growing(sc, 0.25)
    start = sc.starts[sc.unit].year
    inds = ["hte_valid", "hte_new", "tech_sme", "tech_sme_new", "reserve"]
    cells = [(sc.unit, i, y) for i in inds for y in range(start, start + 7)]
    rng = np.random.default_rng(25)
    rows, truth = synthetic(sc, theta, cells, rng, start + 9)
    g_true = (truth[start + 9] / truth[start + 6]) ** (1 / 3) - 1
    assert g_true == pytest.approx(0.25, abs=0.03)
    sc_r = dataclasses.replace(sc, rows=tuple(rows), horizon=start + 9, policies=sc.policies[:1], targets=())
    cal = fit(sc_r, chains=16, steps=150, max_rounds=6)
    res = project(sc_r, cal, n_paths=2000)
    v = res.indicator(res.policy_names()[0], sc.unit, "hte_valid")
    med = np.median(v, axis=1)
    g_proj = (med[-1] / med[0]) ** (1 / (len(med) - 1)) - 1
    assert g_proj == pytest.approx(0.25, abs=0.05), g_proj
    # the projection does not decay: the last year grows about as fast as the first
    assert med[-1] / med[-2] - 1 > 0.8 * (med[1] / med[0] - 1)


def test_a_city_level_actual_changes_the_city_and_whole_projections(workdir):
    """Cixi's own statistics use the city-level scope (FACTS.md): a 市级 figure must be fitted,
    moving both the 市级 projection and the whole city's."""
    sc0 = load_scenario(workdir / "scenarios/cixi.toml")
    with open(workdir / "calibration/ledger.csv", "a", encoding="utf-8") as fh:
        fh.write('cixi_city,hte_valid,2024,1150,actual,,"bureau statistics, city level (test)",test,'
                 '"2024年末市级有效高新技术企业1150家",\n')
    sc1 = load_scenario(workdir / "scenarios/cixi.toml")
    assert sc1.last_actual_year("cixi") == 2024
    out = {}
    for k, sc in enumerate((sc0, sc1)):
        sc = dataclasses.replace(sc, policies=sc.policies[:1])
        cal = fit(sc, chains=16, steps=150, max_rounds=4)
        res = project(sc, cal, n_paths=2000)
        out[k] = {u: float(np.median(res.indicator("baseline", u, "hte_valid")[res.year_index(2025)]))
                  for u in ("cixi", "cixi_city")}
    assert out[1]["cixi_city"] != out[0]["cixi_city"] and out[1]["cixi"] != out[0]["cixi"]
    # 1,150 in 2024 is above what the plan base and the borrowed rates implied: both move up
    assert out[1]["cixi_city"] > out[0]["cixi_city"] and out[1]["cixi"] > out[0]["cixi"]


def test_a_lower_bound_is_censored(root):
    """A published 'more than y' contributes log P(published >= y) and pulls the state only
    when y lies above the prediction (a Tobit update), unlike an exact y."""
    sc = load_scenario(root / "scenarios" / "yuyao.toml")
    base = [r for r in sc.rows if not (r.unit == "yuyao" and r.indicator == "hte_valid" and r.year == 2024)]
    model = Model(sc, rows=base)
    theta = model.space.mean[None]
    rec = []
    ll0, m0, _ = model.unit_filter(theta, "yuyao", full=True, record=rec)
    exact = next(r for r in sc.rows if r.unit == "yuyao" and r.indicator == "hte_valid" and r.year == 2024)
    for y in (200.0, 5000.0):
        for bound in ("eq", "ge"):
            row = dataclasses.replace(exact, value=y, bound=bound)
            m = Model(sc, rows=base + [row])
            rec = []
            ll, mean, _ = m.unit_filter(theta, "yuyao", full=True, record=rec)
            mu, S = next((x[4][0], x[5][0]) for x in rec if x[1] == "hte_valid" and x[2] == 2024)
            if bound == "ge":
                assert ll[0] - ll0[0] == pytest.approx(stats.norm.logsf(y, mu, np.sqrt(S)), abs=1e-6)
            w = sc.structure.indicator_weights("hte_valid")
            moved = mean[0] @ w - m0[0] @ w
            if bound == "ge" and y < mu:
                assert abs(moved) < 0.05 * np.sqrt(S)   # far below the prediction: no information
            else:
                assert np.sign(moved) == np.sign(y - mu)


def test_yearly_rate_shocks_widen_the_forecast_and_are_common_to_scenarios(yuyao_results):
    """Rates move from year to year around each path's own values (priors file [year_noise]):
    the same shocks for every scenario (common random numbers), new ones each year, and a
    wider interval than rates fixed for the whole horizon."""
    from sim.project import draw_paths, year_shocks
    sc, cal = yuyao_results.scenario, yuyao_results.calibration
    assert sc.year_noise and max(sc.year_noise.values()) > 0
    paths = draw_paths(sc, cal, 4000, 7, sc.levers)
    a, b = year_shocks(sc, paths, 2025), year_shocks(sc, paths, 2026)
    assert np.array_equal(a, year_shocks(sc, paths, 2025))          # the same for every policy
    assert abs(np.corrcoef(a[:, 0], b[:, 0])[0, 1]) < 0.1            # new each year
    names = sc.structure.prob_params + sc.structure.rate_params
    assert np.allclose(a.std(axis=0), [sc.year_noise.get(n, 0.0) for n in names], rtol=0.1)
    quiet = dataclasses.replace(sc, year_noise={})
    width = {}
    for k, s in (("noise", sc), ("none", quiet)):
        res = project(s, cal, n_paths=4000, seed=7)
        v = res.indicator("baseline", sc.unit, "hte_valid")[res.year_index(2026)]
        width[k] = np.subtract(*np.percentile(v, [95, 5]))
    assert width["noise"] > 1.05 * width["none"], width
