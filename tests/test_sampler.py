"""The sampler's convergence diagnostics equal a reference implementation (ArviZ's
rank-normalised split R-hat, bulk and tail ESS, Vehtari et al. 2021) on the same draws, and
the sampler reaches them on a known posterior."""

import numpy as np
import pytest

from sim import sampler as S

A = pytest.importorskip("arviz_stats.base").array_stats


def _draws(rng, kind: str, n: int = 300, m: int = 8) -> np.ndarray:
    """(n, m) draws: AR(1) chains, some with shifted means, skewed, heavy-tailed or stuck."""
    e = rng.standard_normal((n, m))
    x = np.empty_like(e)
    x[0] = e[0]
    phi = {"fast": 0.1, "slow": 0.95}.get(kind, 0.8)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    if kind == "shifted":
        x = x + np.linspace(-1, 1, m)
    if kind == "skewed":
        x = np.exp(x)
    if kind == "heavy":
        x = x / np.sqrt(rng.chisquare(2, (n, m)) / 2)
    if kind == "ties":
        x = np.round(x)
    return x


@pytest.mark.parametrize("kind", ["fast", "slow", "ar", "shifted", "skewed", "heavy", "ties"])
@pytest.mark.parametrize("n", [51, 300])
def test_diagnostics_equal_arviz(kind, n):
    x = _draws(np.random.default_rng(len(kind) * 1000 + n), kind, n=n)
    rhat, bulk, tail = S._one(x)
    assert rhat == pytest.approx(float(A.rhat(x.T)), rel=1e-10)
    assert bulk == pytest.approx(float(A.ess(x.T, method="bulk")), rel=1e-10)
    assert tail == pytest.approx(float(A.ess(x.T, method="tail", prob=(0.05, 0.95))), rel=1e-10)
    y = _draws(np.random.default_rng(n), "fast", n=n)
    d = S.diagnostics(np.stack([x, y], axis=2))                   # (n, C, d) in, per parameter out
    assert np.allclose(d["rhat"], [rhat, S._one(y)[0]]) and np.allclose(d["ess_tail"], [tail, S._one(y)[2]])


def test_the_diagnostics_see_chains_that_disagree():
    rng = np.random.default_rng(3)
    x = _draws(rng, "fast")
    assert S._one(x)[0] < 1.01
    x[:, :4] += 1.0                                               # half the chains elsewhere
    assert S._one(x)[0] > 1.1


def test_the_sampler_converges_to_a_known_posterior():
    """A skewed, correlated 4-d posterior (a Gaussian in three coordinates times a log-gamma
    in the fourth), started from a wrong mode and covariance: the chains converge by the
    diagnostics and their moments are the posterior's within Monte Carlo error."""
    from scipy import stats
    rng = np.random.default_rng(11)
    C = np.array([[1.0, 0.8, 0.0], [0.8, 1.0, 0.3], [0.0, 0.3, 0.5]])
    Ci = np.linalg.inv(C)
    a = 3.0                                                       # log-gamma shape

    def log_post(x):
        g = x[:, :3]
        return -0.5 * np.einsum("ij,jk,ik->i", g, Ci, g) + a * x[:, 3] - np.exp(x[:, 3])

    chains, d = S.sample(log_post, np.full(4, 0.3), np.eye(4) * 0.5, rng, chains=16, steps=200, max_rounds=20)
    assert d["converged"], d
    draws = chains.reshape(-1, 4)
    ess = d["ess_bulk"].min()
    se = np.sqrt(np.r_[np.diag(C), stats.loggamma(a).var()] / ess)
    mean_true = np.r_[0, 0, 0, stats.loggamma(a).mean()]
    assert np.all(np.abs(draws.mean(axis=0) - mean_true) < 4 * se)
    assert np.allclose(np.cov(draws[:, :3].T), C, atol=0.15)


@pytest.mark.parametrize("kind", ["fast", "slow", "shifted", "ties"])
def test_screen_is_the_raw_split_rhat_of_arviz(kind):
    """The cheap screen that schedules the full diagnostics is ArviZ's split R-hat without
    rank normalisation ("split" method), parameter by parameter."""
    rng = np.random.default_rng(7)
    chains = np.stack([_draws(rng, kind, n=200) for _ in range(3)], axis=2)     # (n, C, d)
    got = S.screen_rhat(chains)
    for j in range(chains.shape[2]):
        assert got[j] == pytest.approx(float(A.rhat(chains[:, :, j].T, method="split")), rel=1e-10)


def test_next_check_grows_with_the_gap_and_is_bounded():
    def diag(r, e):
        return dict(rhat=np.array([r]), ess_bulk=np.array([e]), ess_tail=np.array([e]))
    assert S.next_check(4, diag(1.005, 5000)) == 5                  # passed the bars: one round later
    assert S.next_check(4, diag(1.02, 5000)) == 8                   # R-hat - 1 twice the bar: twice the draws
    assert S.next_check(4, diag(1.5, 5000)) == 8                    # at most twice as many rounds
    assert S.next_check(10, diag(1.009, 200)) == 20                 # ESS half the bar: twice the draws
    assert S.next_check(10, diag(1.012, 5000)) == 12


def test_check_stops_at_the_first_failing_parameter_and_shares_the_rest():
    """A check in a given order stops at the first parameter that fails (the rest are not
    computed); without an order, every parameter is computed, the same numbers whether
    shared with a forked process or not, and equal to one parameter at a time."""
    rng = np.random.default_rng(5)
    good = [_draws(rng, "fast", n=400, m=16) for _ in range(6)]
    bad = _draws(rng, "shifted", n=400, m=16)
    chains = np.stack(good[:2] + [bad] + good[2:], axis=2)           # parameter 2 fails
    diag, ok = S.check(chains, order=[0, 2, 1, 3, 4, 5, 6])
    assert not ok and diag["rhat"][2] > 1.01
    assert np.isfinite(diag["rhat"][[0, 2]]).all() and np.isnan(diag["rhat"][[1, 3, 4, 5, 6]]).all()
    serial, ok_s = S.check(chains)
    shared, ok_p = S.check(chains, parallel=True)
    assert not ok_s and not ok_p
    for k in ("rhat", "ess_bulk", "ess_tail"):
        assert np.array_equal(serial[k], shared[k])
        assert np.array_equal(serial[k], [S._one(chains[:, :, j])[["rhat", "ess_bulk", "ess_tail"].index(k)]
                                          for j in range(7)])
    fine, ok_f = S.check(np.stack(good, axis=2), order=[5, 4, 3, 2, 1, 0], parallel=True)
    assert ok_f and np.isfinite(fine["rhat"]).all()
