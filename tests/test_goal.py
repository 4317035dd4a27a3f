"""sim goal: a synthetic district whose answer is known in closed form, and every shipped
scenario's goal run (only the district's levers, whole firms and whole 10k yuan, names in
the answers, a monotone frontier no evaluated mix lies above, answers two seeds agree on).

tests/data/toy: 100 valid HTEs in 2024 that never leave; whole-firm relocations arrive at
Poisson(0.05 * stock * r) a year (the stock at the start of the year), where a relocation
reward x multiplies the rate by r = exp(1.5 * (1 - exp(-x / 20))) (strength known exactly).
So N1 ~ Poisson(5 r) arrive in 2025 and N2 ~ Poisson(0.05 r (100 + N1)) in 2026, and
P(valid HTE in 2026 >= 130) = sum_n1 P(N1 = n1) P(N2 >= 30 - n1).
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import optimize, stats

from sim import goals as G
from sim.cli import main
from sim.errors import InputError
from sim.scenario import load_scenario

TOY = str(Path(__file__).resolve().parent / "data" / "toy" / "toy.toml")
SHIPPED = ["cixi", "jiangbei", "yuyao", "zhenhai"]
N_SEARCH, N_CERT = 200, 1500          # few paths: the checks allow for their Monte Carlo error


def p_met(r, target_extra=30):
    n1 = np.arange(0, 200)
    return float(np.sum(stats.poisson.pmf(n1, 5 * r) * stats.poisson.sf(target_extra - 1 - n1, 0.05 * r * (100 + n1))))


def reward_for(r):
    return -20 * np.log(1 - np.log(r) / 1.5)


def closed_form(prob=0.5, target_extra=30):
    r = optimize.brentq(lambda r: p_met(r, target_extra) - prob, 0.1, 20)
    return r, reward_for(r)


def run_goal(tmp_path, *extra):
    r = CliRunner().invoke(main, ["goal", TOY, "--target", "hte_valid@2026", "--prob", "0.5", "--out", str(tmp_path),
                                  "--lang", "en", *extra])
    assert r.exit_code == 0, r.output
    folder = sorted((tmp_path / "toy").glob("goal-*"))[-1]
    return r.output, pd.read_csv(folder / "goal.csv"), folder


# ---- the closed form -----------------------------------------------------------------------
def test_goal_finds_the_closed_form_answer(tmp_path):
    r_star, x_star = closed_form()
    out, g, folder = run_goal(tmp_path)
    lever = g[(g.kind == "lever") & (g.id == "toy_relocation")].iloc[0]
    # the certified answer is the smallest whole 10k yuan whose interval clears 0.5: at or a
    # few Monte Carlo errors above the exact x*
    assert lever.reachable and lever.required == int(lever.required)
    x_hi = reward_for(optimize.brentq(lambda r: p_met(r) - (0.5 + 4.5 * lever.p_se), 0.1, 20))
    assert x_star - 1.5 <= lever.required <= x_hi + 1.5
    assert p_met(np.exp(1.5 * (1 - np.exp(-lever.required / 20)))) >= 0.5 - 2 * lever.p_se
    rate = g[(g.kind == "rate") & (g.id == "relocation_inflow")].iloc[0]
    assert rate.required == pytest.approx(0.05 * r_star, abs=0.01)
    mix = g[g.kind == "mix"].iloc[0]
    assert mix.reachable and mix.p_lo >= 0.5 and mix.extra_cost_10k_yuan > 0
    assert mix.cost_10k_yuan <= lever.cost_10k_yuan    # the only lever: the mix is no dearer than it alone
    assert (folder / "frontier.csv").is_file() and (folder / "frontier_zh.png").is_file()
    fr = pd.read_csv(folder / "frontier.csv")
    on = fr[fr.on_frontier].sort_values("cost_10k_yuan")
    assert np.all(np.diff(on.p_certified) > 0)
    assert "Stress test" in out and "toy_relocation" not in out


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


@pytest.mark.parametrize("args, msg", [
    (["--target", "hte_vald@2026"], "did you mean 'hte_valid'?"),
    (["--target", "hte_valid"], "expected INDICATOR@YEAR"),
    (["--target", "hte_valid@20x6"], "with a four-digit year such as 2026"),
    (["--target", "hte_valid@2031"], "after the start year 2024 and up to the horizon 2026"),
    (["--target", "hte_new@2026"], "a target of toy in the ledger (or --value)"),
    (["--unit", "toyy"], "did you mean 'toy'?"),
    (["--target", "hte_valid@2024", "--value", "100"], "expected a year after the start year 2024"),
    (["--base", "basline"], "did you mean 'baseline'?"),
])
def test_bad_goal_questions_get_one_sentence(tmp_path, args, msg):
    r = CliRunner().invoke(main, ["goal", TOY, "--out", str(tmp_path), *args])
    assert r.exit_code == 2 and msg in r.output, r.output
    assert r.output.count("\n") == 1 and "Traceback" not in r.output
    assert not list(Path(tmp_path).rglob("goal.csv"))


def test_the_default_target_is_the_headline_target():
    sc = load_scenario(TOY)
    g = G.parse_goal(sc, None)
    assert (g.indicator, g.year, g.target) == ("hte_valid", 2026, 130.0)


def test_an_unconverged_fit_gives_no_answer():
    from sim.calibrate import fit
    sc = load_scenario(TOY)
    cal = fit(sc, draws=200, chains=8, steps=50, max_rounds=1)
    bad = dataclasses.replace(cal, diagnostics={**cal.diagnostics, "converged": False, "rhat_max": 1.08})
    with pytest.raises(InputError, match="expected a converged fit for goal answers.*R-hat up to 1.080"):
        G.require_converged(sc, bad)


# ---- who holds a lever, and no free lunch ----------------------------------------------------
def test_every_lever_says_who_holds_it_and_what_it_costs(root):
    for name in SHIPPED:
        sc = load_scenario(root / "scenarios" / f"{name}.toml")
        for lv in sc.levers.values():
            assert lv.controlled_by in ("district", "city", "province"), lv.name
            assert lv.control_passage, lv.name
            if lv.controlled_by == "district":
                assert lv.district in sc.units, lv.name
            assert lv.cost_basis in ("seed", "assumption")
            if lv.is_free:   # a lever without a cost is bounded by a stated capacity
                assert lv.capacity is not None and lv.capacity_note, lv.name
        own = [lv for lv in sc.levers.values() if lv.held_by(sc.unit)]
        assert own, name


def test_the_instruments_of_the_seeds_are_levers_with_costs(root):
    sc = {n: load_scenario(root / "scenarios" / f"{n}.toml") for n in SHIPPED}
    jb, cx, yy, zh = sc["jiangbei"], sc["cixi"], sc["yuyao"], sc["zhenhai"]
    for name in ("jiangbei_listing_ladder", "jiangbei_star_list", "jiangbei_leader_cultivation", "jiangbei_rd_subsidy",
                 "jiangbei_projects", "jiangbei_rd_institution"):
        lv = jb.levers[name]
        assert lv.held_by("jiangbei") and not lv.is_free, name
    assert jb.levers["jiangbei_listing_ladder"].calibrated_at == 500 + 400 + 400   # 004: 500/400/400万
    for name in ("cixi_first_cert_reward", "cixi_renewal_reward", "cixi_projects", "cixi_jiebang"):
        assert cx.levers[name].held_by("cixi") and not cx.levers[name].is_free, name
    assert cx.levers["cixi_renewal_reward"].acts_on == ("renew",)
    base = cx.policies[0]
    assert base.amount("cixi_unicorn_2026") == 30 and cx.levers["cixi_unicorn_2026"].start == 2026   # 001: about 30
    assert cx.levers["cixi_unicorn"].end == 2025 and base.amount("cixi_unicorn") == 20
    assert zh.levers["zhenhai_projects"].capacity == (3, 5) and not zh.levers["zhenhai_projects"].is_free
    for pool in ("zhenhai_sme_pool", "zhenhai_hte_pool", "zhenhai_leader_pool"):   # no free pools
        assert not zh.levers[pool].is_free and zh.levers[pool].cost_basis == "assumption"
    assert yy.levers["yuyao_hte_cert_reward"].held_by("yuyao")
    # the city's rules are the city's
    for s in sc.values():
        for n in ("ningbo_new_hte_reward", "ningbo_above_scale_bonus", "ningbo_new_sme_reward"):
            if n in s.levers:
                assert s.levers[n].controlled_by == "city"


def test_a_free_lever_without_a_capacity_is_refused(workdir):
    p = workdir / "calibration/levers.toml"
    text = p.read_text(encoding="utf-8")
    block = text[text.index("[zhenhai_hte_pool]"):text.index("[zhenhai_leader_pool]")]
    fixed = re.sub(r"(?m)^capacity(_note|_basis)? = .*\n", "", block).replace("cost_per_event = 2", "cost_per_event = 0")
    p.write_text(text.replace(block, fixed), encoding="utf-8")
    r = CliRunner().invoke(main, ["check", "scenarios/zhenhai.toml"])
    assert r.exit_code == 2
    assert "levers.toml: zhenhai_hte_pool.capacity: expected a capacity [floor, ceiling]" in r.output
    assert "no free lunch" in r.output


def test_a_lever_without_its_holder_is_refused(workdir):
    p = workdir / "calibration/levers.toml"
    text = p.read_text(encoding="utf-8")
    p.write_text(text.replace('district = "zhenhai"', 'district = "zhenhia"', 1), encoding="utf-8")
    r = CliRunner().invoke(main, ["check", "scenarios/zhenhai.toml"])
    assert r.exit_code == 2 and "did you mean 'zhenhai'?" in r.output


# ---- every shipped scenario's goal run -------------------------------------------------------
@pytest.fixture(scope="module")
def fits(root):
    from sim.calibrate import cached_fit
    out = {}
    for name in SHIPPED:
        sc = load_scenario(root / "scenarios" / f"{name}.toml")
        cal, _, _ = cached_fit(sc, thorough=True)
        G.require_converged(sc, cal)
        out[name] = (sc, cal)
    return out


def _mid(sc, cal, goal):
    """A probability halfway between the baseline's and the ceiling's (a plan exists)."""
    base = sc.policies[0]
    sp = G.lever_space(sc, base)
    ev = G.Evaluator(sc, cal, goal, base, sp, N_CERT, 7)
    p0, p1 = ev.exact().p, ev.exact(sp.hi).p
    return round(0.5 * (p0 + p1), 2)


@pytest.fixture(scope="module")
def goal_runs(fits):
    """For every shipped scenario: its headline target at P >= 0.8 (the question of the issue)
    and at a probability the district's levers can reach."""
    out = {}
    for name, (sc, cal) in fits.items():
        g80 = G.parse_goal(sc, None)
        gm = dataclasses.replace(g80, prob=_mid(sc, cal, g80))
        out[name] = [(g, *G.seek(sc, cal, g, n_paths=N_SEARCH, n_certify=N_CERT)) for g in (g80, gm)]
    return out


