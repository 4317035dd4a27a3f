"""The CLI end to end: a run folder with every file, same seed -> same bytes, reruns never
overwrite, and every shipped scenario checks."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main

CSVS = ["projection.csv", "targets.csv", "flows.csv", "costs.csv", "scenarios.csv", "calibration.csv", "sources.csv"]


@pytest.mark.parametrize("name", ["cixi", "zhenhai", "yuyao", "jiangbei"])
def test_check_every_shipped_scenario(root, name):
    r = CliRunner().invoke(main, ["check", str(root / "scenarios" / f"{name}.toml")])
    assert r.exit_code == 0, r.output
    assert "ok:" in r.output


def test_run_writes_a_complete_folder_and_reruns_do_not_overwrite(workdir):
    args = ["run", "scenarios/yuyao.toml", "--paths", "400", "--out", "results"]
    r1 = CliRunner().invoke(main, args + ["--lang", "en", "--svg"])
    assert r1.exit_code == 0, r1.output
    run1 = workdir / "results/yuyao/run-001"
    for f in CSVS + ["run.json"]:
        assert (run1 / f).is_file(), f
    figs = sorted(p.name for p in (run1 / "figures" / "en").iterdir())
    assert "fan_yuyao_hte_valid.png" in figs and "fan_yuyao_hte_valid.svg" in figs
    # one screen by default; -v adds one line per scenario and target
    assert len(r1.output.splitlines()) <= 25 and not [x for x in r1.output.splitlines() if x.startswith("[")]
    r2 = CliRunner().invoke(main, args + ["--no-figures", "-v"])
    sc_lines = [x for x in r2.output.splitlines() if x.startswith("[")]
    assert len(sc_lines) == 4 * 3
    assert any("年有效高新技术企业 目标1,200：达成概率" in x for x in sc_lines)
    assert r2.exit_code == 0, r2.output
    run2 = workdir / "results/yuyao/run-002"
    assert run2.is_dir() and run1.is_dir()
    for f in CSVS:
        assert (run1 / f).read_bytes() == (run2 / f).read_bytes(), f
    assert not list((workdir / "results/yuyao").glob(".tmp-*"))


def test_different_seed_different_numbers(workdir):
    for seed in ("1", "2"):
        r = CliRunner().invoke(main, ["run", "scenarios/yuyao.toml", "--paths", "300", "--seed", seed, "--no-figures"])
        assert r.exit_code == 0, r.output
    a = (workdir / "results/yuyao/run-001/projection.csv").read_bytes()
    b = (workdir / "results/yuyao/run-002/projection.csv").read_bytes()
    assert a != b


def test_outputs_have_the_promised_columns(workdir):
    r = CliRunner().invoke(main, ["run", "scenarios/cixi.toml", "--paths", "300", "--no-figures"])
    assert r.exit_code == 0, r.output
    d = workdir / "results/cixi/run-001"
    proj = pd.read_csv(d / "projection.csv")
    assert list(proj.columns) == ["unit", "scenario", "indicator", "year", "mean", "p05", "p10", "p25", "p50",
                                  "p75", "p90", "p95"]
    assert {"cixi", "cixi_city", "qianwan"} <= set(proj.unit)
    assert proj.year.max() == 2026 and proj.year.min() == 2022
    tg = pd.read_csv(d / "targets.csv")
    assert {"unit", "scenario", "indicator", "year", "target", "p_met", "mc_se"} <= set(tg.columns)
    assert tg.p_met.between(0, 1).all()
    # Cixi's 2026 whole-city target of 1,750 valid HTE is scored for every scenario
    assert len(tg[(tg.unit == "cixi") & (tg.indicator == "hte_valid") & (tg.year == 2026)]) == 5
    man = json.loads((d / "run.json").read_text(encoding="utf-8"))
    assert man["seed"] == 20261123 and man["paths"] == 300
    assert all(len(h) == 16 for h in man["inputs_sha256_16"].values())
    assert "/" not in "".join(man["inputs_sha256_16"]).replace("ledger:", "")
    # the assumed start level is named as such; targets at the start year are not scored
    assert any(t["year"] == 2022 for t in man["targets_not_scored"])
    # quantiles are ordered
    q = proj[["p05", "p10", "p25", "p50", "p75", "p90", "p95"]].to_numpy()
    assert (q[:, 1:] >= q[:, :-1]).all()
