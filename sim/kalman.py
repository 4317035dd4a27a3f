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

:func:`log_post_batch` is what a fit calls: the whole log posterior of a batch, every fit
unit, in one call. Its small helpers are inlined (``inline="always"``): each separately
compiled function costs a fixed few tenths of a second on the first run.
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
    I = size_rows.shape[0]
    G = np.zeros((B, n, n))
    pis = np.zeros((B, O, M))
    r_in = np.zeros((B, I))
    for b in range(B):
        _system_one(rates[b], q_idx, n_moves, D, origin_tier, inflow_param, V, size_rows, tier_pos,
                    G[b], pis[b], r_in[b])
    return G, pis, r_in


@njit(cache=True)
def _system_one(rates, q_idx, n_moves, D, origin_tier, inflow_param, V, size_rows, tier_pos, G, pis, r_in):
    """:func:`system` for one parameter vector rates (n_params,), into G (n, n), pis (O, M)
    and r_in (I,) (overwritten): the fused posterior reuses its buffers point after point."""
    O, n, M = D.shape
    I, K = size_rows.shape
    for i in range(n):
        for j in range(n):
            G[i, j] = 0.0
    for o in range(O):
        for c in range(M):
            pis[o, c] = 0.0
    for o in range(O):
        surv = 1.0
        nm = n_moves[o]
        for c in range(nm):
            q = rates[q_idx[o, c]]
            pis[o, c] = q * surv
            surv *= 1.0 - q
        pis[o, nm] = surv
        col = origin_tier[o]
        for i in range(n):
            acc = 0.0
            for c in range(nm + 1):
                acc += D[o, i, c] * pis[o, c]
            G[i, col] += acc
    for j in range(I):
        r = rates[inflow_param[j]]
        r_in[j] = r
        for t in range(K):
            if size_rows[j, t] != 0.0:
                col = tier_pos[t]
                for i in range(n):
                    G[i, col] += r * V[j, i]


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
    N = obs_val.shape[0]
    ll = np.zeros(B)
    pred = np.zeros((B, N, 2))     # one-step-ahead mean and variance of each figure
    m_out = np.zeros((B, n)) if want_state else np.zeros((1, 1))
    P_out = np.zeros((B, n, n)) if want_state else np.zeros((1, 1, 1))
    structure = (D, origin_tier, V, size_rows, n_moves, yn_move, yn_in)
    sparse = _sparsity(D, V)
    h_nz, h_nn = _nonzero_rows(obs_h.copy().reshape(N, n, 1))     # each figure's non-zero weights
    work = _workspace(n, x0.shape[1])
    m, P = work[0], work[2]
    for b in range(B):
        ll[b] = _filter_one(x0[b], G[b], pis[b], r_in[b], noise2[b], shares[b], n_years, obs_year, obs_h, obs_val,
                            obs_r, obs_scaled, obs_ge, obs_part, h_nz, h_nn, structure, sparse, work, pred[b])
        if want_state:
            for i in range(n):
                m_out[b, i] = m[i]
                for j in range(n):
                    P_out[b, i, j] = 0.5 * (P[i, j] + P[j, i])
    return ll, m_out, P_out, pred


@njit(cache=True, inline="always")
def _sparsity(D, V):
    """The rows each origin's moves touch and each inflow's (the change vectors are sparse:
    a move lands in one tier and counts in one flow), so Q costs |rows|^2, not n^2."""
    I, n = V.shape
    o_rows, o_nr = _nonzero_rows(D)
    v_rows, v_nr = _nonzero_rows(V.copy().reshape(I, n, 1))
    return o_rows, o_nr, v_rows, v_nr


@njit(cache=True, inline="always")
def _workspace(n, K):
    """The filter's buffers: m, m2, P, GP, Q, Dp, h, Ph and G's non-zero entries g_i, g_c."""
    return (np.zeros(n), np.zeros(n), np.zeros((n, n)), np.zeros((n, n)), np.zeros((n, n)), np.zeros(n),
            np.zeros(n), np.zeros(n), np.zeros(n * K, dtype=np.int64), np.zeros(n * K, dtype=np.int64))