def _settings(s):
    return {k: float(v) for k, v in (kv.split("=") for kv in (s or "").split(";") if kv)}


@pytest.mark.parametrize("name", SHIPPED)
def test_goal_answers_use_only_the_districts_levers_in_whole_units(fits, goal_runs, name):
    sc, _ = fits[name]
    base = dict(sc.policies[0].settings)
    for g, rows, frontier in goal_runs[name]:
        assert g.unit == sc.unit and g.indicator == sc.structure.headline and g.year in (2025, 2026)
        held = next(r for r in rows if r["kind"] == "held")   # what stays: the scenario's own settings
        assert all(base[k] == v and not sc.levers[k].held_by(sc.unit) or sc.levers[k].search_range[0] ==
                   sc.levers[k].search_range[1] for k, v in _settings(held["settings"]).items())
        for s in [r.get("settings") for r in rows if r["kind"] != "held"] + [f["settings"] for f in frontier]:
            for k, v in _settings(s).items():
                lv = sc.levers[k]
                assert lv.held_by(sc.unit), (name, k)
                lo, hi = lv.search_range
                assert max(lo, base[k]) - 1e-9 <= v <= max(hi, base[k]) + 1e-9, (k, v)
                if lv.amount in ("money", "count"):
                    assert v == round(v) or v == base[k], (k, v)      # whole 10k yuan, whole firms
        for r in rows:
            for c in ("cost_10k_yuan", "cost_all_10k_yuan", "extra_cost_10k_yuan"):
                if r.get(c) is not None and np.isfinite(r[c]):
                    assert r[c] == round(r[c])
        kinds = [r["kind"] for r in rows]
        assert kinds.count("assumption") == len(G.lever_space(sc, sc.policies[0]).varied)
        assert "held" in kinds and "ceiling" in kinds and kinds.count("mix") == 1


