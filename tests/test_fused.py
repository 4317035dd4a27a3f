"""The fused log posterior (one compiled call over the batch and every fit unit,
sim.kalman.log_post_batch) against the unit-by-unit Python path it replaces
(Model._log_post_reference: ParamSpace.natural, StartPlan, Compiled.start_states,
kalman.system and kalman.filter_batch per unit, ParamSpace.log_prior), and unit_filter (the
same call for one unit, with states and predictions) against Model._unit_filter_reference
(bit for bit: its start tiers, rates and shares still come from numpy).

The two differ only in the last bits (numpy's exp and its pairwise sums against the
compiled ones): 1e-9 relative is asked wherever the log posterior is a number a sampler can
tell from another (|log post| < 1e6; far out, at -1e10 and beyond, the filter's rounding
is amplified by its own ill-conditioning and both values mean "impossible"), and exactly
the same points must come out as -1e300 (not finite).
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from sim.calibrate import Model, Reduced
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(str(p) for p in (ROOT / "scenarios").glob("*.toml")) + [str(ROOT / "tests/data/toy/toy.toml")]
RTOL = 1e-9
SANE = 1e6


def reference(model, theta, lik=False):
    with np.errstate(all="ignore"):   # far tails overflow exp on purpose
        return model._log_lik_reference(theta) if lik else model._log_post_reference(theta)


def assert_same(ref, got):
    ref, got = np.asarray(ref), np.asarray(got)
    assert ref.shape == got.shape
    np.testing.assert_array_equal(ref == -1e300, got == -1e300)
    sane = np.isfinite(ref) & (np.abs(ref) < SANE)
    np.testing.assert_allclose(got[sane], ref[sane], rtol=RTOL, atol=0)
    # outside the sane range both still agree on being finite and far below it
    far = np.isfinite(ref) & ~sane & (ref != -1e300)
    assert np.all(np.isfinite(got[far]) & (got[far] < -SANE / 2))


def points(model, rng):
    """Around the prior mean, in the tails, and one coordinate at a time far out (where exp
    overflows or expit saturates: the posterior is -1e300 or the parameter is at its bound).

    Not in between, e.g. an inflow rate of 1e24: there the filter is so ill-conditioned
    that one ulp of a start level (numpy's exp against the compiled one) turns a finite log
    likelihood into NaN, in either path; no sampler ever gets there."""
    sp = model.space
    d = len(sp)
    pts = [sp.mean + s * sp.sd * rng.standard_normal((24, d)) for s in (0.3, 1.0, 3.0, 6.0)]
    for s in (-800.0, 800.0):
        far = np.tile(sp.mean, (d, 1))
        far[np.arange(d), np.arange(d)] += s * np.maximum(sp.sd, 1.0)
        pts.append(far)
    return np.concatenate(pts)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: Path(p).stem)
def test_fused_log_post_equals_reference(path):
    model = Model(load_scenario(path))
    theta = points(model, np.random.default_rng(11))
    lp = model.log_post(theta)
    assert_same(reference(model, theta), lp)
    assert_same(reference(model, theta, lik=True), model.log_lik(theta))
    assert np.all(np.isfinite(lp[:48]))     # the bulk is finite
    # batch size 1 (and a 1-d theta): each point alone gives the same bits as in the batch
    for k in range(0, len(theta), 7):
        assert model.log_post(theta[k: k + 1])[0] == lp[k]
        assert model.log_post(theta[k])[0] == lp[k]


def test_fused_covers_minus_1e300():
    model = Model(load_scenario(SCENARIOS[0]))
    theta = points(model, np.random.default_rng(11))
    lp = model.log_post(theta)
    assert np.any(lp == -1e300) and np.any(reference(model, theta) == -1e300)
    bad = model.space.mean.copy()
    bad[0] = np.nan
    assert model.log_post(bad)[0] == -1e300 == reference(model, bad)[0]


def test_fused_reduced_model():
    """The sampler's view: a Reduced model (likelihood-free parameters at their prior mean)."""
    sc = load_scenario(ROOT / "scenarios/cixi.toml")
    model = Model(sc)
    free = model.likelihood_free(np.random.default_rng(4))
    assert free     # e.g. the shares of Cixi's sub-units, which nothing fitted observes
    red = Reduced(model, [i for i in range(len(model.space)) if i not in free])
    rng = np.random.default_rng(5)
    x = red.mean + rng.standard_normal((32, len(red.mean))) * red.sd * np.r_[[0.5] * 16 + [4.0] * 16][:, None]
    assert_same(reference(model, red.full(x)), red.log_post(x))
    assert red.log_post(x[3])[0] == red.log_post(x)[3]
    # the free parameters do not move the fused likelihood either
    base = model.space.mean[None].repeat(2, 0)
    moved = base.copy()
    moved[:, free] += 1.0
    np.testing.assert_array_equal(model.log_lik(base), model.log_lik(moved))


def _extra_rows(sc):
    """Figures the shipped ledger lacks, to reach every branch of the fused call: lower
    bounds, a sub-unit's own actual (observed through its share), several years."""
    like = next(r for r in sc.rows if r.unit == "yuyao" and r.indicator == "hte_valid" and r.is_actual)
    return [dataclasses.replace(like, unit="cixi", year=2023, value=1350.0),
            dataclasses.replace(like, unit="cixi", year=2024, value=1500.0, bound="ge"),
            dataclasses.replace(like, unit="cixi_city", year=2024, value=700.0),
            dataclasses.replace(like, unit="qianwan", year=2025, value=300.0, bound="ge"),
            dataclasses.replace(like, unit="jb_xinxing", year=2023, value=62.0),
            dataclasses.replace(like, unit="jb_hitech", year=2023, value=30.0, bound="ge"),
            dataclasses.replace(like, unit="yuyao", year=2025, value=1100.0, bound="ge")]


@pytest.mark.parametrize("kw", [dict(), dict(until=2023), dict(withheld=("jiangbei",)), dict(prior_scale=2.0)],
                         ids=["extra", "until", "withheld", "scaled"])
def test_fused_bounds_parts_and_variants(kw):
    sc = load_scenario(ROOT / "scenarios/cixi.toml")
    model = Model(sc, rows=list(sc.rows) + _extra_rows(sc), **kw)
    figures = model._packed[12:19]
    if not kw:
        assert figures[5].any() and (figures[6] >= 0).any()    # bounds and sub-unit figures are in
    theta = points(model, np.random.default_rng(12))
    assert_same(reference(model, theta), model.log_post(theta))


def test_start_plan_arrays_explicit_base():
    """A hierarchical level relative to an explicit one (no shipped unit has it): the
    compiled start vector against StartPlan.vector."""
    from sim.kalman import _start_vector
    from sim.starts import Hier, StartPlan, UnitStart
    names = ("hte", "sme", "reserve", "leader_share")
    hier = {"sme": Hier("sme", "hte", "r.sme", 0.3, ""), "reserve": Hier("reserve", "sme", "r.res", 0.2, "")}
    spec = UnitStart("u", 2022, explicit=(("hte", "u.hte"), ("leader_share", "u.ls")),
                     z=(("sme", "u.sme.z"), ("reserve", "u.res.z")))
    index = {n: i for i, n in enumerate(["u.hte", "u.ls", "r.sme", "r.res", "u.sme.z", "u.res.z"])}
    plan = StartPlan(spec, names, hier, None, index)
    steps, base, outs, cols = plan.arrays()
    assert 0 in steps[:, 1] and 2 in steps[:, 1]
    nat = np.exp(np.random.default_rng(0).standard_normal((5, 6)))
    want = plan.vector(nat)
    logs, vec = np.zeros(len(names)), np.zeros(len(names))
    for b in range(len(nat)):
        _start_vector(nat[b], steps, base, outs, logs, vec)
        np.testing.assert_allclose(vec, want[b], rtol=1e-13)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: Path(p).stem)
