"""What it would take: required rates, each lever alone, the cheapest lever mix, the
cost-probability frontier and a stress test of the plan (METHODS.md s.6).

Which levers move. By default only the levers the scenario's own district holds
(``controlled_by = "district"`` and ``district`` = the scenario's unit, calibration/levers.toml);
the city's and the province's stay at the base scenario's settings (``all_levels`` moves
them too). A lever moves within its ``capacity`` (the plan's floor, a stated ceiling) and,
unless cuts are allowed, never below the base scenario's setting: goal seeking asks what to
add to the policy in force. Settings are whole 10k yuan (万元) for money and whole firms
(or projects) for counts. The cost minimised is what the district pays (the levers it holds;
all levers with ``all_levels``), total over the projection years to the target year; the
cost to every payer is reported beside it.

The smooth model (the search). Each path keeps its own parameters, lever strengths and
start state (common random numbers for every mix). Under a lever mix the path's indicator
has mean m_p(x) from the expected dynamics (``Compiled.expected_step``) and, conditional on
the path's parameters, a binomial/Poisson spread sigma_p: the linear-Gaussian covariance
recursion C' = G C G' + Q (``Compiled.system_batch``/``noise_batch``) at the base mix. So

    P_smooth(x) = mean_p Phi((m_p(x) - target + 1/2) / sigma_p)

(the normal approximation of the path's conditional probability, with a continuity
correction, averaged over the paths: a Rao-Blackwellised estimate, smooth in x and never flat
in the way a sample indicator is). The search works on the level L_q(x) that the indicator
reaches with probability q (mean_p Phi((m_p - L + 1/2) / sigma_p) = q): P_smooth(x) >= q
exactly when L_q(x) >= target, and L_q keeps moving where P is near 0 or 1.

The global search (on a lattice: each lever's range in ``COARSE`` levels, then refined to
the grain). (1) Greedy marginal analysis from the lowest corner: at each step every lever
may jump one or two levels up; the jump with the largest gain in L_q per unit of cost is
taken (q = the current P, so each step buys the most probability per 10k yuan), up to the
top corner: the smooth frontier, filled in between its steps on the grain. (2) Candidates
for the cheapest mix with P_smooth >= need: the frontier's first point that meets need, and
a multi-start (the lowest corner, the base settings, random lattice points), each climbed
greedily until it meets need; each then lowered lever by lever to the grain (bisection).
The search paths are a sample: a certified probability is mapped to their scale by the
logit offset between the two on the mixes certified so far, and a sweep of requirements
around prob + 1.96 se gives the candidates. (3) Every candidate is *certified* by the exact
integer simulator (``project.run_policy``) on fresh random numbers (another seed); the plan
is the cheapest certified mix whose interval lies above prob (p - 1.96 se >= prob), lowered
lever by lever on the grain while it stays so; each lever alone is found the same way.
(4) The frontier is the upper envelope of every certified mix (the smooth frontier's points,
the candidates, the plan, the baseline, the top corner, each lever alone): monotone by
construction, and no mix the tool evaluates lies above it.

Exact evaluation sums the sub-units of a main-unit target (for a sub-unit's target: the other
sub-units): they share their rates, and sums of binomial and Poisson moves with common rates
are binomial and Poisson moves of the sum; a quota (a minimum yearly intake) then applies to
the unit as a whole, as the plans state it.
Monte Carlo error: P's binomial standard error over the certification paths; the cost's
standard error over paths; the cost a target takes is given as the range of certified
frontier costs whose probability interval contains prob.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit, logit, ndtr

from .calibrate import cached_fit
from .errors import InputError, did_you_mean
from .levers import response
from .params import from_link, to_link
from .project import draw_paths, run_policy, year_shocks
from .report import new_folder
from .scenario import BASE_POLICY, Policy, load_scenario

COARSE = 6            # lattice levels per lever in the global search
N_STARTS = 3          # random lattice starts of the multi-start search
MAX_FRONTIER = 40     # smooth-frontier points certified
CHUNK = 60_000        # mixes x paths per batch of the smooth model


@dataclasses.dataclass(frozen=True)
class Goal:
    unit: str
    indicator: str
    year: int
    target: float
    prob: float


# ---- the question ----------------------------------------------------------------------
def _quote(value) -> str:
    text = str(value)
    return repr(text[:50] + "..." if len(text) > 60 else text)


def parse_goal(sc, target: str | None, unit: str | None = None, value: float | None = None,
               prob: float = 0.8, base_name: str = BASE_POLICY) -> Goal:
    """The goal of ``sim goal``: ``target`` is INDICATOR@YEAR (None: the main unit's headline
    target in its latest year); the value is the ledger's target unless ``value`` is given."""
    unit = unit or sc.unit
    if unit not in sc.report_units:
        raise InputError(sc.path, "--unit", "the main unit or one of its sub-units", _quote(unit),
                         did_you_mean(unit, sc.report_units))
    if base_name not in [p.name for p in sc.policies]:
        raise InputError(sc.path, "--base", "the name of a scenario in the file", _quote(base_name),
                         did_you_mean(base_name, [p.name for p in sc.policies]))
    if target is None:
        mine = [t for t in sc.targets if t.unit == unit and t.indicator == sc.structure.headline]
        if not mine:
            raise InputError(sc.path, "--target", f"INDICATOR@YEAR (no {sc.structure.headline} target of {unit} "
                             "in the ledger to default to)", "nothing")
        ind, year = sc.structure.headline, max(t.year for t in mine)
    else:
        ind, at, year_s = target.strip().partition("@")
        if not at:
            raise InputError(sc.path, "--target", f"INDICATOR@YEAR such as {sc.structure.headline}@{sc.horizon}", _quote(target))
        if ind not in sc.structure.indicators:
            raise InputError(sc.path, "--target", "an indicator of the structure", _quote(ind),
                             did_you_mean(ind, sc.structure.indicators))
        if not re.fullmatch(r"[0-9]{4}", year_s, re.ASCII):
            raise InputError(sc.path, "--target", "INDICATOR@YEAR with a four-digit year such as 2026", _quote(target))
        year = int(year_s)
        start = sc.starts[sc.unit].year
        if not start < year <= sc.horizon:
            raise InputError(sc.path, "--target", f"a year after the start year {start} and up to the horizon "
                             f"{sc.horizon}", str(year))
    if value is None:
        found = [t for t in sc.targets if (t.unit, t.indicator, t.year) == (unit, ind, year)]
        if not found:
            raise InputError(sc.path, "--target", f"a target of {unit} in the ledger (or --value)",
                             f"none for {ind} in {year}")
        value = found[0].value
    return Goal(unit, ind, year, float(value), float(prob))


def require_converged(sc, cal) -> None:
    """Goal answers come from a converged fit only: an unconverged one moves them from run to run."""
    if not cal.converged:
        d = cal.diagnostics
        raise InputError(sc.path, "calibration", "a converged fit for goal answers (split R-hat <= 1.01, ESS >= 400)",
                         f"R-hat up to {d.get('rhat_max', float('nan')):.3f} and minimum ESS "
                         f"{min(d.get('ess_bulk_min', 0), d.get('ess_tail_min', 0)):.0f}",
                         f"'sim calibrate {sc.path}' names the parameter that does not converge")


