"""Figures show the right data and labels in both languages; common random numbers make
scenario differences precise, and adding or reordering scenarios changes nothing else."""

import dataclasses

import numpy as np
import pytest


def test_fan_chart_plots_history_targets_and_labels(yuyao_results, yuyao_run):
    import matplotlib.pyplot as plt
    from sim import figures as fg
    for lang, title, target_label in (("zh", "余姚市：有效高新技术企业", "规划目标"),
                                      ("en", "Yuyao: Valid High-Tech Enterprises", "Plan target")):
        ax = fg.fan_chart(yuyao_run, "yuyao", "hte_valid", lang=lang)
        assert ax.get_title() == title
        lines = {ln.get_label(): ln for ln in ax.get_lines()}
        tx, ty = lines[target_label].get_data()
        assert list(tx) == [2025] and list(ty) == [1200]
        hx, hy = lines["已公布实际值" if lang == "zh" else "Published actual"].get_data()
        assert list(hx) == [2024] and list(hy) == pytest.approx([1032])
        med = np.median(yuyao_results.indicator("baseline", "yuyao", "hte_valid"), axis=1)
        base = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) == len(med)][0]
        assert list(base.get_ydata()) == pytest.approx(list(med))
        assert ax.get_xlabel() == ("年份" if lang == "zh" else "Year")
        plt.close(ax.figure)


def test_every_figure_renders_in_both_languages(yuyao_run, tmp_path):
    from sim.figures import render_all
    for lang in ("zh", "en"):
        pngs = render_all(yuyao_run, tmp_path / lang, lang)
        names = {p.rsplit("/", 1)[-1] for p in pngs}
        assert {"fan_yuyao_hte_valid.png", "p_met_by_scenario.png", "cost_vs_probability.png", "waterfall.png",
                "tornado_baseline.png"} <= names
        for p in pngs:
            assert (tmp_path / lang / p.rsplit("/", 1)[-1]).stat().st_size > 10_000


def test_waterfall_adds_up_to_the_projected_mean(yuyao_run):
    """start + first certifications + relocations - lapsed - exits = the projected mean."""
    from sim.figures import WATERFALL
    fl, pr = yuyao_run.flows, yuyao_run.projection
    T, year = 2024, 2025
    for pol in yuyao_run.policy_names:
        start = pr[(pr.unit == "yuyao") & (pr.indicator == "hte_valid") & (pr.scenario == pol) & (pr.year == T)]["mean"].iloc[0]
        end = pr[(pr.unit == "yuyao") & (pr.indicator == "hte_valid") & (pr.scenario == pol) & (pr.year == year)]["mean"].iloc[0]
        change = sum(sign * fl[(fl.scenario == pol) & fl.flow.isin(flows) & (fl.year == year)]["mean"].sum()
                     for _, flows, sign in WATERFALL)
        assert start + change == pytest.approx(end, abs=0.01)


def test_scenario_differences_have_small_mc_error(yuyao_results):
    r = yuyao_results
    yi = r.year_index(2026)
    a = r.indicator("baseline", "yuyao", "hte_valid")[yi].astype(float)
    b = r.indicator("combined", "yuyao", "hte_valid")[yi].astype(float)
    # with common random numbers the difference is far less noisy than the difference of two
    # independent projections would be (sd sqrt(var a + var b))
    assert np.std(b - a) < 0.5 * np.sqrt(np.var(a) + np.var(b))
    assert np.mean(b - a) > 0   # stronger rewards, non-negative lever strengths


def test_adding_or_reordering_scenarios_changes_nothing_else(yuyao_results):
    from sim.project import project
    r = yuyao_results
    sc = r.scenario
    pols = list(sc.policies)
    base = pols[0]
    extra = dataclasses.replace(base, name="zz_extra", settings=tuple((k, v * 2) for k, v in base.settings))
    r2 = project(sc, r.calibration, n_paths=r.n_paths, seed=r.seed, policies=[extra] + pols[::-1])
    for p in pols:
        assert np.array_equal(r.sim(p.name).states, r2.sim(p.name).states), p.name
        assert np.array_equal(r.sim(p.name).flows, r2.sim(p.name).flows), p.name


def test_costs_are_amount_times_events(yuyao_results):
    r = yuyao_results
    sc = r.scenario
    s = r.sim("hte_reward_up")
    lv = sc.levers["yuyao_hte_cert_reward"]   # Yuyao's own top-up: 0 in force, 20 in this scenario
    new_cert = s.flows[..., sc.structure.flow("new_cert")].sum(axis=-1)
    for y, year in enumerate(r.years):
        amount = 20 if year >= s.policy.from_year and y > 0 else lv.calibrated_at
        assert np.allclose(s.costs["yuyao_hte_cert_reward"][y], amount * lv.cost_factor * new_cert[y])
    assert all((c >= 0).all() for c in s.costs.values())
