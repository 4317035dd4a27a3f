"""Validation of the calibration (METHODS.md s.7).

V1 recovery: dense synthetic data (every indicator, every year) from known parameters;
the estimates are within 2 posterior sd of the truth for >= 95% of parameters x replications.
V2 simulation-based calibration with the real pattern of published cells of the Yuyao
scenario (the exact integer simulator, reporting noise included): nominal 90% intervals of
the parameters and of the projected valid-HTE total cover the truth at a rate within
0.90 +- 1.96 sqrt(0.09 / n). Default run: n = 50 ([0.82, 0.98]); slow group (pytest -m slow):
n = 200 ([0.858, 0.942]) and 80% intervals within [0.745, 0.855].
"""

import numpy as np
import pytest

from sim.scenario import load_scenario
from synthetic import coverage_run


@pytest.fixture(scope="module")
def yuyao(root):
    return load_scenario(root / "scenarios" / "yuyao.toml")


def test_v1_recovery_on_dense_synthetic_data(yuyao):
    sc = yuyao
    inds = ["hte_valid", "hte_new", "tech_sme", "tech_sme_new", "reserve", "leaders"]
    start = sc.starts[sc.unit].year
    cells = [(sc.unit, i, y) for i in inds for y in range(start, start + 7)]
    from sim.calibrate import Model
    truth = Model(sc).space.mean
    out = coverage_run(sc, 4, seed=11, cells=cells, project_to=start + 6, theta_fixed=truth,
                       fit_kw=dict(draws=1000, chains=16, steps=150, max_rounds=4))
    within = np.abs(out["z"]) <= 2
    assert within.mean() >= 0.95, within.mean()


def bounds(n, p):
    half = 1.96 * np.sqrt(p * (1 - p) / n)
    return p - half, p + half


def test_v2_simulation_based_calibration_50(yuyao):
    out = coverage_run(yuyao, 50, seed=2026)
    lo, hi = bounds(50, 0.9)
    assert lo <= out["params"].mean() <= hi, out["params"].mean()
    assert lo <= out["hte"].mean() <= hi, out["hte"].mean()


@pytest.mark.slow
def test_v2_simulation_based_calibration_200(yuyao):
    for level, nominal in ((0.90, 0.9), (0.80, 0.8)):
        out = coverage_run(yuyao, 200, seed=7, level=level)
        lo, hi = bounds(200, nominal)
        print(f"SBC n=200 level={level}: parameters {out['params'].mean():.3f}, valid HTE {out['hte'].mean():.3f}, "
              f"bounds [{lo:.3f}, {hi:.3f}]")
        assert lo <= out["params"].mean() <= hi
        assert lo <= out["hte"].mean() <= hi