@njit(cache=True)
def _filter_one(x0, G, pis, r_in, noise2, shares, n_years, obs_year, obs_h, obs_val, obs_r, obs_scaled, obs_ge,
                obs_part, h_nz, h_nn, structure, sparse, work, pred):
    """:func:`filter_batch` for one parameter vector: returns its log-likelihood and leaves
    the filtered mean and covariance at the last year in work[0] and work[2]."""
    D, origin_tier, V, size_rows, n_moves, yn_move, yn_in = structure
    o_rows, o_nr, v_rows, v_nr = sparse
    m, m2, P, GP, Q, Dp, h, Ph, g_i, g_c = work
    n = G.shape[0]
    K = x0.shape[0]
    O, M = D.shape[0], D.shape[2]
    I = V.shape[0]
    N = obs_val.shape[0]
    ll = 0.0
    for i in range(n):
        m[i] = x0[i] if i < K else 0.0
        for j in range(n):
            P[i, j] = 0.0
    n_g = 0
    for c in range(K):
        for i in range(n):
            if G[i, c] != 0.0:
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
                        acc += D[o, i, c] * pis[o, c]
                    Dp[i] = acc
                for a in range(nr):
                    i = o_rows[o, a]
                    for a2 in range(a, nr):
                        j = o_rows[o, a2]
                        acc = 0.0
                        for c in range(M):
                            acc += D[o, i, c] * D[o, j, c] * pis[o, c]
                        v = mo * (acc - Dp[i] * Dp[j])
                        Q[i, j] += v
                        if j != i:
                            Q[j, i] += v
                # year-to-year shocks of the conditional move probabilities (delta method)
                surv = 1.0
                for mv in range(n_moves[o]):
                    qk = pis[o, mv] / surv if surv > 1e-300 else 0.0
                    vk = yn_move[o, mv]
                    if vk > 0.0 and 0.0 < qk < 1.0:
                        dq = qk * (1.0 - qk)
                        for a in range(nr):
                            i = o_rows[o, a]
                            acc = D[o, i, mv] * surv
                            for c in range(mv + 1, n_moves[o] + 1):
                                if D[o, i, c] != 0.0:   # (skipping zeros changes no bit)
                                    acc -= D[o, i, c] * pis[o, c] / (1.0 - qk)
                            Dp[i] = dq * acc
                        w = mo * mo * vk
                        for a in range(nr):
                            i = o_rows[o, a]
                            for a2 in range(nr):
                                jj = o_rows[o, a2]
                                Q[i, jj] += w * Dp[i] * Dp[jj]
                    surv -= pis[o, mv]
            for j in range(I):
                size = 0.0
                for t in range(K):
                    size += size_rows[j, t] * max(m[t], 0.0)
                lam = r_in[j] * size
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
                g = G[i, c]
                m2[i] += g * m[c]
                for j in range(n):
                    GP[i, j] += g * P[c, j]
            for i in range(n):
                m[i] = m2[i]
                for j in range(n):
                    P[i, j] = Q[i, j]
            for t in range(n_g):
                j, c = g_i[t], g_c[t]
                g = G[j, c]
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
                s = shares[obs_part[k]]
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
            r = obs_r[k] * (noise2 if obs_scaled[k] else 1.0)
            S += r + 0.25 + extra
            pred[k, 0] = mu
            pred[k, 1] = S
            if obs_ge[k]:
                sd = math.sqrt(S)
                alpha = (obs_val[k] - mu) / sd
                lnd = _log_ndtr(-alpha)
                ll += lnd
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
                ll += -0.5 * (LOG2PI + math.log(S) + e * e / S)
                for i in range(n):
                    m[i] += Ph[i] / S * e
                for i in range(n):
                    for j in range(i + 1):
                        P[i, j] -= Ph[i] * Ph[j] / S
                        P[j, i] = P[i, j]
            k += 1
    return ll


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


def start_plan_arrays(c):
    """A Compiled structure's start plan (how each start level fills its tiers) as a list of
    operations for :func:`log_post_batch`: ops (Z, 3) int rows (0, level column, 0) start a
    level, (1, tier, share column) give a tier its share of it, (2, tier, 0) a tier its
    weight w (Z,) of the rest, in the order of ``Compiled.start_states``."""
    ops, w = [], []
    for col, shares, others, weights in c.start_plan:
        ops.append((0, col, 0))
        w.append(0.0)
        for tier, cp in shares:
            ops.append((1, tier, cp))
            w.append(0.0)
        for t, wt in zip(others, weights):
            ops.append((2, t, 0))
            w.append(float(wt))
    return np.array(ops, dtype=np.int64).reshape(len(ops), 3), np.array(w, dtype=float)


