"""sim goal on a synthetic district whose answer is known in closed form.

tests/data/toy: 100 valid HTEs in 2024 that never leave; whole-firm relocations arrive at
Poisson(0.05 * stock * r) a year (the stock at the start of the year), where a relocation
reward x multiplies the rate by r = exp(1.5 * (1 - exp(-x / 20))) (strength known exactly).
So N1 ~ Poisson(5 r) arrive in 2025 and N2 ~ Poisson(0.05 r (100 + N1)) in 2026, and
P(valid HTE in 2026 >= 130) = sum_n1 P(N1 = n1) P(N2 >= 30 - n1).
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import optimize, stats

from sim.cli import main

TOY = str(Path(__file__).resolve().parent / "data" / "toy" / "toy.toml")


def p_met(r, target_extra=30):
    n1 = np.arange(0, 200)
    return float(np.sum(stats.poisson.pmf(n1, 5 * r) * stats.poisson.sf(target_extra - 1 - n1, 0.05 * r * (100 + n1))))


def closed_form(prob=0.5, target_extra=30):
    r = optimize.brentq(lambda r: p_met(r, target_extra) - prob, 0.1, 20)
    return r, -20 * np.log(1 - np.log(r) / 1.5)


def run_goal(tmp_path, *extra):
    r = CliRunner().invoke(main, ["goal", TOY, "--target", "hte_valid@2026", "--prob", "0.5", "--out", str(tmp_path),
                                  "--lang", "en", *extra])
    assert r.exit_code == 0, r.output
    folder = sorted((tmp_path / "toy").glob("goal-*"))[-1]
    return r.output, pd.read_csv(folder / "goal.csv"), folder


def test_goal_finds_the_closed_form_answer(tmp_path):
    r_star, x_star = closed_form()
    out, g, folder = run_goal(tmp_path)
    lever = g[(g.kind == "lever") & (g.name == "toy_relocation")].iloc[0]
    assert lever.reachable and lever.required == pytest.approx(x_star, abs=1.5)
    rate = g[(g.kind == "rate") & (g.name == "relocation_inflow")].iloc[0]
    assert rate.required == pytest.approx(0.05 * r_star, abs=0.006)
    mix = g[g.kind == "mix"].iloc[0]
    mc_se = (mix.p_hi - mix.p_lo) / 3.92
    assert mix.reachable and mix.p_certified >= 0.5 - mc_se
    assert mix.extra_cost_10k_yuan > 0
    assert (folder / "frontier.csv").is_file() and (folder / "frontier_zh.png").is_file()
    fr = pd.read_csv(folder / "frontier.csv")
    assert fr.p_certified.iloc[-1] >= fr.p_certified.iloc[0]   # more budget, no lower probability
    assert "Stress test" in out


def test_a_target_the_baseline_meets_costs_nothing(tmp_path):
    out, g, _ = run_goal(tmp_path, "--value", "100")
    mix = g[g.kind == "mix"].iloc[0]
    assert mix.extra_cost_10k_yuan == 0 and "already meets" in mix.sentence


def test_an_unreachable_target_says_so_in_one_sentence(tmp_path):
    out, g, _ = run_goal(tmp_path, "--value", "1000")
    mix = g[g.kind == "mix"].iloc[0]
    assert not mix.reachable
    lines = [x for x in out.splitlines() if x.startswith("Not reachable")]
    assert len(lines) == 1 and lines[0].endswith(".")


def test_goal_bad_target(tmp_path):
    r = CliRunner().invoke(main, ["goal", TOY, "--target", "hte_vald@2026", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "did you mean 'hte_valid'?" in r.output