# ---- the levers that move ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Space:
    """The lattice goal seeking searches: every lever of the scenario (``names``, sorted) at the
    base settings, the ``varied`` ones within [lo, hi] on their grain."""
    names: tuple[str, ...]
    base: np.ndarray          # (L,) base settings
    varied: np.ndarray        # (V,) indices into names
    lo: np.ndarray            # (V,)
    hi: np.ndarray            # (V,)
    grain: np.ndarray         # (V,)
    payers: np.ndarray        # (L,) bool: levers whose payments are the cost minimised
    all_levels: bool
    allow_cuts: bool

    @property
    def V(self) -> int:
        return len(self.varied)

    def levels(self, i: int, n: int = COARSE) -> np.ndarray:
        lo, hi, g = self.lo[i], self.hi[i], self.grain[i]
        grid = lo + (hi - lo) * np.linspace(0.0, 1.0, n)
        return np.unique(np.concatenate([[lo, hi], self.snap_one(i, grid)]))

    def snap_one(self, i: int, x):
        lo, hi, g = self.lo[i], self.hi[i], self.grain[i]
        v = np.round(np.asarray(x, dtype=float) / g) * g
        return np.clip(np.where(np.isclose(x, lo), lo, np.where(np.isclose(x, hi), hi, v)), lo, hi)

    def full(self, X: np.ndarray) -> np.ndarray:
        """(M, V) varied settings -> (M, L) settings of every lever."""
        X = np.atleast_2d(X)
        out = np.repeat(self.base[None], len(X), axis=0)
        out[:, self.varied] = X
        return out

    @property
    def start(self) -> np.ndarray:
        return self.base[self.varied].copy()

    def settings(self, xv: np.ndarray) -> dict[str, float]:
        """The varied levers that differ from the base, {name: setting}."""
        return {self.names[j]: float(v) for j, v in zip(self.varied, xv) if abs(v - self.base[j]) > 1e-9}


def lever_space(sc, base: Policy, all_levels: bool = False, allow_cuts: bool = False) -> Space:
    names = tuple(sorted(sc.levers))
    bvals = np.array([base.amount(n) for n in names], dtype=float)
    held = np.array([sc.levers[n].held_by(sc.unit) for n in names])
    varied, lo, hi, grain = [], [], [], []
    for j, n in enumerate(names):
        lv = sc.levers[n]
        if not (all_levels or held[j]):
            continue
        c_lo, c_hi = lv.search_range
        a = c_lo if allow_cuts else max(c_lo, bvals[j])
        b = max(c_hi, a)
        if bvals[j] > c_hi:   # the scenario already sets it beyond the capacity: it stays
            a = b = bvals[j]
        if b - a < lv.grain - 1e-9:
            continue
        varied.append(j)
        lo.append(a)
        hi.append(b)
        grain.append(lv.grain)
    payers = np.ones(len(names), bool) if all_levels else held
    return Space(names, bvals, np.array(varied, dtype=int), np.array(lo), np.array(hi), np.array(grain), payers,
                 all_levels, allow_cuts)


# ---- exact and smooth evaluation on one set of paths --------------------------------------
@dataclasses.dataclass(frozen=True)
class Outcome:
    p: float
    se: float
    cost: float        # the cost minimised (10k yuan, mean over paths)
    cost_se: float
    cost_all: float    # every payer's

    @property
    def lo(self) -> float:
        return max(self.p - 1.96 * self.se, 0.0)

    @property
    def hi(self) -> float:
        return min(self.p + 1.96 * self.se, 1.0)


class Evaluator:
    """P(target met) and costs of lever mixes on one set of paths (common random numbers):
    ``exact`` by the integer simulator, ``smooth`` by the smooth model of the module doc."""

    def __init__(self, sc, cal, goal: Goal, base: Policy, space: Space, n_paths: int, seed: int):
        self.sc, self.cal, self.goal, self.base, self.space = sc, cal, goal, base, space
        self.c = sc.compiled
        self.seed = seed
        self.years = list(range(cal.T + 1, goal.year + 1))
        if not self.years:
            raise InputError(sc.path, "--target", f"a year after the last actual year {cal.T}", str(goal.year))
        p = draw_paths(sc, cal, n_paths, seed, sc.levers)
        self.u = 0
        if goal.unit == sc.unit:                      # the unit as a whole
            p = dataclasses.replace(p, x_T=p.x_T.sum(axis=1, keepdims=True), f_T=p.f_T.sum(axis=1, keepdims=True))
        else:                                         # the sub-unit, and the rest of the unit
            k = sc.parts.index(goal.unit)

            def two(a):
                return np.stack([a[:, k], a.sum(axis=1) - a[:, k]], axis=1)
            p = dataclasses.replace(p, x_T=two(p.x_T), f_T=two(p.f_T))
        self.paths = p
        self.w = sc.structure.indicator_weights(goal.indicator)
        self.n = n_paths
        self._smooth = None

    def policy(self, xv=None) -> Policy:
        vals = self.space.base if xv is None else self.space.full(np.asarray(xv, dtype=float))[0]
        return dataclasses.replace(self.base, name="goal", settings=tuple(zip(self.space.names, map(float, vals))))

    def exact(self, xv=None, paths=None, rate_shift=None) -> Outcome:
        sim = run_policy(self.sc, self.c, paths or self.paths, self.policy(xv), self.cal.T, self.years, self.seed,
                         rate_shift)
        K = self.c.K
        v = sim.states[-1][:, self.u] @ self.w[:K] + sim.flows[-1][:, self.u] @ self.w[K:]
        per = {k: cst[1:].sum(axis=0) for k, cst in sim.costs.items()}
        zero = np.zeros(len(v))
        obj = sum((per[n] for j, n in enumerate(self.space.names) if self.space.payers[j]), zero)
        tot = sum(per.values(), zero)
        N = len(v)
        p = float(np.mean(v >= self.goal.target))
        se = float(np.sqrt(max(p * (1 - p), 1.0 / N) / N))
        return Outcome(p, se, float(obj.mean()), float(obj.std() / np.sqrt(N)), float(tot.mean()))

    @property
    def smooth(self) -> "Smooth":
        if self._smooth is None:
            self._smooth = Smooth(self)
        return self._smooth


