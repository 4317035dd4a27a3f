"""The Python API (sim.load_scenario, sim.fit, sim.project, Results.to_frame) gives what
`sim run` writes, from the same seed."""

import numpy as np
import pandas as pd
from click.testing import CliRunner

import sim
from sim.cli import main
from sim.results import QCOLS


def test_api_matches_the_run_folder(workdir):
    sc = sim.load_scenario("scenarios/yuyao.toml")
    assert isinstance(sc, sim.Scenario)
    cal = sim.fit(sc, seed=11)          # `sim run --seed 11` fits with that seed too
    assert isinstance(cal, sim.Calibration) and cal.converged
    res = sim.project(sc, cal, n_paths=400, seed=11)
    assert isinstance(res, sim.Results)

    df = res.to_frame()
    assert list(df.columns) == ["unit", "scenario", "indicator", "year", "mean", *QCOLS]
    assert set(df.scenario) == {p.name for p in sc.policies}
    assert set(df.indicator) == set(sc.structure.indicators)
    assert df.year.min() == cal.T and df.year.max() == sc.horizon
    q = df[list(QCOLS)].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0)          # quantiles in order

    # the run folder of `sim run` with the same seed and paths holds the same numbers
    r = CliRunner().invoke(main, ["run", "scenarios/yuyao.toml", "--paths", "400", "--seed", "11",
                                  "--out", "out", "--no-figures"])
    assert r.exit_code == 0, r.output
    csv = pd.read_csv(workdir / "out" / "yuyao" / "run-001" / "projection.csv")
    key = ["unit", "scenario", "indicator", "year"]
    both = df.merge(csv, on=key, suffixes=("", "_csv"))
    assert len(both) == len(csv) == len(df)
    for c in ["mean", *QCOLS]:
        np.testing.assert_allclose(both[c], both[f"{c}_csv"], rtol=1e-6, atol=1e-6)

    # one row per path: its means are the summary's
    res = sim.project(sc, cal, n_paths=50, seed=3)
    paths = res.to_frame(paths=True)
    assert list(paths.columns) == ["unit", "scenario", "indicator", "year", "path", "value"]
    assert paths.path.nunique() == 50
    summary = res.to_frame()
    mean = paths.groupby(["unit", "scenario", "indicator", "year"], sort=False)["value"].mean().reset_index()
    both = summary.merge(mean, on=["unit", "scenario", "indicator", "year"])
    np.testing.assert_allclose(both["mean"], both["value"])
    headline = res.indicator("baseline", sc.unit, sc.structure.headline)      # (years, paths), firms
    sel = paths[(paths.scenario == "baseline") & (paths.unit == sc.unit) & (paths.indicator == sc.structure.headline)]
    np.testing.assert_array_equal(sel.value.to_numpy(), headline.reshape(-1))