@njit(cache=True, inline="always")
def _natural(kind, u, lo, hi):
    """One parameter on its natural scale (kind 0 log, 1 logit, 2 bounded, 3 shift), as
    :meth:`sim.params.ParamSpace.natural`."""
    if kind == 0:
        return math.exp(u)
    if kind == 3:
        return u
    e = 1.0 / (1.0 + math.exp(-u))
    return e if kind == 1 else lo + (hi - lo) * e


@njit(cache=True, inline="always")
def _unit_rates(theta, kinds, prior, n_rates, offsets, rates):
    """A unit's natural rates (n_rates,) into ``rates``: the shared rates plus the unit's
    offsets (rate, theta column) on the link scale, as ``Model.unit_rates``."""
    for i in range(n_rates):
        rates[i] = theta[i]
    for p in range(offsets.shape[0]):
        rates[offsets[p, 0]] += theta[offsets[p, 1]]
    for i in range(n_rates):
        rates[i] = _natural(kinds[i], rates[i], prior[i, 2], prior[i, 3])


@njit(cache=True, inline="always")
def _start_vector(nat, steps, step_base, outs, logs, vec):
    """A unit's start vector into ``vec`` as ``StartPlan.vector``: steps (S, 5) rows (slot,
    kind, base slot, column, z column) with step_base (S, 2) rows (regional log base, sd);
    kind 0 is an explicit level (its column), 1 a level relative to the regional base, 2 to
    the level in the base slot (column: the ratio's); outs (L, 2) rows (slot or -1, column)."""
    for s in range(steps.shape[0]):
        slot, kind, base_slot, col, zc = steps[s, 0], steps[s, 1], steps[s, 2], steps[s, 3], steps[s, 4]
        if kind == 0:
            logs[slot] = math.log(max(nat[col], 1e-300))
        else:
            base = step_base[s, 0] if kind == 1 else logs[base_slot]
            logs[slot] = base + math.log(nat[col]) + step_base[s, 1] * nat[zc]
    for k in range(outs.shape[0]):
        vec[k] = math.exp(logs[outs[k, 0]]) if outs[k, 0] >= 0 else nat[outs[k, 1]]


@njit(cache=True, inline="always")
def _shares(nat, share_cols, shares):
    """The sub-units' shares into ``shares`` as ``StartPlan.shares`` (1 without sub-units);
    returns how many."""
    S = share_cols.shape[0]
    if S == 0:
        shares[0] = 1.0
        return 1
    total = 0.0
    for k in range(S):
        total += nat[share_cols[k]]
    for k in range(S):
        shares[k] = nat[share_cols[k]] / max(total, 1e-300)
    return S


@njit(cache=True, inline="always")
def _start_states(vec, ops, w, x0):
    """Start tiers x0 (K,) from a start vector, as ``Compiled.start_states``."""
    for i in range(x0.shape[0]):
        x0[i] = 0.0
    v = rest = 0.0
    for z in range(ops.shape[0]):
        kind, a, c = ops[z, 0], ops[z, 1], ops[z, 2]
        if kind == 0:
            v = vec[a]
            rest = v
        elif kind == 1:
            x0[a] = v * vec[c]
            rest = rest - x0[a]
        else:
            x0[a] = rest * w[z]