def test_fused_unit_filter_equals_reference(path):
    """unit_filter (the fit's starting states, the posterior predictive of every figure) runs
    the fused call for one unit with its start tiers, rates and shares worked out in numpy:
    the same bits as the step-by-step reference, states, covariances and predictions."""
    model = Model(load_scenario(path))
    sp = model.space
    spread = np.r_[[0.3] * 10 + [2.0] * 10][:, None]
    theta = sp.mean + spread * sp.sd * np.random.default_rng(13).standard_normal((20, len(sp)))
    for u in model.units:
        for full in (False, True):
            rec, rec_ref = [], []
            ll, m, P = model.unit_filter(theta, u, full=full, record=rec)
            ll_ref, m_ref, P_ref = model._unit_filter_reference(theta, u, full=full, record=rec_ref)
            assert m.shape == (len(theta), len(model.full_c.keep if full else model.c.keep))
            for got, want in [(ll, ll_ref), (m, m_ref), (P, P_ref)]:
                np.testing.assert_array_equal(got, want)
            assert len(rec) == len(rec_ref) == sum(len(v) for v in model.obs[u].values())
            for r, r_ref in zip(rec, rec_ref):
                assert r[:4] + r[6:] == r_ref[:4] + r_ref[6:]
                np.testing.assert_array_equal(r[4], r_ref[4])
                np.testing.assert_array_equal(r[5], r_ref[5])
            if not full:   # the likelihood alone, without states: the same bits
                np.testing.assert_array_equal(model.unit_filter(theta, u)[0], ll)
