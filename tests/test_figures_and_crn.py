"""Figures show the right data and labels in both languages; common random numbers make
scenario differences precise, and adding or reordering scenarios changes nothing else."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest


def _texts(fig):
    from matplotlib.text import Text
    return [t for t in fig.findobj(Text) if t.get_text().strip() and t.get_visible()]


def _projector_ready(fig):
    """1920 px wide, no text under 14 pt."""
    w = fig.get_size_inches()[0] * fig.dpi
    assert round(w) == 1920, w
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 14]
    assert not small, small[:5]


def test_fan_chart_plots_history_targets_and_labels(yuyao_results, yuyao_run):
    import matplotlib.pyplot as plt
    from sim import figures as fg
    pr = yuyao_run.projection
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
        base = lines[yuyao_run.policy_label("baseline", lang)]
        assert list(base.get_ydata()) == pytest.approx(list(med))
        # the band is the 80% interval, as in the tables
        band = ax.collections[0].get_paths()[0].vertices[:, 1]
        b = pr[(pr.unit == "yuyao") & (pr.indicator == "hte_valid") & (pr.scenario == "baseline")]
        assert set(np.round(band, 3)) >= set(np.round(b.p10, 3)) | set(np.round(b.p90, 3))
        assert ax.collections[0].get_label() == ("80%区间" if lang == "zh" else "80% interval")
        # every scenario's line has its own colour and dash, and is labelled at its end
        styles = {(ln.get_color(), str(ln.get_linestyle()), str(ln._dash_pattern)) for ln in ax.get_lines()
                  if ln.get_label() in [yuyao_run.policy_label(p, lang) for p in yuyao_run.policy_names]}
        assert len(styles) == len(yuyao_run.policy_names)
        ends = " ".join(t.get_text().replace("\n", "") for t in ax.texts)
        for p in yuyao_run.policy_names:
            assert yuyao_run.policy_label(p, lang).replace(" ", "") in ends.replace(" ", "")
        assert ax.get_legend() is None or all(t.get_text() not in [yuyao_run.policy_label(p, lang) for p in
                                                                    yuyao_run.policy_names]
                                              for t in ax.get_legend().get_texts())
        assert ax.get_xlabel() == ("年份" if lang == "zh" else "Year")
        _projector_ready(ax.figure)
        plt.close(ax.figure)


def test_an_assumed_start_level_is_a_range(tmp_path):
    """Cixi has no published actual: its 2022 level is drawn as a range, not a known point."""
    import matplotlib.pyplot as plt
    from click.testing import CliRunner

    from sim import figures as fg
    from sim.cli import main
    from sim.rundata import load_run
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    r = CliRunner().invoke(main, ["run", str(root / "scenarios/cixi.toml"), "--paths", "300", "--out", str(tmp_path),
                                  "--no-figures"])
    assert r.exit_code == 0, r.output
    rd = load_run(tmp_path / "cixi" / "run-001")
    ax = fg.fan_chart(rd, "cixi", "hte_valid", lang="zh")
    bars = [c for c in ax.containers if c.get_label() == "起点为假设（80%范围）"]
    assert bars
    seg = bars[0].lines[2][0].get_segments()[0]
    pr = rd.projection
    b = pr[(pr.unit == "cixi") & (pr.indicator == "hte_valid") & (pr.scenario == "baseline") & (pr.year == 2022)].iloc[0]
    assert sorted(seg[:, 1]) == pytest.approx([b.p10, b.p90])
    plt.close(ax.figure)
    # P(met) under 1% is drawn and written as "<1%", not as an invisible bar
    rd.tables["scenarios"].loc[rd.tables["scenarios"].unit == "cixi", "p_met"] = 0.002
    ax = fg.p_met_dots(rd, lang="zh")
    assert "<1%" in [t.get_text() for t in ax.texts]
    plt.close(ax.figure)


def test_p_met_dots_show_the_table_in_percent(yuyao_run):
    import matplotlib.pyplot as plt
    from sim import figures as fg
    from sim.meeting import key_targets
    from sim.text import pct
    sf = yuyao_run.scenarios
    for lang in ("zh", "en"):
        ax = fg.p_met_dots(yuyao_run, lang=lang)
        dots = [ln for ln in ax.get_lines() if ln.get_marker() not in ("None", None, "")]
        want = [100 * float(sf[(sf.unit == "yuyao") & (sf.scenario == p) & (sf.indicator == i) & (sf.year == y)].p_met.iloc[0])
                for i, y, _ in key_targets(yuyao_run) for p in yuyao_run.policy_names]
        assert [float(d.get_xdata()[0]) for d in dots] == pytest.approx(want)
        texts = [t.get_text() for t in ax.texts]
        assert all(pct(w / 100) in texts for w in want)
        assert ax.get_xlim()[1] > 100 and "%" in ax.get_xlabel()
        _projector_ready(ax.figure)
        plt.close(ax.figure)


def test_cost_charts_plot_the_ranking(yuyao_run):
    import matplotlib.pyplot as plt
    from sim import figures as fg
    rk = yuyao_run.ranking
    for lang in ("zh", "en"):
        ax = fg.cost_vs_extra(yuyao_run, lang=lang)
        pts = {(round(float(ln.get_xdata()[0]), 3), round(float(ln.get_ydata()[0]), 3)) for ln in ax.get_lines()
               if len(ln.get_xdata()) == 1}
        for _, r in rk.iterrows():
            assert (round(r.extra_cost_mean_10k_yuan, 3), round(r.extra_p50, 3)) in pts
        _projector_ready(ax.figure)
        plt.close(ax.figure)
        ax = fg.lever_ranking(yuyao_run, lang=lang)
        meds = sorted(float(ln.get_xdata()[0]) for ln in ax.get_lines() if ln.get_marker() in ("o", "s", "D", "^", "v", "P"))
        want = sorted(v for v in rk.cost_per_extra_p50_10k_yuan if np.isfinite(v))
        assert meds == pytest.approx(want)
        labels = [t.get_text().replace("\n", "") for t in ax.get_yticklabels()]
        assert labels[-1].replace(" ", "") == yuyao_run.policy_label(rk.sort_values("rank").scenario.iloc[0], lang).replace(" ", "")
        _projector_ready(ax.figure)
        plt.close(ax.figure)


def test_pipeline_for_every_scenario(yuyao_run):
    """Stocks by tier add up to the tables; flows are the yearly means; the flows a scenario's
    changed levers act on are marked."""
    import matplotlib.pyplot as plt
    from sim import figures as fg
    ti, fl = yuyao_run.tiers, yuyao_run.flows
    T = yuyao_run.manifest["last_actual_year"]
    for lang in ("zh", "en"):
        for pol in yuyao_run.policy_names:
            axes = fg.pipeline(yuyao_run, pol, lang=lang)
            ax, bx = axes[0, 0], axes[0, 1]
            stack = ax.collections[: len(yuyao_run.labels["tiers"])]
            tops = np.max([p.vertices[:, 1].max() for c in stack for p in c.get_paths()])
            sub = ti[ti.scenario == pol]
            assert tops == pytest.approx(sub.groupby("year")["mean"].sum().max(), rel=1e-6)
            widths = [p.get_width() for p in bx.patches]
            f = fl[(fl.scenario == pol) & (fl.year > T)]
            flows = [x for x in yuyao_run.labels["flows"] if x in set(f.flow)]
            assert widths == pytest.approx([f[f.flow == x]["mean"].mean() for x in flows])
            squash = lambda x: x.replace("◆", "").replace("\n", "").replace(" ", "")  # noqa: E731
            marked = {squash(t.get_text()) for t in bx.get_yticklabels() if t.get_text().startswith("◆")}
            acted = fg._acted_flows(yuyao_run, pol)
            assert marked == {squash(yuyao_run.labels["flows"][x][lang]) for x in acted}
            if pol != "baseline":
                assert acted, pol
            _projector_ready(axes[0, 0].figure)
            plt.close(axes[0, 0].figure)


def test_every_figure_renders_in_both_languages(yuyao_run, tmp_path):
    import matplotlib.image as mpimg

    from sim.figures import render_all
    for lang in ("zh", "en"):
        pngs = render_all(yuyao_run, tmp_path / lang, lang, every=True, svg=True)
        names = {p.rsplit("/", 1)[-1] for p in pngs}
        assert {"fan_yuyao_hte_valid.png", "p_met_by_scenario.png", "cost_vs_extra.png", "lever_ranking.png",
                "waterfall.png", "tornado_00_baseline.png"} <= names
        assert {f"pipeline_{k:02d}_{p}.png" for k, p in enumerate(yuyao_run.policy_names)} <= names
        assert sorted(p.name for p in (tmp_path / lang).glob("*.svg")) == sorted(
            n[:-4] + ".svg" for n in names if n.startswith("fan_"))
        for p in pngs:
            img = mpimg.imread(p)
            assert img.shape[1] == 1920, p


def test_the_pack_draws_what_it_shows_and_the_rest_on_request(yuyao_run, tmp_path):
    """By default only the pack's figures, PNG only: the answer, the main unit's key fans, the
    pipelines of the policy in force and of the best-ranked scenario, components of change and
    the tornado of the policy in force; ``every`` adds the others, and the same figure is the
    same bytes whether drawn alone, with the others, in one process or two."""
    from sim import figures as fg
    from sim.meeting import key_targets
    rd = yuyao_run
    default = [t[3] for t in fg.figure_tasks(rd)]
    every = [t[3] for t in fg.figure_tasks(rd, every=True)]
    assert [s for s in every if s in default] == default and len(every) > len(default)
    best = rd.ranking.sort_values(["rank", "scenario"]).scenario.iloc[0]
    k_best = rd.policy_names.index(best)
    pipes = {f"pipeline_00_{rd.base_policy}", f"pipeline_{k_best:02d}_{best}"}
    assert {s for s in default if s.startswith("pipeline_")} == pipes
    fans = {f"fan_{rd.main_unit}_{i}" for i in set(rd.labels["key_indicators"]) | {i for i, _, _ in key_targets(rd)[:4]}
            if i in set(rd.projection[rd.projection.unit == rd.main_unit].indicator)}
    assert {s for s in default if s.startswith("fan_")} == fans
    assert {"p_met_by_scenario", "lever_ranking", "waterfall", "tornado_00_baseline"} <= set(default)
    assert {"cost_vs_extra"} | {f"pipeline_{k:02d}_{p}" for k, p in enumerate(rd.policy_names)} <= set(every)
    one = fg.render_all(rd, tmp_path / "serial", "zh", workers=1)
    two = fg.render_all(rd, tmp_path / "forked", "zh", workers=2)
    assert [p.rsplit("/", 1)[-1] for p in one] == [p.rsplit("/", 1)[-1] for p in two] == [s + ".png" for s in default]
    assert not list((tmp_path / "serial").glob("*.svg"))
    for a, b in zip(one, two):
        assert Path(a).read_bytes() == Path(b).read_bytes(), a


def test_a_failing_figure_in_the_forked_process_is_raised_and_the_process_reaped():
    import multiprocessing as mp

    from sim.workers import run_shared

    def boom():
        raise ValueError("drawn badly")
    jobs = [(str, ("a",), 1.0), (boom, (), 5.0), (str, ("b",), 1.0)]
    with pytest.raises(ValueError, match="drawn badly"):
        run_shared(jobs, True, "x")
    assert not mp.active_children()
    assert run_shared([(str, (k,), 1.0) for k in range(5)], True, "x") == [str(k) for k in range(5)]


def test_every_figure_is_projector_ready(yuyao_run):
    import matplotlib.pyplot as plt

    from sim import figures as fg
    for lang in ("zh", "en"):
        for name, args, kwargs, stem, _ in fg.figure_tasks(yuyao_run, every=True):
            out = fg.FIGURES[name](yuyao_run, *args, lang=lang, **kwargs)
            fig = (out.flat[0] if hasattr(out, "flat") else out).figure
            fig.canvas.draw()
            _projector_ready(fig)
            assert all(t.get_text().isprintable() or "\n" in t.get_text() for t in _texts(fig)), stem
            plt.close(fig)


def test_safe_file_names_for_any_policy_name():
    from sim.figures import safe_stem
    assert safe_stem("a/b") == "a_b" and "/" not in safe_stem("../../x") and safe_stem("///") == "x"


def test_waterfall_adds_up_to_the_projected_mean(yuyao_run):
    """start + first certifications + relocations - lapsed - exits = the projected mean
    (the components the structure file declares under [[waterfall]])."""
    comps = yuyao_run.waterfall
    assert [c["en"] for c in comps] == ["+First cert.", "+Relocated in", "−Lapsed", "−Exits"]
    assert yuyao_run.headline == "hte_valid"
    fl, pr = yuyao_run.flows, yuyao_run.projection
    T, year = 2024, 2025
    for pol in yuyao_run.policy_names:
        start = pr[(pr.unit == "yuyao") & (pr.indicator == "hte_valid") & (pr.scenario == pol) & (pr.year == T)]["mean"].iloc[0]
        end = pr[(pr.unit == "yuyao") & (pr.indicator == "hte_valid") & (pr.scenario == pol) & (pr.year == year)]["mean"].iloc[0]
        change = sum(c["sign"] * fl[(fl.scenario == pol) & fl.flow.isin(c["flows"]) & (fl.year == year)]["mean"].sum()
                     for c in comps)
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


def test_waterfall_shows_each_policys_median_and_80pc_interval_beside_the_mean_bars(yuyao_run):
    """The bars add means; the median (what P(met) is about) and its 80% interval stand beside
    the end bar, from the projection table."""
    import matplotlib.pyplot as plt

    from sim import figures as fg
    rd = yuyao_run
    ht = rd.manifest["headline_target"]
    pr = rd.projection
    axes = fg.waterfall(rd, lang="en")
    for ax, pol in zip(axes.flat, rd.policy_names):
        row = pr[(pr.unit == rd.main_unit) & (pr.indicator == rd.headline) & (pr.scenario == pol)
                 & (pr.year == ht["year"])].iloc[0]
        marks = [ln for ln in ax.get_lines() if ln.get_marker() == "D"]
        assert len(marks) == 1 and marks[0].get_ydata()[0] == pytest.approx(row.p50), pol
        whisker = [c for c in ax.collections if c.get_segments()][0].get_segments()[0]
        assert sorted(whisker[:, 1]) == pytest.approx(sorted([row.p10, row.p90])), pol
        assert any(t.get_text() == fg.num(row.p50) for t in ax.texts), pol
    plt.close(axes.flat[0].figure)
