"""Will a run fit in this machine's memory? An estimate made before any work.

A run keeps every policy's integer paths in memory (states and flows per year, path and
unit, and each lever's payments), and while it draws the paths' starting states it holds
one matrix root per path. :func:`run_bytes` adds these up from the scenario's dimensions;
:func:`check_memory` refuses, with one sentence, a run that would not fit in the memory
the machine has free. The estimate is a pure function of the dimensions so that it is easy
to replace when the projection computes its summaries in chunks of paths.

The terms were checked against the peak resident memory of ``sim run --no-figures`` (Yuyao,
Cixi and Jiangbei at 20,000 and 80,000 paths: 4.4, 12 and 37 KB a path measured, 5.5, 16 and
47 KB estimated): the estimate errs on the large side.
"""

from __future__ import annotations

import os

from .errors import InputError

BASE_BYTES = 300 * 2**20        # interpreter, numpy/pandas/matplotlib, the fit's posterior draws
HEADROOM = 0.85                 # use at most this share of the free memory


def run_bytes(paths: int, policies: int, years: int, units: int, tiers: int, flows: int, levers: int,
              rates: int) -> int:
    """Peak bytes of a projection with these dimensions (``years`` counts the start year)."""
    z = tiers + flows
    kept = policies * (years * units * z * 4 + levers * years * 8)      # int32 states+flows, float costs
    working = (years * units * z * 8 * 3 // 2                           # int64 simulation (and a flows copy)
               + years * rates * 8 * 2                                  # rates after lever shifts
               + z * z * 8                                              # a start-state root per path
               + units * z * 8 * 2 + levers * 8 * 2)                    # start states, lever strengths
    return int(BASE_BYTES + paths * (kept + working))


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
