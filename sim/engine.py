"""Pure numpy kernels: the expected step (mean and covariance) and the integer simulator.

State per unit: x (K tiers, year-end stock) and f (F flows during the year). One year:

* every firm in origin o takes move k with probability pi_ok (stick-breaking, see
  :mod:`sim.structure`) or stays on the origin's rest tier: a multinomial draw, done as a
  chain of conditional binomials (exact);
* inflow j adds Poisson(lambda_j) firms, lambda_j = rate_j * size_j(x), size_j(x) the
  stock of the inflow's size tiers at the start of the year; a quota raises it to at
  least a count.

Mean: with z = [x, f], E z' = G E z, where G's columns for the tiers hold the moves'
change vectors weighted by pi (the cohort) and the inflows' change vectors times their
rates on the size tiers; flows are not carried forward (zero columns).
Covariance (law of total covariance, the large-population approximation of METHODS.md
s.4, exact in the first two moments for this linear system):

    Cov z' = G Cov z G' + sum_o E[x_o] D_o (diag pi_o - pi_o pi_o') D_o'
             + sum_j rate_j E[size_j] d_j d_j',

where D_o's columns add each move's destination tier and flow, d_j the inflow's.
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
    """Index arrays of a structure for fast repeated use.

    ``keep``: indices of z = [tiers, flows] to work on (the expected-dynamics methods
    return matrices over these only); tiers are always kept, flows only when observed.
    """

    def __init__(self, s: Structure, keep: np.ndarray | None = None):
        self.s = s
        self.K, self.F = s.K, s.F
        n_full = self.K + self.F
        self.keep = np.arange(n_full) if keep is None else np.asarray(keep, dtype=int)
        names = s.prob_params + s.rate_params
        self.pidx = {n: i for i, n in enumerate(names)}
        self.n_params = len(names)
        self.origin_q = [np.array([self.pidx[m.param] for m in o.moves], dtype=int) for o in s.origins]
        # change vectors over z = [x, f] of each move (incl. rest) of each origin
        D_full = []
        for o in s.origins:
            cols = []
            for m in o.moves:
                v = np.zeros(n_full)
                if m.dest != OUT:
                    v[m.dest] += 1
                if m.flow >= 0:
                    v[self.K + m.flow] += 1
                cols.append(v)
            v = np.zeros(n_full)
            v[o.rest] += 1
            if o.rest_flow >= 0:
                v[self.K + o.rest_flow] += 1
            cols.append(v)
            D_full.append(np.stack(cols, axis=1))
        V_full = []
        for j in s.inflows:
            v = np.zeros(n_full)
            v[j.dest] += 1
            v[self.K + j.flow] += 1
            V_full.append(v)
        self.D_full = D_full
        self.V_full = np.stack(V_full) if V_full else np.zeros((0, n_full))
        k = self.keep
        n = len(k)
        self.n = n
        self.D = [D[k] for D in D_full]
        self.V = self.V_full[:, k]
        # outer products of the change vectors, flattened: Q terms become matrix products
        self.DD = [np.einsum("jk,lk->kjl", D, D).reshape(D.shape[1], n * n) for D in self.D]
        self.VV = np.einsum("ij,ik->ijk", self.V, self.V).reshape(len(self.V), n * n)
        self.inflow_param = np.array([self.pidx[j.param] for j in s.inflows], dtype=int)
        # size of each inflow as a 0/1 row over the tiers (I, K)
        self.size_rows = np.zeros((len(s.inflows), self.K))
        for i, j in enumerate(s.inflows):
            self.size_rows[i, list(j.size)] = 1.0
        self.tier_pos = {int(t): int(np.flatnonzero(k == t)[0]) for t in range(self.K)}
        # how each start level fills its tiers, as column numbers of the start vector:
        # (level column, ((tier, share column), ...), other tiers, their weights)
        col = {name: i for i, name in enumerate(s.start_names)}
        plan = []
        for lv in s.start_levels:
            shared = {tier for tier, _ in lv.shares}
            others = tuple(t for t in lv.tiers if t not in shared)
            if lv.split == "cohort":
                w = (1 + s.cohort_growth) ** -np.arange(len(others), dtype=float)
            else:
                w = np.ones(len(others))
            w = w / w.sum()
            plan.append((col[lv.name], tuple((tier, col[p]) for tier, p in lv.shares), others, tuple(w)))
        self.start_plan = tuple(plan)

    def restricted(self, keep) -> "Compiled":
        return Compiled(self.s, keep)

    # ---- batched expected dynamics (B parameter vectors at once) ------------------------
    def system_batch(self, rates: np.ndarray):
        """G (B, n, n) over the kept indices, pis (list of (B, m+1)), inflow rates (B, I)."""
        B = rates.shape[0]
        G = np.zeros((B, self.n, self.n))
        pis = []
        for o, qi, D in zip(self.s.origins, self.origin_q, self.D):
            pi = move_probs(rates[:, qi])
            pis.append(pi)
            G[:, :, self.tier_pos[o.tier]] += pi @ D.T
        r_in = rates[:, self.inflow_param]
        for i, j in enumerate(self.s.inflows):
            for t in j.size:
                G[:, :, self.tier_pos[t]] += r_in[:, i, None] * self.V[i]
        return G, pis, r_in

    def inflow_means(self, r_in: np.ndarray, mean_x: np.ndarray) -> np.ndarray:
        """Expected inflows (B, I) given inflow rates (B, I) and stocks (B, K)."""
        return r_in * (np.maximum(mean_x, 0.0) @ self.size_rows.T)

    def noise_batch(self, mean_x: np.ndarray, pis, r_in) -> np.ndarray:
        """Q (B, n, n) given expected stocks at the start of the year mean_x (B, K)."""
        B, n = mean_x.shape[0], self.n
        Q = self.inflow_means(r_in, mean_x) @ self.VV
        for o, pi, D, DD in zip(self.s.origins, pis, self.D, self.DD):
            m = np.maximum(mean_x[:, o.tier], 0.0)[:, None]
            Dp = pi @ D.T                                   # (B, n)
            Q += m * (pi @ DD - (Dp[:, :, None] * Dp[:, None, :]).reshape(B, n * n))
        return Q.reshape(B, n, n)

    def expected_step(self, rates: np.ndarray, z: np.ndarray, quota: np.ndarray | None = None,
                      share: np.ndarray | None = None) -> np.ndarray:
        """Expected z' (..., U, n) from z (..., U, n) over the full z, rates (..., n_params)
        shared by the units, an optional quota (I,) of minimum yearly inflows split over the
        units by ``share`` (..., U, I). A z without the units axis (..., n) is one unit."""
        if z.ndim == rates.ndim:
            return self.expected_step(rates, z[..., None, :], quota,
                                      None if share is None else share[..., None, :])[..., 0, :]
        lead = rates.shape[:-1]
        r = rates.reshape(-1, rates.shape[-1])
        zz = z.reshape((r.shape[0],) + z.shape[len(lead):])     # (B, U, n)
        x = zz[..., : self.K]
        out = np.zeros_like(zz)
        for o, qi, D in zip(self.s.origins, self.origin_q, self.D_full):
            pi = move_probs(r[:, qi])                              # (B, m+1)
            out += x[..., o.tier, None] * (pi @ D.T)[:, None, :]
        lam = r[:, None, self.inflow_param] * (x @ self.size_rows.T)   # (B, U, I)
        if quota is not None and share is not None:
            lam = np.maximum(lam, quota * share.reshape(lam.shape))
        out += lam @ self.V_full
        return out.reshape(z.shape)

    def start_states(self, start: np.ndarray) -> np.ndarray:
        """(B, K) start tiers from a unit's start vector (B, levels + shares), in the order of
        ``Structure.start_names``: each level fills its tiers (see :mod:`sim.structure`)."""
        start = np.atleast_2d(start)
        x = np.zeros((len(start), self.K))
        for c, shares, others, w in self.start_plan:
            v = start[:, c]
            rest = v.copy()
            for tier, cp in shares:
                x[:, tier] = v * start[:, cp]
                rest = rest - x[:, tier]
            for t, wt in zip(others, w):
                x[:, t] = rest * wt
        return x

    # ---- integer simulation -------------------------------------------------------------
    def simulate(self, x0: np.ndarray, rates: np.ndarray, rng: np.random.Generator,
                 quota: np.ndarray | None = None):
        """Simulate integer paths.

        Parameters
        ----------
        x0 : int array (P, U, K), firms per tier at the start.
        rates : float array (Y, P, n_params), natural rates per year and path.
        rng : numpy Generator.
        quota : float array (Y, I) or None, minimum yearly inflow (whole scenario), split
            over units in proportion to their current size.

        Returns
        -------
        states : int64 (Y + 1, P, U, K); flows : int64 (Y, P, U, F).
        """
        Y = rates.shape[0]
        P, U, K = x0.shape
        states = np.empty((Y + 1, P, U, K), dtype=np.int64)
        flows = np.zeros((Y, P, U, self.F), dtype=np.int64)
        states[0] = x0
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
            size = x @ self.size_rows.T                       # (P, U, I) stock at the start of the year
            for j, (inf, i) in enumerate(zip(self.s.inflows, self.inflow_param)):
                k = rng.poisson(r[:, i][:, None] * size[:, :, j])
                if quota is not None and quota[y, j] > 0:
                    share = size[:, :, j] / np.maximum(size[:, :, j].sum(axis=1, keepdims=True), 1e-12)
                    k = np.maximum(k, np.floor(quota[y, j] * share + 0.5).astype(np.int64))
                new[:, :, inf.dest] += k
                fl[:, :, inf.flow] += k
            states[y + 1] = new
        return states, flows