@pytest.mark.parametrize("name", SHIPPED)
def test_answers_name_levers_and_never_show_ids(fits, goal_runs, name):
    sc, _ = fits[name]
    ids = set(sc.levers) | set(sc.units) | set(sc.structure.prob_params + sc.structure.rate_params)
    for g, rows, _ in goal_runs[name]:
        for lang in ("zh", "en"):
            for r in rows:
                text = G.sentence(r, g, sc, lang)
                assert text and not any(re.search(rf"\b{re.escape(i)}\b", text) for i in ids if "_" in i), text
                bare = text
                for lv in sc.levers.values():   # an English name may quote the Chinese term
                    bare = bare.replace(lv.en, "")
                assert bool(re.search(r"[\u4e00-\u9fff]", bare)) == (lang == "zh"), text   # one language
        plan = next(r for r in rows if r["kind"] == "mix")
        if plan.get("id") == "cheapest mix":
            for k in _settings(plan["settings"]):
                assert sc.levers[k].zh in G.sentence(plan, g, sc, "zh")
                assert sc.levers[k].en in G.sentence(plan, g, sc, "en")


@pytest.mark.parametrize("name", SHIPPED)
def test_the_frontier_is_monotone_and_nothing_the_tool_evaluates_lies_above_it(fits, goal_runs, name):
    sc, cal = fits[name]
    for g, rows, frontier in goal_runs[name]:
        on = [f for f in frontier if f["on_frontier"]]
        assert np.all(np.diff([f["cost_10k_yuan"] for f in on]) >= 0)
        assert np.all(np.diff([f["p_certified"] for f in on]) > 0)
        for r in rows:   # every certified answer lies on or below the frontier
            if r["kind"] in ("baseline", "lever", "ceiling", "mix", "budget") and np.isfinite(r.get("p_certified", np.nan)):
                assert r["p_certified"] <= G.frontier_p(frontier, r["cost_10k_yuan"]) + 1e-12, r
        plan = next(r for r in rows if r["kind"] == "mix")
        if plan["id"] == "cheapest mix":   # certified, and no certified mix that clears prob is cheaper
            assert plan["p_lo"] >= g.prob
            assert not [f for f in frontier if f["p_lo"] >= g.prob and f["cost_10k_yuan"] < plan["cost_10k_yuan"]]
        # mixes the tool did not search: random lattice points on the certification paths
        base = sc.policies[0]
        sp = G.lever_space(sc, base)
        cert = G.Evaluator(sc, cal, g, base, sp, N_CERT, G.cert_seed(sc.seed))
        rng = np.random.default_rng(11)
        for _ in range(12):
            x = sp.lo + (sp.hi - sp.lo) * rng.random(sp.V) * (rng.random(sp.V) < 0.5)
            x = np.array([sp.snap_one(i, v) for i, v in enumerate(x)])
            o = cert.exact(x)
            assert o.p <= G.frontier_p(frontier, o.cost) + 3.5 * o.se + 1e-9, (name, x, o)
    # the question of the issue: at P >= 0.8 a plan, or a plain "not reachable" at the ceiling
    g, rows, _ = goal_runs[name][0]
    plan = next(r for r in rows if r["kind"] == "mix")
    ceiling = next(r for r in rows if r["kind"] == "ceiling")
    assert plan["id"] in ("cheapest mix", "not reachable", "baseline already meets it")
    if plan["id"] == "not reachable":
        assert plan["p_certified"] == ceiling["p_certified"] and ceiling["p_lo"] < g.prob
    # at the reachable probability there is a certified plan, cheaper than the ceiling
    g, rows, _ = goal_runs[name][1]
    plan = next(r for r in rows if r["kind"] == "mix")
    if plan["id"] == "cheapest mix":
        assert plan["cost_10k_yuan"] <= ceiling["cost_10k_yuan"] and plan["cost_range_lo"] <= plan["cost_10k_yuan"]


