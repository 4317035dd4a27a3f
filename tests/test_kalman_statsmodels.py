"""Reference test: the compiled Kalman filter (sim.kalman.filter_batch) against statsmodels.

statsmodels' state-space ``KalmanFilter`` (statsmodels.tsa.statespace.kalman_filter) is given
the same linear Gaussian system: the real structure's transition G (calibration/structure.toml
at fixed rates), a known start (mean x0, covariance 0), exact figures of stocks and flows
with variance (cv * value)^2 + 1/4, and zero year-to-year rate noise. Our filter's process
noise Q_t is a function of the filtered mean at the start of the year (the binomial and
Poisson variance of the year's moves, see the sim.kalman docstring); statsmodels takes a
time-varying ``state_cov`` fixed in advance, so Q_t is computed here from *statsmodels'*
filtered means (an independent numpy transcription of the formula) and the statsmodels
filter rerun until those means stop changing (Q_t depends only on years before t, so
n_years passes reach the fixed point exactly). Both log-likelihoods must agree to 1e-8.
"""

import numpy as np
import pytest

from sim.engine import Compiled
from sim.kalman import filter_batch, structure_arrays, system
from sim.load_structure import load_structure

from conftest import ROOT

sm_kf = pytest.importorskip("statsmodels.tsa.statespace.kalman_filter")


def _process_cov(m, pis, D, origin_tier, r_in, V, size_rows):
    """Q(m) = sum_o m_o (D_o diag(pi_o) D_o' - (D_o pi_o)(D_o pi_o)') + sum_j lambda_j V_j V_j',
    lambda_j = r_j * (s_j' max(m, 0)) over the size tiers (no year noise)."""
    n = D.shape[1]
    K = size_rows.shape[1]
    Q = np.zeros((n, n))
    for o in range(D.shape[0]):
        mo = m[origin_tier[o]]
        if mo <= 0:
            continue
        Dp = D[o] @ pis[o]
        Q += mo * (D[o] @ np.diag(pis[o]) @ D[o].T - np.outer(Dp, Dp))
    for j in range(V.shape[0]):
        lam = r_in[j] * (size_rows[j] @ np.maximum(m[:K], 0.0))
        Q += lam * np.outer(V[j], V[j])
    return Q


def _system(seed):
    st = load_structure(ROOT / "calibration" / "structure.toml", "structure.toml")
    c = Compiled(st)
    rng = np.random.default_rng(seed)
    n_prob, n_rate = len(st.prob_params), len(st.rate_params)
    rates = np.concatenate([rng.uniform(0.02, 0.3, n_prob), rng.uniform(0.01, 0.08, n_rate)])[None, :]
    q_idx, n_moves, D, tier, inflow_param, V, size_rows, tier_pos = structure_arrays(c)
    G, pis, r_in = system(rates, q_idx, n_moves, D, tier, inflow_param, V, size_rows, tier_pos)
    x0 = rng.uniform(50, 600, st.K)[None, :]
    return st, c, dict(G=G, pis=pis, r_in=r_in, D=D, tier=tier, V=V, size_rows=size_rows,
                       n_moves=n_moves, q_idx=q_idx, x0=x0)


def _observations(st, c, x0, G, seed, n_years):
    """Exact figures of a few indicators (stocks and flows) in some years, near the
    expected path, each with its reporting cv."""
    rng = np.random.default_rng(seed + 1)
    n = c.K + c.F
    names = sorted(st.indicators)
    mean = np.zeros(n)
    mean[: c.K] = x0
    rows = []
    for y in range(n_years):
        if y > 0:
            mean = G @ mean
        for name in rng.choice(names, size=3, replace=False):
            h = st.indicator_weights(name)
            mu = float(h @ mean)
            if y == 0 and not np.any(h[: c.K]):   # no flow is observed in the start year
                continue
            rows.append((y, name, h, max(mu * rng.uniform(0.9, 1.1), 1.0), st.indicators[name].cv))
    return names, rows


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_filter_batch_loglik_equals_statsmodels(seed):
    n_years = 6
    st, c, s = _system(seed)
    n = c.K + c.F
    G = s["G"][0]
    names, rows = _observations(st, c, s["x0"][0], G, seed, n_years)

    # ---- ours
    year = np.array([r[0] for r in rows], dtype=np.int64)
    H = np.array([r[2] for r in rows], dtype=float)
    val = np.array([r[3] for r in rows], dtype=float)
    obs_r = np.array([(r[4] * r[3]) ** 2 for r in rows], dtype=float)
    N = len(rows)
    ll, _, _, _ = filter_batch(
        s["x0"], s["G"], s["pis"], s["D"], s["tier"], s["r_in"], s["V"], s["size_rows"],
        np.ones(1), np.ones((1, 1)), n_years, year, H, val, obs_r,
        np.zeros(N, np.bool_), np.zeros(N, np.bool_), -np.ones(N, np.int64), False,
        s["n_moves"], np.zeros(s["q_idx"].shape), np.zeros(len(s["V"])))

    # ---- statsmodels: one series per indicator, missing where not published
    k_endog = len(names)
    endog = np.full((n_years, k_endog), np.nan)
    obs_cov = np.zeros((k_endog, k_endog, n_years))
    design = np.array([st.indicator_weights(nm) for nm in names])
    for (y, name, _, v, cv) in rows:
        i = names.index(name)
        endog[y, i] = v
        obs_cov[i, i, y] = (cv * v) ** 2 + 0.25
    for i in range(k_endog):                 # unused entries: any positive variance
        for y in range(n_years):
            if obs_cov[i, i, y] == 0:
                obs_cov[i, i, y] = 1.0
    kf = sm_kf.KalmanFilter(k_endog=k_endog, k_states=n, k_posdef=n)
    kf.bind(endog)
    kf["design"] = design
    kf["obs_cov"] = obs_cov
    kf["transition"] = G
    kf["selection"] = np.eye(n)
    kf.initialize_known(np.concatenate([s["x0"][0], np.zeros(c.F)]), np.zeros((n, n)))
    state_cov = np.zeros((n, n, n_years))
    for _ in range(n_years + 1):              # Q_t from the filtered mean at t: a fixed point
        kf["state_cov"] = state_cov
        res = kf.filter()
        new = np.stack([_process_cov(res.filtered_state[:, t], s["pis"][0], s["D"], s["tier"], s["r_in"][0],
                                     s["V"], s["size_rows"]) for t in range(n_years)], axis=2)
        if np.array_equal(new, state_cov):
            break
        state_cov = new
    ref = float(np.sum(res.llf_obs))
    assert N >= 10
    assert abs(ll[0] - ref) <= 1e-8, (ll[0], ref)


def test_reference_is_not_trivial():
    """The process noise matters: the same figures with Q = 0 give another likelihood."""
    st, c, s = _system(1)
    Q = _process_cov(np.concatenate([s["x0"][0], np.zeros(c.F)]), s["pis"][0], s["D"], s["tier"],
                     s["r_in"][0], s["V"], s["size_rows"])
    assert np.trace(Q) > 1.0
    assert np.all(np.linalg.eigvalsh(Q) > -1e-9)
