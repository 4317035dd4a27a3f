"""V0 invariants of the engine: probabilities valid, firms conserved, counts non-negative
integers, certificates age one year or renew, one-step moments match the formulas."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.engine import Compiled, move_probs
from sim.load_structure import load_structure
from sim.structure import OUT


@pytest.fixture(scope="module")
def comp(root):
    return Compiled(load_structure(root / "calibration/structure.toml", "structure.toml"))


@given(arrays(np.float64, st.integers(1, 6), elements=st.floats(0, 1)))
def test_move_probabilities_are_a_distribution(q):
    pi = move_probs(q)
    assert np.all(pi >= -1e-15) and np.all(pi <= 1 + 1e-15)
    assert pi.sum() == pytest.approx(1.0, abs=1e-12)


def _rates(comp, rng, P):
    r = np.empty((P, comp.n_params))
    n_prob = len(comp.s.prob_params)
    r[:, :n_prob] = rng.uniform(0, 1, (P, n_prob))
    r[:, n_prob:] = rng.uniform(0, 0.5, (P, comp.n_params - n_prob))
    return r


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(1, 4))
def test_firms_conserved_and_counts_valid(comp, seed, U, Y):
    rng = np.random.default_rng(seed)
    P = 50
    x0 = rng.integers(0, 200, (P, U, comp.K))
    rates = np.stack([_rates(comp, rng, P) for _ in range(Y)])
    states, flows = comp.simulate(x0, rates, rng)
    assert states.dtype == np.int64 and flows.dtype == np.int64
    assert states.min() >= 0 and flows.min() >= 0
    s = comp.s
    out_flows = sorted({m.flow for o in s.origins for m in o.moves if m.dest == OUT})
    in_flows = [j.flow for j in s.inflows]
    for y in range(Y):
        before = states[y].sum(axis=-1)
        after = states[y + 1].sum(axis=-1)
        exits = flows[y][..., out_flows].sum(axis=-1)
        inflow = flows[y][..., in_flows].sum(axis=-1)
        assert np.array_equal(after, before - exits + inflow)


def test_certificates_age_one_year_or_renew(comp):
    """With no exits, promotions or inflows: H1 -> H2 -> H3 -> renewed H1 or lapsed."""
    s = comp.s
    rng = np.random.default_rng(1)
    P = 200
    r = np.zeros((1, P, comp.n_params))
    r[..., comp.pidx["renew"]] = 0.5
    x0 = np.zeros((P, 1, comp.K), dtype=np.int64)
    x0[..., s.tier("H1")], x0[..., s.tier("H2")], x0[..., s.tier("H3")] = 30, 20, 10
    states, flows = comp.simulate(x0, r, rng)
    x1 = states[1][:, 0]
    assert np.all(x1[:, s.tier("H2")] == 30) and np.all(x1[:, s.tier("H3")] == 20)
    renewed = flows[0][:, 0, s.flow("renewed")]
    assert np.all(x1[:, s.tier("H1")] == renewed)
    assert np.all(renewed + flows[0][:, 0, s.flow("expired_to_sme")] + flows[0][:, 0, s.flow("expired_exit")] == 10)


def test_one_step_moments_match_the_formulas(comp):
    """Monte Carlo mean and covariance of one step vs the expected-step formulas."""
    rng = np.random.default_rng(7)
    n_params = comp.n_params
    rates = np.full(n_params, 0.15)
    rates[comp.pidx["renew"]] = 0.6
    for j in comp.s.inflows:
        rates[comp.pidx[j.param]] = 0.05
    x0 = np.array([40, 300, 120, 100, 80, 10])
    G, pis, r_in = comp.system_batch(rates[None])
    mean = G[0] @ np.concatenate([x0, np.zeros(comp.F)])
    assert np.allclose(mean, comp.expected_step(rates[None], np.concatenate([x0, np.zeros(comp.F)])[None].astype(float))[0])
    cov = comp.noise_batch(x0[None].astype(float), pis, r_in)[0]
    P = 40000
    states, flows = comp.simulate(np.broadcast_to(x0, (P, 1, comp.K)).copy(),
                                  np.broadcast_to(rates, (1, P, n_params)).copy(), rng)
    z = np.concatenate([states[1][:, 0], flows[0][:, 0]], axis=1).astype(float)
    se = np.sqrt(np.diag(cov) / P) + 1e-9
    assert np.all(np.abs(z.mean(0) - mean) < 5 * se)
    emp = np.cov(z.T)
    keep = np.diag(cov) > 0
    sd = np.sqrt(np.diag(cov)[keep])
    corr_err = (emp[np.ix_(keep, keep)] - cov[np.ix_(keep, keep)]) / np.outer(sd, sd)
    assert np.max(np.abs(corr_err)) < 0.05   # sd of a sample correlation at P = 40,000 is 0.005


def test_same_seed_same_paths(comp):
    args = lambda: (np.full((10, 2, comp.K), 50), np.full((3, 10, comp.n_params), 0.2))  # noqa: E731
    a = comp.simulate(*args(), np.random.default_rng(5))
    b = comp.simulate(*args(), np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