class Smooth:
    """The smooth model of many mixes at once (see the module doc): ``evaluate(X)`` for X
    (M, V) varied settings returns P_smooth (M,), the cost minimised (M,) and the path means
    m (M, P) with which ``level`` computes L_q."""

    def __init__(self, ev: Evaluator):
        sc, sp, paths = ev.sc, ev.space, ev.paths
        self.ev, self.c, self.target = ev, ev.c, ev.goal.target
        lvs = [sc.levers[n] for n in sp.names]
        self.lvs = lvs
        st = sc.structure
        pnames = st.prob_params + st.rate_params
        self.is_prob = np.array([n in st.prob_params for n in pnames])
        years = ev.years
        self.Y = len(years)
        self.use = np.array([y >= ev.base.from_year for y in years])
        self.active = np.array([[lv.active(y) for lv in lvs] for y in years], dtype=float)      # (Y, L)
        self.cal = np.array([lv.calibrated_at for lv in lvs])
        self.is_shift = np.array([lv.kind == "shift" for lv in lvs])
        self.scale = np.array([lv.scale for lv in lvs])
        P = paths.rates.shape[0]
        self.beta = np.stack([paths.strengths[n] if lv.kind == "shift" else np.zeros(P) for n, lv in zip(sp.names, lvs)])
        self.acts = np.zeros((len(lvs), len(pnames)))
        self.quota_map = np.zeros((len(lvs), len(st.inflows)))
        for l, lv in enumerate(lvs):
            for r in lv.acts_on:
                if lv.kind == "shift":
                    self.acts[l, pnames.index(r)] = 1.0
                else:
                    for j, inf in enumerate(st.inflows):
                        if inf.param == r:
                            self.quota_map[l, j] = 1.0
        self.link0 = to_link(paths.rates, self.is_prob)                                   # (P, n)
        self.link_y = self.link0[None] + np.stack([year_shocks(sc, paths, y) for y in years])   # (Y, P, n)
        self.shift_rows = (self.beta[:, :, None] * self.acts[:, None, :]).reshape(len(lvs), -1)   # (L, P n)
        K, F = st.K, st.F
        self.erow = np.zeros((len(lvs), K + F))
        self.kind_ev = np.zeros(len(lvs), dtype=int)      # 0 flows/states, 1 fixed, 2 the setting
        for l, lv in enumerate(lvs):
            if lv.pays_on == "fixed":
                self.kind_ev[l] = 1
            elif lv.pays_on == "setting":
                self.kind_ev[l] = 2
            elif lv.pays_on.startswith("flow:"):
                for f in lv.pays_on[5:].split("+"):
                    self.erow[l, K + st.flow(f)] = 1.0
            else:
                self.erow[l, st.tier(lv.pays_on[6:])] = 1.0
        self.money = np.array([lv.amount == "money" for lv in lvs])
        self.factor = np.array([lv.cost_factor for lv in lvs])
        self.per_event = np.array([lv.cost_per_event * lv.cost_factor for lv in lvs])
        self.fixed = np.array([lv.fixed_count for lv in lvs])
        self.z0 = np.concatenate([paths.x_T, paths.f_T], axis=-1).astype(float)            # (P, U, n)
        self.P = P
        self.sigma = self._sigma()

    # the pieces ---------------------------------------------------------------------------
    def _amounts(self, Xf):
        A = np.where(self.use[None, :, None], Xf[:, None, :], self.cal[None, None, :])   # (M, Y, L)
        A_shift = np.where(self.active[None] > 0, A, self.cal[None, None, :])
        A_quota = np.where(self.active[None] > 0, A, 0.0)
        return A, A_shift, A_quota

    def _run(self, Xf, keep_unit=False):
        """Expected dynamics of the mixes Xf (M, L): (path means of the indicator (M, P), mean
        z summed over units per year (M, Y+1, n), and the unit's z per year if asked)."""
        c, K = self.c, self.c.K
        M = len(Xf)
        A, A_shift, A_quota = self._amounts(Xf)
        g = np.where(self.is_shift, response(A_shift, self.scale) - response(self.cal, self.scale), 0.0)   # (M, Y, L)
        delta = (g.transpose(1, 0, 2).reshape(self.Y * M, -1) @ self.shift_rows).reshape((self.Y, M) + self.link0.shape)
        rates = from_link(self.link_y[:, None] + delta, self.is_prob)                 # (Y, M, P, n)
        quota = np.max(A_quota[..., None] * self.quota_map[None, None], axis=2)         # (M, Y, I)
        z = np.broadcast_to(self.z0, (M,) + self.z0.shape).copy()                       # (M, P, U, n)
        ebar = np.empty((M, self.Y + 1, z.shape[-1]))
        ebar[:, 0] = z.sum(axis=2).mean(axis=1)
        unit_z = [z[:, :, self.ev.u]] if keep_unit else None
        for y in range(self.Y):
            size = z[..., :K] @ c.size_rows.T                                            # (M, P, U, I)
            share = size / np.maximum(size.sum(axis=2, keepdims=True), 1e-12)
            q = np.repeat(quota[:, y], self.P, axis=0)[:, None, :]
            z = c.expected_step(rates[y], z, q, share)
            ebar[:, y + 1] = z.sum(axis=2).mean(axis=1)
            if keep_unit:
                unit_z.append(z[:, :, self.ev.u])
        m = z[:, :, self.ev.u] @ self.ev.w
        return m, ebar, A, (rates, unit_z)

    def _costs(self, ebar, A):
        """(M, L) expected payments per lever to the target year (as project.lever_costs)."""
        ev_flow = ebar[:, 1:] @ self.erow.T                                             # (M, Y, L)
        events = np.where(self.kind_ev == 1, self.fixed, np.where(self.kind_ev == 2, A, ev_flow))
        unit = np.where(self.money, A * self.factor, self.per_event)
        return (self.active[None] * unit * events).sum(axis=1)

    def _sigma(self):
        """sigma_p: the spread of the indicator given the path's parameters, at the base mix."""
        c = self.c
        m, _, _, (rates, unit_z) = self._run(self.ev.space.base[None], keep_unit=True)
        n = c.n
        C = np.zeros((self.P, n, n))
        for y in range(self.Y):
            G, pis, r_in = c.system_batch(rates[y, 0])
            Q = c.noise_batch(unit_z[y][0, :, : c.K], pis, r_in)
            C = G @ C @ np.swapaxes(G, 1, 2) + Q
        w = self.ev.w
        return np.sqrt(np.maximum(np.einsum("i,pij,j->p", w, C, w), 0.25))

    # the public face ------------------------------------------------------------------------
    def evaluate(self, X: np.ndarray):
        """(P_smooth (M,), cost minimised (M,), cost of every payer (M,), path means (M, P))."""
        Xf = self.ev.space.full(np.atleast_2d(X))
        step = max(1, CHUNK // self.P)
        out_m, out_c = [], []
        for s in range(0, len(Xf), step):
            m, ebar, A, _ = self._run(Xf[s:s + step])
            out_m.append(m)
            out_c.append(self._costs(ebar, A))
        m, cl = np.concatenate(out_m), np.concatenate(out_c)
        p = ndtr((m - self.target + 0.5) / self.sigma).mean(axis=1)
        return p, cl @ self.ev.space.payers, cl.sum(axis=1), m

    def level(self, m: np.ndarray, q) -> np.ndarray:
        """L_q (M,): the level reached with probability q (per mix, q scalar or (M,))."""
        q = np.broadcast_to(np.asarray(q, dtype=float), (len(m),))
        lo = (m - 8 * self.sigma).min(axis=1) - 1.0
        hi = (m + 8 * self.sigma).max(axis=1) + 1.0
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            pm = ndtr((m - mid[:, None] + 0.5) / self.sigma).mean(axis=1)
            lo, hi = np.where(pm >= q, mid, lo), np.where(pm >= q, hi, mid)
        return 0.5 * (lo + hi)


# ---- the global search -------------------------------------------------------------------
class Search:
    """The lattice search of the module doc on one Evaluator's smooth model. Every mix it
    evaluates is kept (``seen``): the smooth frontier is their upper envelope."""

    def __init__(self, ev: Evaluator):
        self.ev, self.sp, self.sm = ev, ev.space, ev.smooth
        self.levels = [self.sp.levels(i) for i in range(self.sp.V)]
        self.tol = 1e-6 * max(ev.goal.target, 1.0)
        self.seen = []

    def eval(self, X):
        X = np.atleast_2d(np.asarray(X, dtype=float))
        p, cost, _, m = self.sm.evaluate(X)
        self.seen.append((X, p, cost))
        return p, cost, m

    def _moves(self, x, up=2):
        """Mixes one lattice jump away: each lever one to ``up`` levels higher."""
        out = []
        for i, lv in enumerate(self.levels):
            for v in lv[lv > x[i] + 1e-9][:up]:
                y = x.copy()
                y[i] = v
                out.append(y)
        return out

    def greedy(self, x, q="p", need: float | None = None, up: int = 2):
        """Climb from x; at each step the jump with the largest gain in L_q per unit of cost
        (q = "p": the current probability, i.e. the most probability per 10k yuan). Stops when
        P_smooth >= ``need`` (taking the cheapest jump that gets there) or nothing helps.
        Returns the path, a list of (x, P_smooth, cost)."""
        x = np.asarray(x, dtype=float).copy()
        p, c, m = self.eval(x)
        cur_p, cur_c, cur_m = p[0], c[0], m[:1]
        path = [(x.copy(), float(cur_p), float(cur_c))]
        while need is None or cur_p < need:
            cands = self._moves(x, up)
            if not cands:
                break
            P, C, Mm = self.eval(cands)
            if need is not None and (P >= need).any():
                k = int(np.argmin(np.where(P >= need, C, np.inf)))
            else:
                qq = np.clip(cur_p if q == "p" else q, 0.02, 0.98)
                dl = self.sm.level(Mm, qq) - self.sm.level(cur_m, qq)[0]
                dc = C - cur_c
                ok = dl > self.tol
                if not ok.any():
                    break
                free = ok & (dc <= 1e-6)
                if free.any():
                    k = int(np.argmax(np.where(free, dl, -np.inf)))
                else:
                    k = int(np.argmax(np.where(ok, dl / np.maximum(dc, 1e-6), -np.inf)))
            x, cur_p, cur_c, cur_m = cands[k], P[k], C[k], Mm[k:k + 1]
            path.append((x.copy(), float(cur_p), float(cur_c)))
        return path

    def refine(self, x, need: float, passes: int = 2):
        """Each lever in turn to the lowest setting on its grain (down to the next lattice level
        below) that keeps P_smooth >= need: bisection, P being monotone in each lever."""
        x = np.asarray(x, dtype=float).copy()
        for _ in range(passes):
            for i, lv in enumerate(self.levels):
                below = lv[lv < x[i] - 1e-9]
                floor = below[-1] if len(below) else self.sp.lo[i]
                vals = np.unique(self.sp.snap_one(i, np.arange(floor, x[i], self.sp.grain[i])))
                vals = vals[vals < x[i] - 1e-9]
                if not len(vals):
                    continue

                def ok(k, i=i, vals=vals):
                    y = x.copy()
                    y[i] = vals[k]
                    return self.eval(y)[0][0]
                k = bisect_index(ok, len(vals), need)
                if k is not None:
                    x[i] = vals[k]
        return x

    def densify(self, path, k: int = 3) -> None:
        """Evaluate k settings on the grain between consecutive points of a greedy path (they
        differ in one lever), so that the envelope has no wide gaps in cost."""
        fill = []
        for (a, _, _), (b, _, _) in zip(path, path[1:]):
            i = int(np.argmax(np.abs(b - a)))
            for v in np.unique(self.sp.snap_one(i, np.linspace(a[i], b[i], k + 2)[1:-1])):
                if a[i] < v < b[i]:
                    y = a.copy()
                    y[i] = v
                    fill.append(y)
        if fill:
            self.eval(np.array(fill))

    def starts(self, rng: np.random.Generator) -> list[np.ndarray]:
        """Multi-start points: the lowest corner, the base settings and random lattice points."""
        out = [self.sp.lo.copy(), self.sp.start]
        out += [np.array([rng.choice(lv) for lv in self.levels]) for _ in range(N_STARTS)]
        return out

    def cheapest(self, need: float, rng: np.random.Generator | None, path) -> list[np.ndarray]:
        """Candidate cheapest mixes with P_smooth >= need: the smooth frontier's first feasible
        point, refined to the grain; with ``rng``, also from every start of the multi-start
        (climb greedily until feasible, then refine). Every candidate is certified by the
        caller, who keeps the cheapest."""
        out = []
        first = next((x for x, p, _ in path if p >= need), None)
        if first is not None:
            out.append(self.refine(first, need))
        for x0 in (self.starts(rng) if rng is not None else []):
            climb = self.greedy(x0, q=need, need=need, up=1)
            if climb[-1][1] >= need:
                out.append(self.refine(climb[-1][0], need))
        return out

    def envelope(self, n: int = MAX_FRONTIER) -> np.ndarray:
        """Up to n mixes of the smooth upper envelope (P against cost) of every mix seen."""
        X = np.concatenate([s[0] for s in self.seen])
        P = np.concatenate([s[1] for s in self.seen])
        C = np.concatenate([s[2] for s in self.seen])
        order = np.lexsort((-P, C))
        keep, best = [], -1.0
        for k in order:
            if P[k] > best + 1e-4:
                keep.append(k)
                best = P[k]
        keep = np.array(keep)
        if len(keep) > n:   # spread over both axes, ends kept
            pk, ck = P[keep], C[keep]
            pick = {int(np.argmin(np.abs(pk - t))) for t in np.linspace(pk.min(), pk.max(), n // 2)}
            pick |= {int(np.argmin(np.abs(ck - t))) for t in np.linspace(ck.min(), ck.max(), n // 2)}
            keep = keep[sorted(pick | {0, len(keep) - 1})]
        return X[keep]


# ---- answers -----------------------------------------------------------------------------
def bisect_index(f, n: int, prob: float):
    """Smallest index k in [0, n) with f(k) >= prob (f nondecreasing), or None."""
    if n == 0 or f(n - 1) < prob:
        return None
    lo, hi = -1, n - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if f(mid) >= prob:
            hi = mid
        else:
            lo = mid
    return hi


def required_rates(ev: Evaluator, prob: float):
    """For each key rate: the shift (alone) that makes P >= prob, as a before/after median."""
    out = []
    for name in ev.sc.structure.goal_rates:
        if name not in ev.c.pidx:
            continue
        i = ev.c.pidx[name]
        before = float(np.median(ev.paths.rates[:, i]))
        grid = np.linspace(0.0, 4.0, 65)
        k = bisect_index(lambda j: ev.exact(rate_shift=(name, grid[j])).p, len(grid), prob)
        if k is None:
            out.append(dict(kind="rate", id=name, base=before, required=np.nan, reachable=False))
            continue
        d = grid[k]
        is_prob = np.array(name in ev.sc.structure.prob_params)
        after = float(from_link(to_link(before, is_prob) + d, is_prob))   # the shift on the rate's link scale
        out.append(dict(kind="rate", id=name, base=before, required=after, reachable=True))
    return out


def levers_alone(ev: Evaluator, prob: float):
    """Each varied lever alone (the others at the base): its smallest setting on the grain whose
    certified interval lies above prob (p - 1.96 se >= prob on ``ev``'s paths), or None."""
    sp, out = ev.space, []
    for i in range(sp.V):
        vals = np.unique(sp.snap_one(i, np.arange(sp.lo[i], sp.hi[i] + sp.grain[i] / 2, sp.grain[i])))
        if len(vals) > 400:   # keep the bisection's evaluations few
            vals = np.unique(np.concatenate([sp.snap_one(i, np.linspace(sp.lo[i], sp.hi[i], 400)), [sp.hi[i]]]))

        def at(k, i=i, vals=vals):
            x = sp.start
            x[i] = vals[k]
            return x
        k = bisect_index(lambda k: ev.exact(at(k)).lo, len(vals), prob)
        out.append((i, None if k is None else at(k)))
    return out


def refine_certified(ev: Evaluator, x, prob: float, passes: int = 1):
    """Each lever of a certified plan in turn to its lowest setting on the grain (down to the
    base) that keeps the certified interval above prob: bisection on ``ev``'s paths."""
    sp = ev.space
    x = np.asarray(x, dtype=float).copy()
    for _ in range(passes):
        for i in range(sp.V):
            vals = np.unique(sp.snap_one(i, np.arange(sp.lo[i], x[i], sp.grain[i])))
            vals = vals[vals < x[i] - 1e-9]
            if len(vals) > 64:
                vals = np.unique(sp.snap_one(i, np.linspace(sp.lo[i], x[i], 64)))
                vals = vals[vals < x[i] - 1e-9]
            if not len(vals):
                continue

            def lo(k, i=i, vals=vals):
                y = x.copy()
                y[i] = vals[k]
                return ev.exact(y).lo
            k = bisect_index(lo, len(vals), prob)
            if k is not None:
                x[i] = vals[k]
    return x


def cert_seed(seed: int) -> int:
    """The seed of the certification paths: random numbers the search never saw."""
    return int(np.random.SeedSequence([seed, 0xCE27]).generate_state(1)[0])


def _row(kind, ident, out: Outcome | None, ref: Outcome | None = None, **kw):
    r = dict(kind=kind, id=ident, **kw)
    if out is not None:
        r.update(p_certified=out.p, p_se=out.se, p_lo=out.lo, p_hi=out.hi, cost_10k_yuan=round(out.cost),
                 cost_se_10k_yuan=out.cost_se, cost_all_10k_yuan=round(out.cost_all))
        if ref is not None:
            r["extra_cost_10k_yuan"] = round(out.cost) - round(ref.cost)
    return r


def _settings_text(sp: Space, xv) -> str:
    return ";".join(f"{k}={v:g}" for k, v in sorted(sp.settings(xv).items()))


def seek(sc, cal, goal: Goal, base_name: str = BASE_POLICY, budget: float | None = None,
         n_paths: int = 1000, n_certify: int | None = None, seed: int | None = None,
         all_levels: bool = False, allow_cuts: bool = False):
    """Every answer of ``sim goal``: (goal rows, frontier rows), lists of dicts (see README)."""
    seed = sc.seed if seed is None else seed
    n_certify = n_certify or sc.paths
    try:
        base = next(p for p in sc.policies if p.name == base_name)
    except StopIteration:
        raise InputError(sc.path, "--base", "the name of a scenario in the file", repr(base_name),
                         did_you_mean(base_name, [p.name for p in sc.policies])) from None
    sp = lever_space(sc, base, all_levels, allow_cuts)
    ev = Evaluator(sc, cal, goal, base, sp, n_paths, seed)
    cert = Evaluator(sc, cal, goal, base, sp, n_certify, cert_seed(seed))   # fresh random numbers
    prob = goal.prob
    certified = {}   # settings key -> (xv, Outcome): every mix certified, for the frontier

    def certify(xv):
        xv = np.asarray(xv, dtype=float)
        key = tuple(np.round(xv, 6))
        if key not in certified:
            certified[key] = (xv.copy(), cert.exact(xv))
        return certified[key][1]

    b = certify(sp.start)
    rows = [_row("baseline", base_name, b, b, reachable=b.lo >= prob, settings="")]
    # what moves, what stays, and the assumptions behind the costs and ranges
    for i, j in enumerate(sp.varied):
        lv = sc.levers[sp.names[j]]
        rows.append(dict(kind="assumption", id=lv.name, base=sp.base[j], lo=sp.lo[i], hi=sp.hi[i],
                         cost_basis=lv.cost_basis, floor_basis=_floor_basis(lv, sp, j, sp.lo[i]),
                         ceiling_basis=lv.capacity_basis[1] if lv.capacity else "assumption",
                         note=f"cost: {lv.cost_note}" + (f"; range: {lv.capacity_note}" if lv.capacity else "")))
    held = [n for j, n in enumerate(sp.names) if j not in set(sp.varied.tolist())]
    if held:
        rows.append(dict(kind="held", id=";".join(held), settings=";".join(f"{n}={sp.base[sp.names.index(n)]:g}"
                                                                         for n in held)))
    if sp.V == 0:
        rows.append(dict(kind="mix", id="no lever", reachable=b.lo >= prob, settings=""))
        return rows, []
    top = certify(sp.hi)
    ceiling = _row("ceiling", "every lever at its ceiling", top, b, reachable=top.lo >= prob,
                   settings=_settings_text(sp, sp.hi))
    search = Search(ev)
    path = search.greedy(sp.lo, q="p")               # the smooth frontier, lowest to top corner
    search.densify(path)
    for x, _, _ in path[:: max(1, len(path) // MAX_FRONTIER)] + path[-1:]:
        certify(x)
    for x in search.envelope():
        certify(x)
    if b.lo >= prob:
        rows.append(_row("mix", "baseline already meets it", b, b, reachable=True, settings=""))
        rows.append(ceiling)
        return rows, _frontier(certified, sp, b)

    rows += required_rates(ev, prob)
    for i, x in levers_alone(cert, prob):
        name = sp.names[sp.varied[i]]
        if x is None:
            rows.append(dict(kind="lever", id=name, base=sp.base[sp.varied[i]], required=np.nan, reachable=False))
            continue
        o = certify(x)
        rows.append(_row("lever", name, o, b, base=sp.base[sp.varied[i]], required=float(x[i]),
                         reachable=o.lo >= prob, settings=_settings_text(sp, x)))

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EA4]))

    def best_certified():
        ok = [(xv, o) for xv, o in certified.values() if o.lo >= prob]
        return min(ok, key=lambda t: (t[1].cost, -t[1].p)) if ok else None

    plan = None
    if top.lo >= prob:
        # the search paths are a sample: map a certified probability to the search's scale by
        # the logit offset between the two on the mixes certified so far (common to all mixes)
        xs = np.array([xv for xv, _ in certified.values()])
        pc = np.array([o.p for _, o in certified.values()])
        ps = search.eval(xs)[0]
        ok = (pc > 0.005) & (pc < 0.995) & (ps > 0.005) & (ps < 0.995)
        delta = float(np.median(logit(pc[ok]) - logit(ps[ok]))) if ok.any() else 0.0
        se_req = np.sqrt(prob * (1 - prob) / n_certify)

        def need(k):
            return float(expit(logit(min(prob + k * se_req, 0.998)) - delta))
        # a sweep of requirements around the certified one (the offset is not exact): cheap
        # candidates (the frontier's first feasible point, refined) for each, multi-start for one
        for k in (1.0, 2.0, 3.0, 4.5, 7.0):
            for x in search.cheapest(need(k), rng if k == 3.0 else None, path):
                certify(x)
        plan = best_certified()
        if plan is not None:   # to the grain, as far as the certified surplus allows
            certify(refine_certified(cert, plan[0], prob))
            plan = best_certified()
    rows.append(ceiling)
    if plan is None:
        rows.append(_row("mix", "not reachable", top, b, reachable=False, settings=_settings_text(sp, sp.hi)))
    else:
        x, o = plan
        rows.append(_row("mix", "cheapest mix", o, b, reachable=True, settings=_settings_text(sp, x)))
        low = dataclasses.replace(cert.paths, strengths={k: np.full_like(v, cert.sc.levers[k].strength[0])
                                                         for k, v in cert.paths.strengths.items()})
        s = cert.exact(x, paths=low)
        rows.append(_row("stress", "lever strengths at the low end", s, b, reachable=s.lo >= prob,
                         settings=_settings_text(sp, x)))
    frontier = _frontier(certified, sp, b)
    _cost_range(rows, frontier, prob)
    if budget is not None:
        _within_budget(rows, frontier, budget, b)
    return rows, frontier


def _floor_basis(lv, sp: Space, j: int, lo: float) -> str:
    if not sp.allow_cuts and lo == sp.base[j] and (lv.capacity is None or lo > lv.capacity[0]):
        return "base"
    return lv.capacity_basis[0] if lv.capacity else "assumption"


def _frontier(certified: dict, sp: Space, b: Outcome) -> list[dict]:
    """Every certified mix, sorted by cost, with ``on_frontier`` for the upper envelope."""
    items = sorted(certified.values(), key=lambda t: (t[1].cost, -t[1].p))
    out, best = [], -1.0
    for xv, o in items:
        on = o.p > best
        best = max(best, o.p)
        out.append(dict(cost_10k_yuan=round(o.cost), extra_cost_10k_yuan=round(o.cost) - round(b.cost),
                        cost_all_10k_yuan=round(o.cost_all), cost_se_10k_yuan=o.cost_se, p_certified=o.p,
                        p_se=o.se, p_lo=o.lo, p_hi=o.hi, on_frontier=on, settings=_settings_text(sp, xv)))
    return out


def frontier_p(frontier: list[dict], cost: float) -> float:
    """The certified frontier at a cost: the best P of any certified mix costing no more."""
    ps = [f["p_certified"] for f in frontier if f["cost_10k_yuan"] <= round(cost) + 1e-9]
    return max(ps) if ps else 0.0


def _cost_range(rows, frontier, prob):
    """The plan's cost within Monte Carlo error: from the cheapest frontier mix whose interval
    reaches prob to the cheapest one whose interval lies above it."""
    on = [f for f in frontier if f["on_frontier"]]
    lo = next((f["cost_10k_yuan"] for f in on if f["p_hi"] >= prob), np.nan)
    hi = next((f["cost_10k_yuan"] for f in on if f["p_lo"] >= prob), np.nan)
    for r in rows:
        if r["kind"] == "mix" and r.get("reachable") and r["id"] == "cheapest mix":
            r["cost_range_lo"] = min(lo, r["cost_10k_yuan"])
            r["cost_range_hi"] = hi if np.isfinite(hi) else r["cost_10k_yuan"]


def _within_budget(rows, frontier, budget, b: Outcome):
    fit = [f for f in frontier if f["cost_10k_yuan"] <= budget]
    best = max(fit, key=lambda f: f["p_certified"]) if fit else None
    plan = next((r for r in rows if r["kind"] == "mix"), None)
    if plan is not None and plan.get("reachable") and plan.get("cost_10k_yuan", np.inf) > budget:
        plan["reachable"] = False
        plan["id"] = "not reachable within the budget"
    if best is not None:
        rows.append(dict(kind="budget", id="best within the budget", budget_10k_yuan=budget, reachable=None,
                         p_certified=best["p_certified"], p_se=best["p_se"], p_lo=best["p_lo"], p_hi=best["p_hi"],
                         cost_10k_yuan=best["cost_10k_yuan"], cost_all_10k_yuan=best["cost_all_10k_yuan"],
                         extra_cost_10k_yuan=best["cost_10k_yuan"] - round(b.cost), settings=best["settings"]))


# ---- sentences ---------------------------------------------------------------------------
def _fmt_setting(lv, v: float, lang: str) -> str:
    if lv.amount == "money":
        return f"{v:,.0f}万元" if lang == "zh" else f"{v:,.0f} (10k yuan)"
    if lv.amount == "count":
        return f"每年{v:,.0f}" if lang == "zh" else f"{v:,.0f} a year"
    return f"{v:.2f}"


def _settings_words(sc, settings: str, lang: str) -> str:
    parts = []
    for kv in filter(None, (settings or "").split(";")):
        k, v = kv.split("=")
        lv = sc.levers[k]
        parts.append(f"{lv.zh if lang == 'zh' else lv.en} {_fmt_setting(lv, float(v), lang)}")
    return ("；" if lang == "zh" else "; ").join(parts)


def _cost_words(sc, lv, lang: str) -> str:
    st = sc.structure
    zh = lang == "zh"
    if lv.is_free:
        return "不计费用" if zh else "no cost"
    f = f"×{lv.cost_factor:g}" if lv.cost_factor != 1 else ""
    each = "设定金额" if zh else "the setting"
    if lv.amount != "money":
        each = f"{lv.cost_per_event * lv.cost_factor:g}万元" if zh else f"{lv.cost_per_event * lv.cost_factor:g} (10k yuan)"
        f = ""
    if lv.pays_on == "fixed":
        return (f"每年{lv.fixed_count:g}家（项）各付{each}{f}" if zh else f"{each}{f} for each of {lv.fixed_count:g} a year")
    if lv.pays_on == "setting":
        return f"每家（项）每年{each}" if zh else f"{each} per firm (or project) a year"
    if lv.pays_on.startswith("flow:"):
        labels = "、".join(st.flow_labels[x]["zh"] for x in lv.pays_on[5:].split("+")) if zh else \
            " or ".join(st.flow_labels[x]["en"] for x in lv.pays_on[5:].split("+"))
        return f"每次“{labels}”付{each}{f}" if zh else f"{each}{f} per event ({labels})"
    tier = st.tier_labels[lang][lv.pays_on[6:]]
    return f"{tier}每家每年付{each}{f}" if zh else f"{each}{f} per firm-year in: {tier}"


BASIS = {"zh": {"seed": "文件", "assumption": "假设", "base": "现行方案"},
         "en": {"seed": "the plan", "assumption": "assumption", "base": "the scenario's setting"}}


def sentence(row: dict, goal: Goal, sc, lang: str = "en", all_levels: bool = False) -> str:
    """One sentence per answer, with names (never ids), whole firms and whole 10k yuan."""
    zh = lang == "zh"
    ind = sc.structure.indicators[goal.indicator]
    what = (f"{sc.unit_label(goal.unit, 'zh')}{goal.year}年{ind.zh}≥{goal.target:,.0f}（概率≥{goal.prob:.0%}）"
            if zh else f"{ind.en} of {sc.unit_label(goal.unit, 'en')} >= {goal.target:,.0f} in {goal.year} "
            f"with P >= {goal.prob:.0%}")
    payer = ("各级财政" if all_levels else "本区") if zh else ("every payer" if all_levels else "the district")
    k = row["kind"]

    def pr(r):
        return (f"{r['p_certified']:.0%}（{max(r['p_lo'], 0):.0%}–{min(r['p_hi'], 1):.0%}）" if zh else
                f"{r['p_certified']:.2f} ({max(r['p_lo'], 0):.2f}-{min(r['p_hi'], 1):.2f})")

    def money(v):
        return f"{v:,.0f}万元" if zh else f"{v:,.0f} (10k yuan)"

    if k == "baseline":
        pol = next(p for p in sc.policies if p.name == row["id"])
        return (f"“{pol.zh}”下，{what.split('（')[0]}的概率为{pr(row)}；至{goal.year}年{payer}累计支出约{money(row['cost_10k_yuan'])}"
                f"（蒙特卡洛误差±{money(1.96 * row['cost_se_10k_yuan'])}）。" if zh else
                f"Under '{pol.en}', P({what.split(' with')[0]}) = {pr(row)}; {payer} pays about "
                f"{money(row['cost_10k_yuan'])} to {goal.year} (Monte Carlo error ±{1.96 * row['cost_se_10k_yuan']:,.0f}).")
    if k == "assumption":
        lv = sc.levers[row["id"]]
        name = lv.zh if zh else lv.en
        b = BASIS[lang]
        rng = (f"可调范围{_fmt_setting(lv, row['lo'], lang)}至{_fmt_setting(lv, row['hi'], lang)}"
               f"（下限：{b[row['floor_basis']]}；上限：{b[row['ceiling_basis']]}）" if zh else
               f"searched from {_fmt_setting(lv, row['lo'], lang)} to {_fmt_setting(lv, row['hi'], lang)} "
               f"(floor: {b[row['floor_basis']]}; ceiling: {b[row['ceiling_basis']]})")
        cost = _cost_words(sc, lv, lang) + (f"（{b[row['cost_basis']]}）" if zh else f" ({b[row['cost_basis']]})")
        return (f"假设与范围：“{name}”{rng}；费用：{cost}。" if zh else f"Assumed range and cost: {name} {rng}; cost: {cost}.")
    if k == "held":
        items = []
        for kv in row["settings"].split(";"):
            n, v = kv.split("=")
            lv = sc.levers[n]
            who = {"city": ("市级", "city"), "province": ("省级", "province"),
                   "district": ("本区，范围固定", "the district's, fixed range") if lv.held_by(sc.unit) else
                   ("他区", "another district")}[lv.controlled_by][0 if zh else 1]
            items.append(f"{lv.zh if zh else lv.en} {_fmt_setting(lv, float(v), lang)}（{who}）" if zh else
                         f"{lv.en} {_fmt_setting(lv, float(v), lang)} ({who})")
        return ("保持现行设定：" + "；".join(items) + "。") if zh else ("Held at the scenario's settings: " + "; ".join(items) + ".")
    if k == "rate":
        p = next(x for x in sc.rates.params if x.name == row["id"])
        label = p.zh if zh else p.en
        fmt = (lambda v: f"{100 * v:.1f}%") if row["id"] in sc.structure.prob_params else (lambda v: f"{v:.4f}")
        if not row["reachable"]:
            return (f"仅靠{label}无法实现：即使大幅提高也达不到。" if zh else
                    f"{label} alone cannot reach it, even raised far beyond its range.")
        return (f"{label}需从{fmt(row['base'])}提高到{fmt(row['required'])}。" if zh else
                f"The {label.lower()} would have to rise from {fmt(row['base'])} to {fmt(row['required'])}.")
    if k == "lever":
        lv = sc.levers[row["id"]]
        label = lv.zh if zh else lv.en
        if not row["reachable"]:
            return (f"单靠“{label}”在其范围内无法实现。" if zh else f"{label} alone: not reachable within its range.")
        return (f"单靠“{label}”：需从{_fmt_setting(lv, row['base'], lang)}提高到{_fmt_setting(lv, row['required'], lang)}，"
                f"至{goal.year}年{payer}累计支出约{money(row['cost_10k_yuan'])}，核验概率{pr(row)}。" if zh else
                f"{label} alone: from {_fmt_setting(lv, row['base'], lang)} to {_fmt_setting(lv, row['required'], lang)}, "
                f"{payer} pays about {money(row['cost_10k_yuan'])} to {goal.year}; certified P = {pr(row)}.")
    if k == "ceiling":
        whose = ("各级" if all_levels else "本区掌握的") if zh else ("" if all_levels else " the district holds")
        return (f"{whose}政策全部用到上限时：概率{pr(row)}，{payer}累计支出约{money(row['cost_10k_yuan'])}。" if zh else
                f"Every lever{whose} at its ceiling: P = {pr(row)}, {payer} pays about {money(row['cost_10k_yuan'])}.")
    if k == "mix":
        ident = row["id"]
        if ident == "no lever":
            return ("本方案中本区没有可调整的政策（可加 --all-levels 包括市级、省级政策）。" if zh else
                    "The district holds no lever that can move in this scenario (--all-levels includes the city's and "
                    "the province's).")
        if ident == "baseline already meets it":
            return (f"现行方案已能实现{what}，无需额外支出。" if zh else f"The baseline already meets {what}: no extra cost.")
        if not row.get("reachable"):
            if ident == "not reachable within the budget":
                return (f"在预算内无法实现{what}：最省钱的达标组合需{money(row['cost_10k_yuan'])}。" if zh else
                        f"Not reachable within the budget: the cheapest mix that meets it costs {money(row['cost_10k_yuan'])}.")
            more = "" if all_levels else ("（可加 --all-levels 看市级、省级政策）" if zh else " (--all-levels adds the city's and the province's levers)")
            whose = ("各级" if all_levels else "本区掌握的") if zh else ("any level's" if all_levels else "the district's own")
            return (f"仅靠{whose}政策无法实现{what}：全部用到上限时概率也只有{pr(row)}{more}。" if zh else
                    f"Not reachable with {whose} levers: even with every one at its ceiling, P = {pr(row)}{more}.")
        rng = ""
        if np.isfinite(row.get("cost_range_lo", np.nan)) and row["cost_range_hi"] > row["cost_range_lo"]:
            rng = (f"（蒙特卡洛范围{row['cost_range_lo']:,.0f}–{row['cost_range_hi']:,.0f}万元）" if zh else
                   f" (Monte Carlo range {row['cost_range_lo']:,.0f}-{row['cost_range_hi']:,.0f})")
        return (f"最省钱的组合：{_settings_words(sc, row['settings'], lang) or '不变'}；至{goal.year}年{payer}累计支出约"
                f"{money(row['cost_10k_yuan'])}{rng}，较现行方案{row['extra_cost_10k_yuan']:+,.0f}万元"
                f"（各级财政合计约{money(row['cost_all_10k_yuan'])}），核验概率{pr(row)}。" if zh else
                f"Cheapest mix: {_settings_words(sc, row['settings'], lang) or 'unchanged'}; {payer} pays about "
                f"{money(row['cost_10k_yuan'])}{rng} to {goal.year}, {row['extra_cost_10k_yuan']:+,.0f} against the "
                f"baseline (every payer together about {money(row['cost_all_10k_yuan'])}); certified P = {pr(row)}.")
    if k == "stress":
        return (f"压力测试（政策效果取低值）：概率{pr(row)}，" + ("方案稳健。" if row["reachable"] else "方案依赖乐观的政策效果。")
                if zh else f"Stress test (lever strengths at their low end): P = {pr(row)}: the plan "
                + ("is robust." if row["reachable"] else "relies on optimistic lever effects."))
    if k == "budget":
        return (f"预算{money(row['budget_10k_yuan'])}内最好的组合：{_settings_words(sc, row['settings'], lang) or '不变'}，"
                f"概率{pr(row)}。" if zh else
                f"Best within the budget of {money(row['budget_10k_yuan'])}: "
                f"{_settings_words(sc, row['settings'], lang) or 'unchanged'}, P = {pr(row)}.")
    return ""


# ---- the command -------------------------------------------------------------------------
def answer(scenario_path, target=None, unit=None, prob=0.8, value=None, base_name=BASE_POLICY, budget=None,
           all_levels=False, allow_cuts=False, n_paths=1000, n_certify=None, seed=None, out="results", lang="zh"):
    """``sim goal``: read the scenario, take its converged fit (cached, as ``sim run``), seek,
    and write goal.csv, frontier.csv and the frontier figures into a new goal-NNN folder.
    Returns (folder, the answer's sentences in ``lang``)."""
    from . import figures as fg   # matplotlib loads with the first figure, not with the command
    sc = load_scenario(scenario_path)
    g = parse_goal(sc, target, unit, value, prob, base_name)
    cal, _, _ = cached_fit(sc, thorough=True)
    require_converged(sc, cal)
    rows, frontier = seek(sc, cal, g, base_name, budget, n_paths=n_paths, n_certify=n_certify, seed=seed,
                          all_levels=all_levels, allow_cuts=allow_cuts)
    for r in rows:
        r["name"] = _name(sc, r, lang)
        r["sentence"] = sentence(r, g, sc, lang, all_levels)
        # both languages, so that either report shows the answers in its own
        r["sentence_zh"], r["sentence_en"] = sentence(r, g, sc, "zh", all_levels), sentence(r, g, sc, "en", all_levels)
    gdf, fdf = pd.DataFrame(rows), pd.DataFrame(frontier)
    for df in (gdf, fdf):   # whole 10k yuan
        for col in [c for c in df if c.endswith("_10k_yuan") and not c.startswith("cost_se")] + \
                [c for c in ("cost_range_lo", "cost_range_hi") if c in df]:
            df[col] = df[col].round().astype("Int64")
    first = ["kind", "id", "name", "reachable", "p_certified", "p_se", "p_lo", "p_hi", "cost_10k_yuan",
             "extra_cost_10k_yuan", "cost_se_10k_yuan", "cost_all_10k_yuan"]
    gdf = gdf[[c for c in first if c in gdf] + [c for c in gdf if c not in first]]
    with new_folder(Path(out) / Path(scenario_path).stem, "goal") as f:
        d = f["path"]
        gdf.to_csv(d / "goal.csv", index=False, float_format="%.4f", lineterminator="\n")
        fdf.to_csv(d / "frontier.csv", index=False, float_format="%.4f", lineterminator="\n")
        if len(fdf):
            for lg in ("zh", "en"):
                fg.save(fg.frontier_chart(fdf, gdf, g, sc, lg, all_levels=all_levels), str(d / f"frontier_{lg}"), svg=True)
    return f["path"], list(gdf.sentence)


def _name(sc, row, lang):
    k, ident = row["kind"], row["id"]
    if k in ("assumption", "lever"):
        lv = sc.levers[ident]
        return lv.zh if lang == "zh" else lv.en
    if k == "rate":
        p = next(x for x in sc.rates.params if x.name == ident)
        return (p.zh if lang == "zh" else p.en) or ident
    if k == "held":
        return ("；" if lang == "zh" else "; ").join(
            (sc.levers[n].zh if lang == "zh" else sc.levers[n].en) for n in ident.split(";"))
    if k == "baseline":
        pol = next(p for p in sc.policies if p.name == ident)
        return pol.zh if lang == "zh" else pol.en
    names = {"cheapest mix": ("最省钱的组合", "cheapest mix"), "not reachable": ("无法实现", "not reachable"),
             "not reachable within the budget": ("预算内无法实现", "not reachable within the budget"),
             "baseline already meets it": ("现行方案已达成", "baseline already meets it"),
             "no lever": ("无可调政策", "no lever"),
             "every lever at its ceiling": ("全部政策用到上限", "every lever at its ceiling"),
             "lever strengths at the low end": ("政策效果取低值", "lever strengths at the low end"),
             "best within the budget": ("预算内最好的组合", "best within the budget")}
    return names.get(ident, (ident, ident))[0 if lang == "zh" else 1]
