"""The Kalman filter of one unit over a batch of parameter vectors, compiled with numba.

The state-space model is the large-population approximation of :mod:`sim.engine`:
z_{t+1} = G z_t + w_t, Cov(w_t) = Q(E z_t), with

    Q = sum_o m_o (D_o diag(pi_o) D_o' - (D_o pi_o)(D_o pi_o)') + sum_j r_j (s_j' m) V_j V_j',

m_o the expected stock of origin o at the start of the year, pi_o its move probabilities,
D_o the change vectors of its moves, r_j the rate of inflow j, s_j its size tiers and V_j
its change vector. An observation y of h'z (or of share * h'z for a sub-unit's figure)
has variance h'Ph + r + 1/4 (+ share (1 - share) h'm for the split): an exact value
updates as usual; a lower bound ("more than y") contributes log P(h'z + e >= y) and
updates by the moments of the truncated normal.

numba compiles this once per machine (cached beside the module); a parameter batch of a
few points then costs tens of microseconds instead of the milliseconds that a numpy
loop's per-operation overhead costs, which is what lets the sampler take the thousands of
sequential steps convergence needs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOG2PI = math.log(2 * math.pi)


@njit(cache=True)
def _log_ndtr(x):
    """log Phi(x), accurate in the lower tail."""
    if x > -5.0:
        return math.log(0.5 * math.erfc(-x / math.sqrt(2.0)))
    # asymptotic series of the Mills ratio
    x2 = x * x
    s = 1.0 - 1.0 / x2 + 3.0 / (x2 * x2) - 15.0 / (x2 * x2 * x2)
    return -0.5 * x2 - math.log(-x) - 0.5 * LOG2PI + math.log(s)


@njit(cache=True)
def system(rates, q_idx, n_moves, D, origin_tier, inflow_param, V, size_rows, tier_pos):
    """G (B, n, n), padded move probabilities pis (B, O, M) and inflow rates r_in (B, I)
    from natural rates (B, n_params): stick-breaking over each origin's conditional moves
    (q_idx (O, M-1) parameter indices, padded; n_moves (O,)), the moves' change vectors
    D (O, n, M) into the origin's column, and each inflow's rate times its change vector
    V (I, n) into the columns of its size tiers (size_rows (I, K), tier_pos (K,))."""
    B = rates.shape[0]
    O, n, M = D.shape
    I, K = size_rows.shape
    G = np.zeros((B, n, n))
    pis = np.zeros((B, O, M))
    r_in = np.zeros((B, I))
    for b in range(B):
        for o in range(O):
            surv = 1.0
            nm = n_moves[o]
            for c in range(nm):
                q = rates[b, q_idx[o, c]]
                pis[b, o, c] = q * surv
                surv *= 1.0 - q
            pis[b, o, nm] = surv
            col = origin_tier[o]
            for i in range(n):
                acc = 0.0
                for c in range(nm + 1):
                    acc += D[o, i, c] * pis[b, o, c]
                G[b, i, col] += acc
        for j in range(I):
            r = rates[b, inflow_param[j]]
            r_in[b, j] = r
            for t in range(K):
                if size_rows[j, t] != 0.0:
                    col = tier_pos[t]
                    for i in range(n):
                        G[b, i, col] += r * V[j, i]
    return G, pis, r_in


@njit(cache=True)
def _nonzero_rows(A):
    """For each A[r] (n, M): the rows with a non-zero entry, padded (R, n), and their count (R,)."""
    R, n, M = A.shape
    rows = np.zeros((R, n), dtype=np.int64)
    count = np.zeros(R, dtype=np.int64)
    for r in range(R):
        for i in range(n):
            for c in range(M):
                if A[r, i, c] != 0.0:
                    rows[r, count[r]] = i
                    count[r] += 1
                    break
    return rows, count


@njit(cache=True)
def filter_batch(x0, G, pis, D, origin_tier, r_in, V, size_rows, noise2, shares,
                 n_years, obs_year, obs_h, obs_val, obs_r, obs_scaled, obs_ge, obs_part, want_state,
                 n_moves, yn_move, yn_in):
    """Log-likelihood (B,), the filtered mean (B, n) and covariance (B, n, n) at the last
    year if ``want_state``, and each figure's one-step-ahead mean and variance (B, N, 2).

    x0 (B, K) start tiers; G (B, n, n); pis (B, O, M) move probabilities padded with 0;
    D (O, n, M) change vectors padded; origin_tier (O,) tier of each origin; r_in (B, I)
    inflow rates; V (I, n); size_rows (I, K); noise2 (B,) squared noise scale; shares (B, S);
    observations sorted by year: obs_year (N,) year index, obs_h (N, n), obs_val (N,),
    obs_r (N,) (cv * value)^2, obs_scaled (N,) bool (multiply obs_r by noise2), obs_ge (N,)
    bool (lower bound), obs_part (N,) sub-unit index or -1; n_moves (O,) conditional moves
    per origin; yn_move (O, M-1) and yn_in (I,): the variance of each rate's year-to-year
    shock on its link scale (logit, log), added by the delta method:
    m_o^2 var_k g g' with g = D_o d(pi_o)/d(logit q_k), and (lambda_j)^2 var_j V_j V_j'.
    """
    B, n = G.shape[0], G.shape[1]
    K = x0.shape[1]
    O, M = D.shape[0], D.shape[2]
    I = V.shape[0]
    N = obs_val.shape[0]
    ll = np.zeros(B)
    pred = np.zeros((B, N, 2))     # one-step-ahead mean and variance of each figure
    m_out = np.zeros((B, n)) if want_state else np.zeros((1, 1))
    P_out = np.zeros((B, n, n)) if want_state else np.zeros((1, 1, 1))
    m = np.zeros(n)
    m2 = np.zeros(n)
    P = np.zeros((n, n))
    GP = np.zeros((n, n))
    Q = np.zeros((n, n))
    Dp = np.zeros(n)
    h = np.zeros(n)
    Ph = np.zeros(n)
    # The change vectors are sparse (a move lands in one tier and counts in one flow): the
    # rows each origin's moves touch, and each inflow's, so Q costs |rows|^2, not n^2.
    o_rows, o_nr = _nonzero_rows(D)
    v_rows, v_nr = _nonzero_rows(V.copy().reshape(I, n, 1))
    h_nz, h_nn = _nonzero_rows(obs_h.copy().reshape(N, n, 1))     # each figure's non-zero weights
    g_i = np.zeros(n * K, dtype=np.int64)    # G's non-zero entries (its flow columns are zero)
    g_c = np.zeros(n * K, dtype=np.int64)
    for b in range(B):
        for i in range(n):
            m[i] = x0[b, i] if i < K else 0.0
            for j in range(n):
                P[i, j] = 0.0
        n_g = 0
        for c in range(K):
            for i in range(n):
                if G[b, i, c] != 0.0:
                    g_i[n_g] = i
                    g_c[n_g] = c
                    n_g += 1
        k = 0
        for y in range(n_years):
            if y > 0:
                # Q from the stocks at the start of the year, then predict
                for i in range(n):
                    for j in range(n):
                        Q[i, j] = 0.0
                for o in range(O):
                    mo = m[origin_tier[o]]
                    if mo <= 0.0:
                        continue
                    nr = o_nr[o]
                    for a in range(nr):
                        i = o_rows[o, a]
                        acc = 0.0
                        for c in range(M):
                            acc += D[o, i, c] * pis[b, o, c]
                        Dp[i] = acc
                    for a in range(nr):
                        i = o_rows[o, a]
                        for a2 in range(a, nr):
                            j = o_rows[o, a2]
                            acc = 0.0
                            for c in range(M):
                                acc += D[o, i, c] * D[o, j, c] * pis[b, o, c]
                            v = mo * (acc - Dp[i] * Dp[j])
                            Q[i, j] += v
                            if j != i:
                                Q[j, i] += v
                    # year-to-year shocks of the conditional move probabilities (delta method)
                    surv = 1.0
                    for mv in range(n_moves[o]):
                        qk = pis[b, o, mv] / surv if surv > 1e-300 else 0.0
                        vk = yn_move[o, mv]
                        if vk > 0.0 and 0.0 < qk < 1.0:
                            dq = qk * (1.0 - qk)
                            for a in range(nr):
                                i = o_rows[o, a]
                                acc = D[o, i, mv] * surv
                                for c in range(mv + 1, n_moves[o] + 1):
                                    if D[o, i, c] != 0.0:   # (skipping zeros changes no bit)
                                        acc -= D[o, i, c] * pis[b, o, c] / (1.0 - qk)
                                Dp[i] = dq * acc
                            w = mo * mo * vk
                            for a in range(nr):
                                i = o_rows[o, a]
                                for a2 in range(nr):
                                    jj = o_rows[o, a2]
                                    Q[i, jj] += w * Dp[i] * Dp[jj]
                        surv -= pis[b, o, mv]
                for j in range(I):
                    size = 0.0
                    for t in range(K):
                        size += size_rows[j, t] * max(m[t], 0.0)
                    lam = r_in[b, j] * size
                    w = lam + lam * lam * yn_in[j]
                    for a in range(v_nr[j]):
                        i = v_rows[j, a]
                        for a2 in range(v_nr[j]):
                            jj = v_rows[j, a2]
                            Q[i, jj] += w * V[j, i] * V[j, jj]
                # predict: m = G m, P = G P G' + Q over G's non-zero entries
                for i in range(n):
                    m2[i] = 0.0
                    for j in range(n):
                        GP[i, j] = 0.0
                for t in range(n_g):
                    i, c = g_i[t], g_c[t]
                    g = G[b, i, c]
                    m2[i] += g * m[c]
                    for j in range(n):
                        GP[i, j] += g * P[c, j]
                for i in range(n):
                    m[i] = m2[i]
                    for j in range(n):
                        P[i, j] = Q[i, j]
                for t in range(n_g):
                    j, c = g_i[t], g_c[t]
                    g = G[b, j, c]
                    for i in range(n):
                        P[i, j] += GP[i, c] * g
                for i in range(n):
                    for j in range(i):
                        v = 0.5 * (P[i, j] + P[j, i])
                        P[i, j] = v
                        P[j, i] = v
            while k < N and obs_year[k] == y:
                extra = 0.0
                s = 1.0
                # h is sparse (an indicator's few states and flows): sums over its non-zeros
                # only (adding exact zeros changes no bit); P stays exactly symmetric, so its
                # updates fill one triangle and mirror it
                nz = h_nz[k, : h_nn[k]]
                if obs_part[k] >= 0:
                    s = shares[b, obs_part[k]]
                    whole = 0.0
                    for i in nz:
                        whole += obs_h[k, i] * m[i]
                    extra = s * (1.0 - s) * abs(whole)
                for i in range(n):
                    h[i] = obs_h[k, i] * s
                mu = 0.0
                for i in nz:
                    mu += h[i] * m[i]
                for i in range(n):
                    acc = 0.0
                    for j in nz:
                        acc += P[i, j] * h[j]
                    Ph[i] = acc
                S = 0.0
                for i in nz:
                    S += Ph[i] * h[i]
                r = obs_r[k] * (noise2[b] if obs_scaled[k] else 1.0)
                S += r + 0.25 + extra
                pred[b, k, 0] = mu
                pred[b, k, 1] = S
                if obs_ge[k]:
                    sd = math.sqrt(S)
                    alpha = (obs_val[k] - mu) / sd
                    lnd = _log_ndtr(-alpha)
                    ll[b] += lnd
                    lam = math.exp(-0.5 * alpha * alpha - 0.5 * LOG2PI - lnd)
                    shift = sd * lam
                    var_w = S * max(1.0 + alpha * lam - lam * lam, 1e-9)
                    f = (S - var_w) / (S * S)
                    for i in range(n):
                        m[i] += Ph[i] / S * shift
                    for i in range(n):
                        for j in range(i + 1):
                            P[i, j] -= Ph[i] * Ph[j] * f
                            P[j, i] = P[i, j]
                else:
                    e = obs_val[k] - mu
                    ll[b] += -0.5 * (LOG2PI + math.log(S) + e * e / S)
                    for i in range(n):
                        m[i] += Ph[i] / S * e
                    for i in range(n):
                        for j in range(i + 1):
                            P[i, j] -= Ph[i] * Ph[j] / S
                            P[j, i] = P[i, j]
                k += 1
        if want_state:
            for i in range(n):
                m_out[b, i] = m[i]
                for j in range(n):
                    P_out[b, i, j] = 0.5 * (P[i, j] + P[j, i])
    return ll, m_out, P_out, pred


def structure_arrays(c):
    """The arrays :func:`system` and :func:`filter_batch` need from a Compiled structure."""
    O = len(c.s.origins)
    M = max(len(o.moves) for o in c.s.origins) + 1
    q_idx = np.zeros((O, max(M - 1, 1)), dtype=np.int64)
    n_moves = np.zeros(O, dtype=np.int64)
    D = np.zeros((O, c.n, M))
    for k, (o, qi, d) in enumerate(zip(c.s.origins, c.origin_q, c.D)):
        q_idx[k, : len(qi)] = qi
        n_moves[k] = len(qi)
        D[k, :, : d.shape[1]] = d
    tier = np.array([c.tier_pos[o.tier] for o in c.s.origins], dtype=np.int64)
    tier_pos = np.array([c.tier_pos[t] for t in range(c.K)], dtype=np.int64)
    return q_idx, n_moves, D, tier, c.inflow_param.astype(np.int64), np.ascontiguousarray(c.V), c.size_rows, tier_pos