def test_two_seeds_agree_within_the_monte_carlo_error(fits):
    sc, cal = fits["jiangbei"]
    g = dataclasses.replace(G.parse_goal(sc, None), prob=0.72)
    runs = [G.seek(sc, cal, g, n_paths=N_SEARCH, n_certify=3000, seed=s)[0] for s in (1, 2)]
    for kind in ("baseline", "ceiling"):
        a, b = (next(r for r in rows if r["kind"] == kind) for rows in runs)
        assert abs(a["p_certified"] - b["p_certified"]) <= 3 * np.hypot(a["p_se"], b["p_se"]), kind
        assert abs(a["cost_10k_yuan"] - b["cost_10k_yuan"]) <= 3 * np.hypot(a["cost_se_10k_yuan"], b["cost_se_10k_yuan"]) + 1
    a, b = (next(r for r in rows if r["kind"] == "mix") for rows in runs)
    assert a["id"] == b["id"] == "cheapest mix"
    # the cost it takes, within Monte Carlo error: the two ranges overlap
    assert a["cost_range_lo"] <= b["cost_range_hi"] and b["cost_range_lo"] <= a["cost_range_hi"], (a, b)


def test_the_goal_folder_and_the_frontier_figure(tmp_path):
    out = CliRunner().invoke(main, ["goal", TOY, "--target",
                                    "hte_valid@2026", "--prob", "0.6", "--paths", "200", "--certify", "1000",
                                    "--out", str(tmp_path), "--lang", "zh"])
    assert out.exit_code == 0, out.output
    folder = sorted((tmp_path / "toy").glob("goal-*"))[-1]
    g, fr = pd.read_csv(folder / "goal.csv"), pd.read_csv(folder / "frontier.csv")
    assert {"kind", "id", "name", "sentence", "p_certified", "p_se", "cost_10k_yuan", "cost_all_10k_yuan"} <= set(g)
    assert g[g.kind == "assumption"].name.iloc[0] == "迁入奖励"
    assert fr.on_frontier.any() and (fr.cost_10k_yuan == fr.cost_10k_yuan.round()).all()
    for lang in ("zh", "en"):
        assert (folder / f"frontier_{lang}.png").is_file() and (folder / f"frontier_{lang}.svg").is_file()
    import matplotlib
    matplotlib.use("Agg")
    from sim.figures import frontier_chart
    sc = load_scenario(TOY)
    ax = frontier_chart(fr, g, G.parse_goal(sc, None, prob=0.6), sc, "en")
    assert ax.get_xlabel().startswith("Cost to the district")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "frontier (certified)" in labels and "cheapest plan" in labels and "baseline" in labels
    import matplotlib.pyplot as plt
    plt.close("all")


