"""Speed of the whole run and of the engine, as ratios measured within one run.

    python benchmarks/bench_run.py [scenario]

Prints the wall time of `sim run` (imports and figures included, in a fresh process), the
time of the calibration, of the engine alone, and last a line `overhead_vs_rng: X`: the
engine's time divided by the time numpy needs only to draw the same random numbers
(binomials and Poissons of the same shapes and parameters). Aim for 3 or less.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.calibrate import fit  # noqa: E402
from sim.engine import Compiled  # noqa: E402
from sim.project import draw_paths, policy_rates  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402


def rng_only(c: Compiled, x0, size, rates, rng):
    """Draw the same random numbers as Compiled.simulate, with none of its bookkeeping."""
    Y = rates.shape[0]
    x = x0
    for y in range(Y):
        r = rates[y]
        for o, qi in zip(c.s.origins, c.origin_q):
            rem = x[:, :, o.tier]
            for i in qi:
                k = rng.binomial(rem, r[:, i][:, None])
                rem = rem - k
        for j, i in enumerate(c.inflow_param):
            rng.poisson(r[:, i][:, None] * size[:, :, j])


def main(path):
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sim.cli", "run", str(path), "--out", tmp], check=True,
                       stdout=subprocess.DEVNULL)
        whole = time.perf_counter() - t
    sc = load_scenario(path)
    t = time.perf_counter()
    cal = fit(sc)
    t_fit = time.perf_counter() - t
    paths = draw_paths(sc, cal, sc.paths, sc.seed, sc.levers)
    years = list(range(cal.T + 1, sc.horizon + 1))
    rates, quota = policy_rates(sc, paths, sc.policies[0], years)
    c = Compiled(sc.structure)
    best_engine, best_rng = np.inf, np.inf
    for _ in range(3):
        t = time.perf_counter()
        states, _ = c.simulate(paths.x_T, paths.size, rates, np.random.default_rng(1), quota)
        best_engine = min(best_engine, time.perf_counter() - t)
        t = time.perf_counter()
        rng_only(c, paths.x_T, paths.size, rates, np.random.default_rng(1))
        best_rng = min(best_rng, time.perf_counter() - t)
    print(f"scenario: {path}")
    print(f"paths: {sc.paths}, policies: {len(sc.policies)}, years: {len(years)}, units: {paths.x_T.shape[1]}")
    print(f"whole_run_seconds: {whole:.2f}")
    print(f"calibration_seconds: {t_fit:.2f}")
    print(f"engine_seconds_per_policy: {best_engine:.3f}")
    print(f"rng_only_seconds_per_policy: {best_rng:.3f}")
    print(f"overhead_vs_rng: {best_engine / best_rng:.2f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "scenarios" / "cixi.toml")
