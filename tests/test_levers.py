"""Lever properties (Hypothesis): a non-negative response never lowers the expected count it
targets, a zero lever changes nothing, costs are non-negative and equal amount x events."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit

from sim.engine import Compiled
from sim.levers import Lever, response, shift
from sim.load_structure import load_structure

STRUCT = None


def comp():
    global STRUCT
    if STRUCT is None:
        from pathlib import Path
        STRUCT = Compiled(load_structure(Path(__file__).resolve().parents[1] / "calibration/structure.toml", "s"))
    return STRUCT


def make(acts_on=("sme_cert",), cal=0.0, strength=(0.0, 0.5), scale=5.0, amount="money", pays_on="flow:new_cert"):
    return Lever("x", "x", "x", tuple(acts_on), "shift", amount, cal, (0.0, 100.0), scale, strength, "test",
                 pays_on, 0.0, 0.0, 1.0, "", "test", "test")


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 100), st.floats(0, 100), st.floats(0.0, 2.0), st.floats(0.01, 0.6), st.floats(0.01, 0.6),
       st.sampled_from(["sme_cert", "renew", "reserve_to_hte", "sme_inflow", "relocation_inflow"]))
def test_nonnegative_response_never_lowers_the_expected_count(x_cal, dx, beta, q_cert, q_other, param):
    c = comp()
    lv = make(acts_on=(param,), cal=x_cal)
    rates = np.full(c.n_params, q_other)
    rates[c.pidx["sme_cert"]] = q_cert
    x0 = np.array([50.0, 400.0, 120.0, 100.0, 90.0, 10.0])
    d = shift(lv, x_cal + dx, np.array([beta]))[0]
    assert d >= 0
    shifted = rates.copy()
    i = c.pidx[param]
    shifted[i] = expit(logit(rates[i]) + d) if param in c.s.prob_params else rates[i] * np.exp(d)
    flow = {"sme_cert": "new_cert", "renew": "renewed", "reserve_to_hte": "new_cert", "sme_inflow": "sme_entered",
            "relocation_inflow": "relocated_in"}[param]
    z0 = np.concatenate([x0, np.zeros(c.F)])[None]
    before = c.expected_step(rates[None], z0)[0]
    after = c.expected_step(shifted[None], z0)[0]
    assert after[c.K + c.s.flow(flow)] >= before[c.K + c.s.flow(flow)] - 1e-9


@given(st.floats(-2, 2), st.floats(0.1, 50))
def test_a_zero_lever_changes_nothing(beta, scale):
    lv = make(cal=0.0, scale=scale, strength=(min(beta, 0), max(beta, 0)))
    assert shift(lv, 0.0, np.array([beta]))[0] == 0.0


@given(st.floats(0, 100), st.floats(0.1, 50))
def test_response_is_monotone_and_saturating(x, scale):
    assert 0.0 <= response(x, scale) <= 1.0
    assert response(x + 1.0, scale) >= response(x, scale)


@given(st.floats(0, 100), st.integers(0, 10_000), st.floats(0, 3))
def test_costs_nonnegative_and_amount_times_events(x, events, factor):
    lv = make()
    lv = Lever(**{**lv.__dict__, "cost_factor": factor})
    cost = lv.unit_cost(x) * events
    assert cost >= 0
    assert cost == x * factor * events
