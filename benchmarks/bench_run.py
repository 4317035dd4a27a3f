"""Speed and memory of every shipped scenario, measured on this machine in one session.

    python benchmarks/bench_run.py [SCENARIO ...] [--quick]

SCENARIO: a name (``cixi``) or a path to a scenario file; default every ``scenarios/*.toml``.
``--quick`` skips the run at 1,000,000 paths.

For each scenario, one row of a table:

* ``fit_s``: a fresh ``fit`` (no cache), in this process; ``ess_min``: the smallest bulk ESS
  of any parameter; ``ess_per_s``: ``ess_min / fit_s``; ``rhat_max``: the largest split R-hat
  (both from the calibration's diagnostics);
* ``cold_run_s``: ``sim run`` in a fresh process with no cached fit (a copy of the project's
  ``scenarios/`` and ``calibration/`` without ``calibration/fitted/``), defaults (figures and
  report included); ``cached_run_s``: the same command again, now with the fit cached;
* ``report_s``: ``sim report RUN_FOLDER`` on that run (figures, HTML and workbook, in a fresh
  process); ``render_s``: the same drawing alone (``sim.report.render`` timed inside a fresh
  process, without its imports and start-up); ``startup_s``: ``sim --help`` (Python, numpy,
  scipy, pandas and sim imported: the floor of every command);
* ``peak_mb_1e5``, ``peak_mb_1e6``: the peak resident memory (max RSS, MB) of a fresh
  ``sim run --paths 100000 --no-figures`` and ``--paths 1000000 --no-figures``, read from the
  child's own resource usage (``os.wait4``), and ``run_s_1e5``, ``run_s_1e6`` their wall
  times; ``refused`` when sim refuses the run as too large for the free memory (exit 2), ``-``
  when skipped;
* ``overhead_vs_rng`` last: the engine's time for one policy divided by the time numpy needs
  only to draw the same binomials and Poissons (best of 3).

The last line repeats the largest ``overhead_vs_rng``. Runs the code of the checkout this
file sits in (``sim`` is imported from there and the commands run with it on the path).
"""

from __future__ import annotations

import argparse
import os
import shutil
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
from sim.project import draw_paths, policy_rates, stream, KEY_MOVES  # noqa: E402
from sim.scenario import load_scenario  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def sim_cmd(*args: str, cwd: Path) -> tuple[float, int, int]:
    """Run ``python -m sim.cli ARGS`` in a fresh process: (seconds, exit status, max RSS in KB)."""
    t = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-m", "sim.cli", *args], cwd=cwd, env=ENV,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode("utf-8", "replace").strip()
    p.stderr.close()
    if p.returncode not in (0, 2):
        raise RuntimeError(f"sim {' '.join(args)} failed ({p.returncode}): {err}")
    return time.perf_counter() - t, p.returncode, usage.ru_maxrss


