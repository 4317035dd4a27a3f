"""Will a run fit in this machine's memory? An estimate made before any work.

A run is projected a chunk of paths at a time (:func:`sim.project.project`): the simulation's
working arrays (integer states and flows of every unit, the rates after lever shifts, one
matrix root per path for the starting states) exist for one chunk only, and what is kept
for every path is small: per policy the main unit's tiers and flows per year, the sub-units'
indicators (all of them when the run is one block, else those with a target), and the drawn
rates and lever strengths; the tables then work on one (years, paths) array at a time.
:func:`run_bytes` adds these up from the scenario's dimensions; :func:`check_memory`
refuses, with one sentence, a run that would not fit in the memory the machine has free.

The terms err on the large side (int32 where the run keeps uint16 while counts fit): measured
peak resident memory of ``sim run --no-figures`` is in the README ("Tests", benchmarks).
"""

from __future__ import annotations

import os

from .errors import InputError
from .project import BLOCK_PATHS, CHUNK_BLOCKS

BASE_BYTES = 300 * 2**20        # interpreter, numpy/pandas/matplotlib, the fit's posterior draws
HEADROOM = 0.85                 # use at most this share of the free memory


def run_bytes(paths: int, policies: int, years: int, units: int, tiers: int, flows: int, levers: int,
              rates: int, block: int | None = None, chunk: int | None = None) -> int:
    """Peak bytes of a projection with these dimensions (``years`` counts the start year)."""
    block = block or BLOCK_PATHS
    chunk = chunk or CHUNK_BLOCKS
    z = tiers + flows
    parts = units - 1 if units > 1 else 0
    cells = parts * z if paths <= block else parts * 2          # sub-unit indicators kept per path
    kept = policies * years * (z + cells) * 4 + rates * 8 + levers * 8 + tiers * 4 + 4 * 8
    tables = years * 8 * 8                                      # a few (years, paths) float arrays
    working = (years * units * z * 8 * 2                        # int64 simulation (and a flows copy)
               + years * rates * 8 * 3                          # rates, link scale, yearly shocks
               + z * z * 8                                      # a start-state root per path
               + units * z * 8 * 2 + levers * 8 * 2)            # start states, lever strengths
    return int(BASE_BYTES + paths * (kept + tables) + min(paths, block * chunk) * working)


def scenario_run_bytes(sc, paths: int) -> int:
    st = sc.structure
    years = sc.horizon - sc.last_actual_year(sc.unit) + 1
    return run_bytes(paths, len(sc.policies), max(years, 1), 1 + len(sc.parts), st.K, st.F, len(sc.levers),
                     len(st.prob_params) + len(st.rate_params))


def available_bytes() -> int | None:
    """Memory this process may still use: MemAvailable, bounded by a cgroup limit; None if
    the system does not say."""
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file, encoding="ascii") as fh:
                raw = fh.read().strip()
            if raw == "max" or int(raw) >= 1 << 60:
                continue
            with open(usage_file, encoding="ascii") as fh:
                room = int(raw) - int(fh.read().strip())
            free = room if free is None else min(free, room)
            break
        except (OSError, ValueError):
            continue
    if free is None and hasattr(os, "sysconf"):
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            free = None
    return free


def check_memory(sc, paths: int, shown: str, option: str = "--paths", free: int | None = None) -> None:
    """Raise :class:`InputError` if a run of ``paths`` paths would not fit in free memory."""
    need = scenario_run_bytes(sc, paths)
    free = available_bytes() if free is None else free
    if free is None or need <= HEADROOM * free:
        return
    per_path = max((need - BASE_BYTES) / paths, 1.0)
    fits = int(max(HEADROOM * free - BASE_BYTES, 0) / per_path) // 1000 * 1000
    raise InputError(shown, option, f"a run that fits in the {free / 2**30:,.1f} GB of memory free "
                     f"(at most about {fits:,} paths for this scenario)",
                     f"{paths:,} paths needing about {need / 2**30:,.1f} GB",
                     f"use --paths {max(fits, 100):,} or fewer")