@njit(cache=True)
def log_post_batch(theta, with_prior, want_state, x0_in, rates_in, shares_in, noise2_in,
                   prior, kinds, n_rates, noise_col, units, offsets, steps, step_base, outs, share_cols, start_ops,
                   start_w, obs_year, obs_h, obs_val, obs_r, obs_scaled, obs_ge, obs_part,
                   q_idx, n_moves, D, origin_tier, inflow_param, V, size_rows, tier_pos, yn_move, yn_in):
    """The log posterior (B,) of a batch theta (B, n) over all fit units in one call, as
    ``Model.log_post`` (non-finite -> -1e300), or the log-likelihood as ``Model.log_lik``
    unless ``with_prior``. One call instead of a dozen numpy steps and two dispatches per
    unit: the sampler makes ~10^4 such calls per fit. With ``want_state`` (one unit, as
    ``Model.unit_filter``) also the filtered mean (B, n) and covariance (B, n, n) at the last
    year and each figure's one-step-ahead mean and variance (B, N, 2), as :func:`filter_batch`
    (whose work this shares, so that a fit compiles the filter once). x0_in (B, K), rates_in
    (B, n_rates), shares_in (B, S) and noise2_in (B,), unless they have no rows: one unit's
    start tiers, rates, shares and squared noise scale given (``Model.unit_filter`` works
    them out in numpy, so that its states keep the bits they have always had).

    prior (n, 4): each parameter's prior mean, sd and bounds (lo, hi); kinds (n,) its
    transform (see :func:`_natural`); the first n_rates are the rates, noise_col the noise
    scale. units (U, 9): per fit unit, its number of filter years and the [lo, hi) rows of
    its offsets (P, 2), start steps (S, 5)/(S, 2), share columns and figures (the obs_*
    arrays of all units concatenated, each unit's sorted by year); outs (U, L, 2): see
    :func:`_start_vector`. The rest as :func:`start_plan_arrays` and :func:`structure_arrays`.
    """
    B, n = theta.shape
    ns, K, I = D.shape[1], tier_pos.shape[0], V.shape[0]
    N = obs_val.shape[0]
    structure = (D, origin_tier, V, size_rows, n_moves, yn_move, yn_in)
    sparse = _sparsity(D, V)
    h_nz, h_nn = _nonzero_rows(obs_h.copy().reshape(N, ns, 1))
    work = _workspace(ns, K)
    G, pis, r_in = np.zeros((ns, ns)), np.zeros((D.shape[0], D.shape[2])), np.zeros(I)
    nat, rates = np.zeros(n), np.zeros(n_rates)
    logs, vec, x0 = np.zeros(outs.shape[1]), np.zeros(outs.shape[1]), np.zeros(K)
    given = rates_in.shape[0]
    shares = np.zeros(max(share_cols.shape[0], shares_in.shape[1], 1))
    pred = np.zeros((B if want_state else 1, N, 2))
    m_out = np.zeros((B, ns)) if want_state else np.zeros((1, 1))
    P_out = np.zeros((B, ns, ns)) if want_state else np.zeros((1, 1, 1))
    m, P = work[0], work[2]
    log_sd = 0.0
    for i in range(n):
        log_sd += math.log(prior[i, 1])
    out = np.zeros(B)
    for b in range(B):
        acc = 0.0
        for i in range(n):
            nat[i] = _natural(kinds[i], theta[b, i], prior[i, 2], prior[i, 3])
            z = (theta[b, i] - prior[i, 0]) / prior[i, 1]
            acc += z * z
        noise2 = nat[noise_col] * nat[noise_col] if given == 0 else noise2_in[b]
        ll = 0.0
        for u in range(units.shape[0]):
            n_years, o0, o1, s0, s1, c0, c1, k0, k1 = units[u]
            if given:
                S = shares_in.shape[1]
                for i in range(n_rates):
                    rates[i] = rates_in[b, i]
                for i in range(K):
                    x0[i] = x0_in[b, i]
                for i in range(S):
                    shares[i] = shares_in[b, i]
            else:
                _unit_rates(theta[b], kinds, prior, n_rates, offsets[o0:o1], rates)
                _start_vector(nat, steps[s0:s1], step_base[s0:s1], outs[u], logs, vec)
                S = _shares(nat, share_cols[c0:c1], shares)
                _start_states(vec, start_ops, start_w, x0)
            _system_one(rates, q_idx, n_moves, D, origin_tier, inflow_param, V, size_rows, tier_pos, G, pis, r_in)
            ll += _filter_one(x0, G, pis, r_in, noise2, shares[:S], n_years, obs_year[k0:k1], obs_h[k0:k1],
                              obs_val[k0:k1], obs_r[k0:k1], obs_scaled[k0:k1], obs_ge[k0:k1], obs_part[k0:k1],
                              h_nz[k0:k1], h_nn[k0:k1], structure, sparse, work,
                              pred[b if want_state else 0, k0:k1])
        if want_state:
            for i in range(ns):
                m_out[b, i] = m[i]
                for j in range(ns):
                    P_out[b, i, j] = 0.5 * (P[i, j] + P[j, i])
        if not with_prior:
            out[b] = ll
            continue
        lp = -0.5 * acc - log_sd - 0.5 * n * LOG2PI + ll
        out[b] = lp if math.isfinite(lp) else -1e300
    return out, m_out, P_out, pred