def render_seconds(run_folder: Path) -> float:
    """Seconds of drawing a run's figures, HTML page and workbook (``sim.report.render``) in a
    fresh process, its imports and start-up not counted."""
    code = ("import sys, time; from pathlib import Path; from sim.report import render; "
            "t = time.perf_counter(); render(Path(sys.argv[1]), 'zh'); print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code, str(run_folder)], env=ENV, cwd=ROOT, check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def project_copy(tmp: Path) -> Path:
    """A copy of the project's scenarios and calibration without any cached fit."""
    shutil.copytree(ROOT / "scenarios", tmp / "scenarios")
    shutil.copytree(ROOT / "calibration", tmp / "calibration", ignore=shutil.ignore_patterns("fitted"))
    return tmp


def rng_only(c: Compiled, states: np.ndarray, rates: np.ndarray, rng) -> None:
    """Draw the binomials and Poissons the engine drew (same counts and probabilities, taken
    from its states), with none of its bookkeeping."""
    for y in range(rates.shape[0]):
        x, r = states[y], rates[y]
        for o, qi in zip(c.s.origins, c.origin_q):
            rem = x[:, :, o.tier]
            for i in qi:
                rem = rem - rng.binomial(rem, np.clip(r[:, i], 0.0, 1.0)[:, None])
        size = x @ c.size_rows.T
        for j, i in enumerate(c.inflow_param):
            rng.poisson(r[:, i][:, None] * size[:, :, j])


def overhead(sc, cal) -> float:
    paths = draw_paths(sc, cal, sc.paths, sc.seed, sc.levers)
    years = list(range(cal.T + 1, sc.horizon + 1))
    rates, quota = policy_rates(sc, paths, sc.policies[0], years)
    c = Compiled(sc.structure)
    best_engine = best_rng = np.inf
    for _ in range(3):
        t = time.perf_counter()
        states, _ = c.simulate(paths.x_T, rates, stream(sc.seed, KEY_MOVES), quota)
        best_engine = min(best_engine, time.perf_counter() - t)
        t = time.perf_counter()
        rng_only(c, states, rates, stream(sc.seed, KEY_MOVES))
        best_rng = min(best_rng, time.perf_counter() - t)
    return best_engine / best_rng


def bench(path: Path, quick: bool) -> dict:
    sc = load_scenario(path)
    row = {"scenario": path.stem}
    t = time.perf_counter()
    cal = fit(sc)
    row["fit_s"] = time.perf_counter() - t
    d = cal.diagnostics
    row["ess_min"] = d["ess_bulk_min"]
    row["ess_per_s"] = d["ess_bulk_min"] / row["fit_s"]
    row["rhat_max"] = d["rhat_max"]
    with tempfile.TemporaryDirectory() as tmp:
        proj = project_copy(Path(tmp))
        scen = str(proj / "scenarios" / path.name)
        out = proj / "out"
        row["cold_run_s"], _, _ = sim_cmd("run", scen, "--out", str(out), cwd=ROOT)
        row["cached_run_s"], _, _ = sim_cmd("run", scen, "--out", str(out), cwd=ROOT)
        run_folder = max((out / path.stem).glob("run-*"))
        row["report_s"], _, _ = sim_cmd("report", str(run_folder), cwd=ROOT)
        row["render_s"] = render_seconds(run_folder)
        row["startup_s"], _, _ = sim_cmd("--help", cwd=ROOT)
        for n, col in ((100_000, "peak_mb_1e5"), (1_000_000, "peak_mb_1e6")):
            if quick and n > 100_000:
                row[col] = row[col.replace("peak_mb", "run_s")] = "-"
                continue
            secs, rc, kb = sim_cmd("run", scen, "--paths", str(n), "--no-figures", "--out", str(out), cwd=ROOT)
            row[col] = "refused" if rc == 2 else f"{kb / 1024:.0f}"
            row[col.replace("peak_mb", "run_s")] = "-" if rc == 2 else f"{secs:.0f}"
    row["overhead_vs_rng"] = overhead(sc, cal)
    return row


COLS = ("scenario", "fit_s", "ess_min", "ess_per_s", "rhat_max", "cold_run_s", "cached_run_s", "report_s",
        "render_s", "startup_s", "peak_mb_1e5", "run_s_1e5", "peak_mb_1e6", "run_s_1e6", "overhead_vs_rng")
FMT = dict(fit_s="{:.1f}", ess_min="{:.0f}", ess_per_s="{:.0f}", rhat_max="{:.3f}", cold_run_s="{:.1f}",
           cached_run_s="{:.1f}", report_s="{:.1f}", render_s="{:.1f}", startup_s="{:.1f}",
           overhead_vs_rng="{:.2f}")


def table(rows: list[dict]) -> list[str]:
    cells = [[FMT.get(c, "{}").format(r[c]) if not isinstance(r[c], str) else r[c] for c in COLS] for r in rows]
    w = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(COLS)]
    line = lambda xs: "  ".join(x.rjust(w[i]) if i else x.ljust(w[i]) for i, x in enumerate(xs))  # noqa: E731
    return [line(COLS)] + [line(x) for x in cells]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenarios", nargs="*", help="scenario names or files (default: every scenarios/*.toml)")
    ap.add_argument("--quick", action="store_true", help="skip the run at 1,000,000 paths")
    a = ap.parse_args(argv)
    paths = []
    for s in a.scenarios or sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml")):
        p = Path(s) if s.endswith(".toml") else ROOT / "scenarios" / f"{s}.toml"
        if not p.is_file():
            sys.exit(f"error: {s}: no such scenario file")
        paths.append(p.resolve())
    print(f"code: {ROOT}; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d %H:%M')}", flush=True)
    rows = []
    for p in paths:
        rows.append(bench(p, a.quick))
        print(f"  done {p.stem}", file=sys.stderr, flush=True)
    for line in table(rows):
        print(line)
    print(f"overhead_vs_rng: {max(r['overhead_vs_rng'] for r in rows):.2f}")


if __name__ == "__main__":
    main()
