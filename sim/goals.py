"""What it would take: required rates, each lever alone, the cheapest lever mix, the
cost-probability frontier, and a stress test of the plan (METHODS.md s.6).

* Required rates and levers alone: bisection on the exact integer simulator with common
  random numbers (the same seed for every trial), P(target met) being monotone in a
  non-negative shift.
* Cheapest mix: sample-average approximation. Inside the optimiser each path follows its
  expected dynamics under its own parameters, lever strengths and start state, plus a fixed
  normal increment z_p * sigma_p (sigma_p^2: half the path's total expected flows, a
  binomial-scale spread); the indicator is replaced by a sigmoid of width tau. SLSQP
  minimises expected cost subject to P_smooth >= prob + margin (and the budget). The plan is
  then *certified* by the exact simulator on fresh random numbers; if the certified lower
  bound (p - 1.96 se) falls below prob, the margin grows and the plan is solved again.
* Frontier: the best P_smooth for a range of budgets, each point certified.
* Stress: the certified plan with every lever strength at the low end of its range.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import optimize
from scipy.special import expit, logit

from .engine import Compiled
from .errors import InputError
from .project import draw_paths, lever_costs, policy_rates, run_policy
from .scenario import Policy

KEY_RATES = ("sme_cert", "renew", "reserve_to_sme", "relocation_inflow")
TAU = 0.02   # sigmoid width, as a share of the target


@dataclasses.dataclass
class Goal:
    unit: str
    indicator: str
    year: int
    target: float
    prob: float


class Evaluator:
    """Exact and smooth evaluation of P(target met) and cost for lever settings."""

    def __init__(self, sc, cal, goal: Goal, base: Policy, n_paths: int, seed: int):
        self.sc, self.cal, self.goal, self.base = sc, cal, goal, base
        self.c = Compiled(sc.structure)
        self.seed = seed
        self.paths = draw_paths(sc, cal, n_paths, seed, sc.levers)
        self.years = list(range(cal.T + 1, goal.year + 1))
        if not self.years:
            raise InputError(sc.path, "--target", f"a year after the last actual year {cal.T}", str(goal.year))
        self.w = sc.structure.indicator_weights(goal.indicator)
        self.unit_idx = slice(None) if goal.unit == sc.unit else sc.parts.index(goal.unit)
        self.levers = sorted(sc.levers)
        self.z = np.random.default_rng(np.random.SeedSequence([seed, 91])).standard_normal(n_paths)
        self._smooth_cache = {}
        # The expected dynamics are linear and a path's sub-units share its rates, so for a
        # whole-unit target the smooth search may work on the sum of the sub-units.
        p = self.paths
        self.smooth_paths = p if goal.unit != sc.unit or p.x_T.shape[1] == 1 else dataclasses.replace(
            p, x_T=p.x_T.sum(axis=1, keepdims=True), f_T=p.f_T.sum(axis=1, keepdims=True))

    def policy(self, x: dict) -> Policy:
        settings = tuple((k, float(x.get(k, v))) for k, v in self.base.settings)
        return dataclasses.replace(self.base, name="goal", settings=settings)

    # ---- exact ------------------------------------------------------------------------
    def exact(self, x: dict, paths=None, seed: int | None = None, rate_shift=None):
        """(values at the target year (P,), total cost to the target year (P,))."""
        paths = paths or self.paths
        sim = run_policy(self.sc, self.c, paths, self.policy(x), self.cal.T, self.years,
                         self.seed if seed is None else seed, rate_shift)
        v = self._value(sim.states[-1], sim.flows[-1])
        total = sum(cst[1:].sum(axis=0) for cst in sim.costs.values()) if sim.costs else np.zeros(len(v))
        return v, total

    def _value(self, x, f):
        K = self.c.K
        xs, fs = x[:, self.unit_idx], f[:, self.unit_idx]
        if xs.ndim == 3:
            xs, fs = xs.sum(axis=1), fs.sum(axis=1)
        return xs @ self.w[:K] + fs @ self.w[K:]

    def p_exact(self, x: dict, **kw) -> tuple[float, float, float]:
        v, cost = self.exact(x, **kw)
        p = float(np.mean(v >= self.goal.target))
        return p, float(np.sqrt(max(p * (1 - p), 0.25 / len(v)) / len(v))), float(cost.mean())

    # ---- smooth -----------------------------------------------------------------------
    def smooth(self, x: dict):
        """(P_smooth, expected cost) from the paths' expected dynamics (see module doc); cached,
        because an optimiser asks for the objective and the constraints at the same point."""
        key = tuple(sorted((k, round(float(v), 9)) for k, v in x.items()))
        if key not in self._smooth_cache:
            self._smooth_cache[key] = self._smooth(x)
        return self._smooth_cache[key]

    def _smooth(self, x: dict):
        sc, c, paths = self.sc, self.c, self.smooth_paths
        pol = self.policy(x)
        rates, quota = policy_rates(sc, paths, pol, self.years)
        P, U, K = paths.x_T.shape
        z = np.concatenate([paths.x_T, paths.f_T], axis=-1).astype(float)          # (P, U, n)
        spread = np.zeros((P, U))
        zs = [z]
        for y in range(len(self.years)):
            size = z[..., :K] @ c.size_rows.T                                         # (P, U, I)
            share = size / np.maximum(size.sum(axis=1, keepdims=True), 1e-12)
            z = c.expected_step(rates[y], z, quota[y], share)
            spread += z[..., K:].sum(axis=-1)
            zs.append(z)
        idx = self.unit_idx if U > 1 else slice(None)
        xs, fs = z[:, idx, :K], z[:, idx, K:]
        if xs.ndim == 3:
            xs, fs = xs.sum(axis=1), fs.sum(axis=1)
        v = xs @ self.w[:K] + fs @ self.w[K:]
        sig = np.sqrt(0.5 * spread[:, idx].reshape(P, -1).sum(axis=1) + 1.0)
        v = v + self.z * sig
        p = float(np.mean(expit((v - self.goal.target) / (TAU * max(self.goal.target, 1.0)))))
        # expected cost
        st = np.stack(zs)[..., :K]
        fl = np.stack(zs)[..., K:]
        costs = lever_costs(sc, pol, st, fl, [self.cal.T] + self.years)
        cost = float(sum(cst[1:].sum(axis=0).mean() for cst in costs.values())) if costs else 0.0
        return p, cost


def bisect(f, lo: float, hi: float, prob: float, iters: int = 11):
    """Smallest x in [lo, hi] with f(x) >= prob (f nondecreasing), or None."""
    if f(hi) < prob:
        return None
    if f(lo) >= prob:
        return lo
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if f(mid) >= prob:
            hi = mid
        else:
            lo = mid
    return hi


def required_rates(ev: Evaluator, prob: float):
    """For each key rate: the shift (alone) that makes P >= prob, as a before/after median."""
    out = []
    base_x = {}
    for name in KEY_RATES:
        if name not in ev.c.pidx:
            continue
        i = ev.c.pidx[name]
        before = float(np.median(ev.paths.rates[:, i]))
        delta = bisect(lambda d: ev.p_exact(base_x, rate_shift=(name, d))[0], 0.0, 4.0, prob, iters=10)
        if delta is None:
            out.append(dict(kind="rate", name=name, base=before, required=np.nan, reachable=False))
            continue
        after = float(expit(logit(before) + delta)) if name in ev.sc.structure.prob_params else before * np.exp(delta)
        out.append(dict(kind="rate", name=name, base=before, required=after, reachable=True))
    return out


def levers_alone(ev: Evaluator, prob: float):
    out = []
    for name in ev.levers:
        lv = ev.sc.levers[name]
        cur = ev.base.amount(name)
        hi = lv.bounds[1]
        x_star = bisect(lambda a: ev.p_exact({name: a})[0], cur, hi, prob)
        if x_star is None:
            out.append(dict(kind="lever", name=name, base=cur, required=np.nan, reachable=False, cost=np.nan))
            continue
        p, se, cost = ev.p_exact({name: x_star})
        out.append(dict(kind="lever", name=name, base=cur, required=x_star, reachable=True, cost=cost, p=p, se=se))
    return out


def cheapest_mix(ev: Evaluator, prob: float, budget: float | None = None, margin: float = 0.02):
    """SLSQP on the smooth SAA; returns the settings dict (or None) and the smooth (P, cost)."""
    names = ev.levers
    lo = np.array([ev.sc.levers[k].bounds[0] for k in names])
    hi = np.array([ev.sc.levers[k].bounds[1] for k in names])
    span = np.where(hi > lo, hi - lo, 1.0)
    to_x = lambda u: dict(zip(names, lo + span * np.clip(u, 0, 1)))  # noqa: E731
    cache = {}

    def ev_u(u):
        key = tuple(np.round(u, 9))
        if key not in cache:
            cache[key] = ev.smooth(to_x(u))
        return cache[key]

    cons = [{"type": "ineq", "fun": lambda u: ev_u(u)[0] - (prob + margin)}]
    if budget is not None:
        cons.append({"type": "ineq", "fun": lambda u: (budget - ev_u(u)[1]) / max(budget, 1.0)})
    scale = max(ev_u(np.ones(len(names)))[1], 1.0)
    best = None
    starts = [(np.array([ev.base.amount(k) for k in names]) - lo) / span, np.ones(len(names)), np.full(len(names), 0.5)]
    for u0 in starts:
        res = optimize.minimize(lambda u: ev_u(u)[1] / scale, u0, method="SLSQP", bounds=[(0, 1)] * len(names),
                                constraints=cons, options=dict(maxiter=60, ftol=1e-6, eps=1e-3))
        p, cost = ev_u(res.x)
        ok = p >= prob + margin - 1e-3 and (budget is None or cost <= budget * 1.001)
        if ok and (best is None or cost < best[2]):
            best = (to_x(res.x), p, cost)
    return best


def max_p_for_budget(ev: Evaluator, budget: float):
    names = ev.levers
    lo = np.array([ev.sc.levers[k].bounds[0] for k in names])
    hi = np.array([ev.sc.levers[k].bounds[1] for k in names])
    span = np.where(hi > lo, hi - lo, 1.0)
    to_x = lambda u: dict(zip(names, lo + span * np.clip(u, 0, 1)))  # noqa: E731
    cons = [{"type": "ineq", "fun": lambda u: (budget - ev.smooth(to_x(u))[1]) / max(budget, 1.0)}]
    u0 = (np.array([ev.base.amount(k) for k in names]) - lo) / span
    res = optimize.minimize(lambda u: -ev.smooth(to_x(u))[0], u0, method="SLSQP", bounds=[(0, 1)] * len(names),
                            constraints=cons, options=dict(maxiter=25, eps=1e-3))
    return to_x(res.x)


def seek(sc, cal, goal: Goal, base_name: str = "baseline", budget: float | None = None,
         n_paths: int = 3000, n_certify: int | None = None, seed: int | None = None):
    """Every answer of `sim goal`: returns (goal rows, frontier rows) as lists of dicts."""
    seed = sc.seed if seed is None else seed
    n_certify = n_certify or sc.paths
    try:
        base = next(p for p in sc.policies if p.name == base_name)
    except StopIteration:
        from .errors import did_you_mean
        raise InputError(sc.path, "--base", "the name of a scenario in the file", repr(base_name),
                         did_you_mean(base_name, [p.name for p in sc.policies])) from None
    ev = Evaluator(sc, cal, goal, base, n_paths, seed)
    cert = Evaluator(sc, cal, goal, base, n_certify, seed + 1)    # fresh random numbers
    prob = goal.prob
    rows = []
    p0, se0, c0 = cert.p_exact({})
    rows.append(dict(kind="baseline", name=base_name, base=np.nan, required=np.nan, reachable=p0 - 1.96 * se0 >= prob,
                     p_certified=p0, p_lo=p0 - 1.96 * se0, p_hi=p0 + 1.96 * se0, cost_10k_yuan=c0,
                     extra_cost_10k_yuan=0.0))
    top = {k: ev.sc.levers[k].bounds[1] for k in ev.levers}
    p_top, se_top, c_top = cert.p_exact(top)
    if p0 - 1.96 * se0 >= prob:
        rows.append(dict(kind="mix", name="baseline already meets it", reachable=True, p_certified=p0,
                         p_lo=p0 - 1.96 * se0, p_hi=p0 + 1.96 * se0, cost_10k_yuan=c0, extra_cost_10k_yuan=0.0,
                         settings="{}"))
        return rows, []
    rows += [dict(r, p_certified=r.get("p", np.nan)) for r in required_rates(ev, prob)]
    for r in levers_alone(ev, prob):
        if r["reachable"]:
            p, se, cost = cert.p_exact({r["name"]: r["required"]})
            r.update(p_certified=p, p_lo=p - 1.96 * se, p_hi=p + 1.96 * se, cost_10k_yuan=cost, extra_cost_10k_yuan=cost - c0)
        rows.append(r)
    if p_top < prob:
        rows.append(dict(kind="mix", name="not reachable", reachable=False, p_certified=p_top,
                         p_lo=p_top - 1.96 * se_top, p_hi=p_top + 1.96 * se_top, cost_10k_yuan=c_top,
                         extra_cost_10k_yuan=c_top - c0, settings="{}"))
    else:
        margin, plan = 0.02, None
        for _ in range(4):
            best = cheapest_mix(ev, prob, budget, margin)
            if best is None:
                break
            x, ps, cs = best
            p, se, cost = cert.p_exact(x)
            plan = dict(kind="mix", name="cheapest mix", reachable=p - 1.96 * se >= prob, p_smooth=ps,
                        p_certified=p, p_lo=p - 1.96 * se, p_hi=p + 1.96 * se, cost_10k_yuan=cost,
                        extra_cost_10k_yuan=cost - c0, margin=margin,
                        settings=";".join(f"{k}={v:.4g}" for k, v in x.items() if abs(v - base.amount(k)) > 1e-6))
            if plan["reachable"]:
                break
            margin += 0.03
        if plan is None:
            plan = dict(kind="mix", name="not reachable within the budget", reachable=False, settings="{}")
        rows.append(plan)
        if plan.get("reachable"):
            low = dataclasses.replace(cert.paths, strengths={k: np.full_like(v, cert.sc.levers[k].strength[0])
                                                             for k, v in cert.paths.strengths.items()})
            x = {k: float(v) for k, v in (kv.split("=") for kv in plan["settings"].split(";") if kv)}
            p, se, cost = cert.p_exact(x, paths=low)
            rows.append(dict(kind="stress", name="lever strengths at the low end", p_certified=p, p_lo=p - 1.96 * se,
                             p_hi=p + 1.96 * se, cost_10k_yuan=cost, reachable=p - 1.96 * se >= prob,
                             settings="robust" if p - 1.96 * se >= prob else "relies on optimistic lever effects"))
    # frontier
    frontier = []
    fev = Evaluator(sc, cal, goal, base, min(n_paths, 800), seed)   # a lighter search; every point is certified
    lo_cost = fev.smooth({k: ev.sc.levers[k].bounds[0] for k in ev.levers})[1]
    hi_cost = fev.smooth(top)[1]
    small = Evaluator(sc, cal, goal, base, max(1000, n_certify // 5), seed + 2)
    for b in np.linspace(lo_cost, hi_cost, 5):
        x = max_p_for_budget(fev, float(b))
        ps, cs = fev.smooth(x)
        p, se, cost = small.p_exact(x)
        frontier.append(dict(budget_10k_yuan=float(b), p_smooth=ps, p_certified=p, p_lo=p - 1.96 * se,
                             p_hi=p + 1.96 * se, cost_10k_yuan=cost,
                             settings=";".join(f"{k}={v:.4g}" for k, v in x.items())))
    return rows, frontier


def sentence(row: dict, goal: Goal, sc, lang: str = "en") -> str:
    """One sentence per answer."""
    ind = sc.structure.indicators[goal.indicator]
    what = (f"{sc.unit_label(goal.unit, 'zh')}{goal.year}年{ind.zh}≥{goal.target:,.0f}（概率≥{goal.prob:.0%}）"
            if lang == "zh" else f"{ind.en} >= {goal.target:,.0f} in {goal.year} with P >= {goal.prob:.0%}")
    k, name = row["kind"], row["name"]
    if k == "baseline":
        return (f"现行方案下{what}的概率为{row['p_certified']:.0%}。" if lang == "zh" else
                f"Under '{name}', P({what.split(' with')[0]}) = {row['p_certified']:.2f}.")
    if k == "rate":
        p = next(x for x in sc.rates.params if x.name == name)
        label = p.zh if lang == "zh" else p.en
        fmt = (lambda v: f"{100 * v:.1f}%") if name in sc.structure.prob_params else (lambda v: f"{v:.4f}")
        if not row["reachable"]:
            return (f"仅靠{label}无法实现：即使大幅提高也达不到。" if lang == "zh" else
                    f"{label} alone cannot reach it, even raised far beyond its range.")
        return (f"{label}需从{fmt(row['base'])}提高到{fmt(row['required'])}。" if lang == "zh" else
                f"The {label.lower()} would have to rise from {fmt(row['base'])} to {fmt(row['required'])}.")
    if k == "lever":
        lv = sc.levers[name]
        label = lv.zh if lang == "zh" else lv.en
        if not row["reachable"]:
            return (f"单靠“{label}”在其范围内无法实现。" if lang == "zh" else f"{label} alone: not reachable within the lever's range.")
        return (f"单靠“{label}”：需设为{row['required']:.3g}，至{goal.year}年累计成本约{row['cost_10k_yuan']:,.0f}万元"
                f"（核验概率{row['p_certified']:.0%}）。" if lang == "zh" else
                f"{label} alone: set to {row['required']:.3g}, total cost about {row['cost_10k_yuan']:,.0f} (10k yuan) "
                f"to {goal.year} (certified P = {row['p_certified']:.2f}).")
    if k == "mix":
        if not row.get("reachable"):
            return (f"{what}无法实现：即使所有政策都用到上限，概率也只有{row.get('p_certified', float('nan')):.0%}。"
                    if lang == "zh" else
                    f"Not reachable: even with every lever at its upper bound, P = {row.get('p_certified', float('nan')):.2f}.")
        if name == "baseline already meets it":
            return (f"现行方案已能实现{what}，无需额外支出。" if lang == "zh" else
                    f"The baseline already meets {what}: no extra cost.")
        return (f"最省钱的组合（{row['settings'] or '不变'}）：累计成本约{row['cost_10k_yuan']:,.0f}万元，较现行方案"
                f"{row['extra_cost_10k_yuan']:+,.0f}万元，核验概率{row['p_certified']:.0%}"
                f"（{row['p_lo']:.0%}–{row['p_hi']:.0%}）。" if lang == "zh" else
                f"Cheapest mix ({row['settings'] or 'unchanged'}): total cost about {row['cost_10k_yuan']:,.0f} (10k yuan), "
                f"{row['extra_cost_10k_yuan']:+,.0f} against the baseline; certified P = {row['p_certified']:.2f} "
                f"({row['p_lo']:.2f}-{row['p_hi']:.2f}).")
    if k == "stress":
        return (f"压力测试（政策效果取低值）：概率{row['p_certified']:.0%}，"
                + ("方案稳健。" if row["reachable"] else "方案依赖乐观的政策效果。") if lang == "zh" else
                f"Stress test (lever strengths at their low end): P = {row['p_certified']:.2f}: the plan "
                + ("is robust." if row["reachable"] else "relies on optimistic lever effects."))
    return ""