def test_the_smooth_model_moves_levers_and_pays_as_the_projection_does(fits):
    """The search's rates and expected payments equal project.policy_rates and
    project.lever_costs (on the expected states) for a mix of every kind of lever (Cixi: money
    per event, per firm-year in a tier, fixed counts, counts paid per unit of setting, a quota,
    levers active from or to a year); its P agrees with the integer simulator's."""
    from sim.project import lever_costs, policy_rates
    sc, cal = fits["cixi"]
    g = G.parse_goal(sc, None)
    base = sc.policies[0]
    sp = G.lever_space(sc, base)
    ev = G.Evaluator(sc, cal, g, base, sp, 60, 3)
    x = np.array([sp.snap_one(i, v) for i, v in enumerate(0.3 * sp.lo + 0.7 * sp.hi)])
    m, ebar, A, (rates, unit_z) = ev.smooth._run(sp.full(x), keep_unit=True)
    pol = ev.policy(x)
    r_ref, _ = policy_rates(sc, ev.paths, pol, ev.years)
    assert np.allclose(rates[:, 0], r_ref)
    Z = np.stack(unit_z)[:, 0][:, :, None, :]                    # (Y+1, P, 1, n): the unit's expected z
    K = ev.c.K
    ref = lever_costs(sc, pol, Z[..., :K], Z[..., K:], [cal.T] + ev.years)
    mine = ev.smooth._costs(ebar, A)[0]
    assert np.allclose(mine, [ref[n][1:].sum(axis=0).mean() for n in sp.names])
    sc, cal = fits["yuyao"]
    g = G.parse_goal(sc, None)
    base = sc.policies[0]
    sp = G.lever_space(sc, base)
    ev = G.Evaluator(sc, cal, g, base, sp, 6000, 5)
    for xv in (sp.start, sp.hi):
        ps = ev.smooth.evaluate(xv)[0][0]
        ex = ev.exact(xv)
        assert abs(ps - ex.p) < 3 * ex.se + 0.01, (ps, ex)


@pytest.mark.parametrize("unit", ["jiangbei", "jb_cicheng"])
def test_goal_probabilities_agree_with_the_projection(fits, unit):
    """Summing sub-units (all of them, or all but the target's) changes no distribution: the
    baseline's P from goal seeking matches sim run's projection within Monte Carlo error."""
    from sim.project import project
    sc, cal = fits["jiangbei"]
    g = G.parse_goal(sc, None, unit=unit)
    base = sc.policies[0]
    ev = G.Evaluator(sc, cal, g, base, G.lever_space(sc, base), 4000, 21)
    o = ev.exact()
    res = project(sc, cal, n_paths=4000, seed=22, policies=[base])
    v = res.indicator("baseline", unit, g.indicator)[res.year_index(g.year)]
    p = float(np.mean(v >= g.target))
    assert abs(o.p - p) <= 3.5 * np.hypot(o.se, np.sqrt(p * (1 - p) / 4000)) + 1e-9, (o.p, p)


def test_same_seed_same_bytes(tmp_path):
    args = ["goal", TOY, "--prob", "0.6", "--paths", "200", "--certify", "800", "--out", str(tmp_path), "--lang", "en"]
    for _ in range(2):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    a, b = sorted((tmp_path / "toy").glob("goal-*"))
    for f in ("goal.csv", "frontier.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
