"""Pure numpy kernels: the expected step (mean and covariance) and the integer simulator.

State per unit: x (K tiers, year-end stock) and f (F flows during the year). One year:

* every firm in origin o takes move k with probability pi_ok (stick-breaking, see
  :mod:`sim.structure`) or stays on the origin's rest tier: a multinomial draw, done as a
  chain of conditional binomials (exact);
* inflow j adds Poisson(lambda_j) firms, lambda_j = rate_j * size_j (size: the unit's
  start-year stock of the inflow's size tiers); a quota raises it to at least a count.

Mean: x' = A x + c, f' = B x + c_f. With z = [x, f], G = [[A, 0], [B, 0]]:
    E z' = G E z + [c, c_f],
    Cov z' = G Cov z G' + sum_o E[x_o] D_o (diag pi_o - pi_o pi_o') D_o' + sum_j lambda_j d_j d_j',
where D_o's columns add each move's destination tier and flow (law of total covariance:
the large-population approximation of METHODS.md s.4, exact in the first two moments
for a linear system).
"""

from __future__ import annotations

import numpy as np

from .structure import OUT, Structure


def move_probs(q_cond: np.ndarray) -> np.ndarray:
    """Unconditional probabilities [pi_1..pi_m, pi_rest] from conditional q (..., m)."""
    q = np.asarray(q_cond)
    surv = np.cumprod(1.0 - q, axis=-1)
    before = np.concatenate([np.ones(q.shape[:-1] + (1,), dtype=surv.dtype), surv[..., :-1]], axis=-1)
    return np.concatenate([q * before, surv[..., -1:]], axis=-1)


class Compiled:
    """Index arrays of a structure for fast repeated use."""

    def __init__(self, s: Structure):
        self.s = s
        self.K, self.F = s.K, s.F
        names = s.prob_params + s.rate_params
        self.pidx = {n: i for i, n in enumerate(names)}
        self.n_params = len(names)
        self.origin_q = [np.array([self.pidx[m.param] for m in o.moves], dtype=int) for o in s.origins]
        # change vectors over z = [x, f] of each move (incl. rest) of each origin
        self.D = []
        for o in s.origins:
            cols = []
            for m in o.moves:
                v = np.zeros(self.K + self.F)
                if m.dest != OUT:
                    v[m.dest] += 1
                if m.flow >= 0:
                    v[self.K + m.flow] += 1
                cols.append(v)
            v = np.zeros(self.K + self.F)
            v[o.rest] += 1
            if o.rest_flow >= 0:
                v[self.K + o.rest_flow] += 1
            cols.append(v)
            self.D.append(np.stack(cols, axis=1))
        self.inflow_vec = []
        for j in s.inflows:
            v = np.zeros(self.K + self.F)
            v[j.dest] += 1
            v[self.K + j.flow] += 1
            self.inflow_vec.append(v)
        self.inflow_param = np.array([self.pidx[j.param] for j in s.inflows], dtype=int)
        n = self.K + self.F
        # outer products of the change vectors, flattened: Q terms become matrix products
        self.DD = [np.einsum("jk,lk->kjl", D, D).reshape(D.shape[1], n * n) for D in self.D]
        V = np.stack(self.inflow_vec) if self.inflow_vec else np.zeros((0, n))
        self.VV = np.einsum("ij,ik->ijk", V, V).reshape(len(V), n * n)

    def sizes(self, x0: np.ndarray) -> np.ndarray:
        """Inflow sizes (..., I) from start-year tiers (..., K)."""
        return np.stack([x0[..., list(j.size)].sum(axis=-1) for j in self.s.inflows], axis=-1)

    # ---- batched expected dynamics (B parameter vectors at once) ------------------------
    def system_batch(self, rates: np.ndarray, size: np.ndarray):
        """G (B, n, n), c (B, n), pis (list of (B, m+1)), lam (B, I) for B parameter vectors."""
        B = rates.shape[0]
        n = self.K + self.F
        G = np.zeros((B, n, n))
        pis = []
        for o, qi, D in zip(self.s.origins, self.origin_q, self.D):
            pi = move_probs(rates[:, qi])
            pis.append(pi)
            G[:, :, o.tier] += pi @ D.T
        lam = rates[:, self.inflow_param] * size
        V = np.stack(self.inflow_vec)          # (I, n)
        c = lam @ V
        return G, c, pis, lam

    def noise_batch(self, mean_x: np.ndarray, pis, lam) -> np.ndarray:
        """Q (B, n, n) given expected origin stocks mean_x (B, K)."""
        B, n = lam.shape[0], self.K + self.F
        Q = lam @ self.VV
        for o, pi, D, DD in zip(self.s.origins, pis, self.D, self.DD):
            m = np.maximum(mean_x[:, o.tier], 0.0)[:, None]
            Dp = pi @ D.T                                   # (B, n)
            Q += m * (pi @ DD - (Dp[:, :, None] * Dp[:, None, :]).reshape(B, n * n))
        return Q.reshape(B, n, n)

    def start_states(self, levels):
        """(B, K) expected start tiers from levels (B, 4) = hte, sme, reserve, leader_share."""
        s = self.s
        hte, sme, res, ls = levels.T
        g = s.cohort_growth
        w = np.array([(1 + g) ** -a for a in range(3)])
        w = w / w.sum()
        x = np.zeros((len(levels), self.K))
        for a, name in enumerate(("H1", "H2", "H3")):
            x[:, s.tier(name)] = hte * (1 - ls) * w[a]
        x[:, s.tier("L")] = hte * ls
        x[:, s.tier("S")] = sme
        x[:, s.tier("R")] = res
        return x

    # ---- integer simulation -------------------------------------------------------------
    def simulate(self, x0: np.ndarray, size: np.ndarray, rates: np.ndarray, rng: np.random.Generator,
                 quota: np.ndarray | None = None):
        """Simulate integer paths.

        Parameters
        ----------
        x0 : int array (P, U, K), firms per tier at the start.
        size : float array (P, U, I), inflow sizes per unit.
        rates : float array (Y, P, n_params), natural rates per year and path.
        rng : numpy Generator.
        quota : float array (Y, I) or None, minimum yearly inflow (whole scenario), split
            over units in proportion to their size.

        Returns
        -------
        states : int64 (Y + 1, P, U, K); flows : int64 (Y, P, U, F).
        """
        Y = rates.shape[0]
        P, U, K = x0.shape
        states = np.empty((Y + 1, P, U, K), dtype=np.int64)
        flows = np.zeros((Y, P, U, self.F), dtype=np.int64)
        states[0] = x0
        share = size / np.maximum(size.sum(axis=1, keepdims=True), 1e-12)
        for y in range(Y):
            x = states[y]
            new = np.zeros((P, U, K), dtype=np.int64)
            fl = flows[y]
            r = rates[y]
            for o, qi in zip(self.s.origins, self.origin_q):
                rem = x[:, :, o.tier].copy()
                for m, i in zip(o.moves, qi):
                    k = rng.binomial(rem, np.clip(r[:, i], 0.0, 1.0)[:, None])
                    rem -= k
                    if m.dest != OUT:
                        new[:, :, m.dest] += k
                    if m.flow >= 0:
                        fl[:, :, m.flow] += k
                new[:, :, o.rest] += rem
                if o.rest_flow >= 0:
                    fl[:, :, o.rest_flow] += rem
            for j, (inf, i) in enumerate(zip(self.s.inflows, self.inflow_param)):
                k = rng.poisson(r[:, i][:, None] * size[:, :, j])
                if quota is not None and quota[y, j] > 0:
                    k = np.maximum(k, np.floor(quota[y, j] * share[:, :, j] + 0.5).astype(np.int64))
                new[:, :, inf.dest] += k
                fl[:, :, inf.flow] += k
            states[y + 1] = new
        return states, flows
