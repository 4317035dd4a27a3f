"""Progress on the terminal for the steps that take more than a couple of seconds.

Shown on stderr only when stderr is a terminal, so logs, pipes and tests stay clean.
``stage(label)`` shows the step and its elapsed seconds while it runs (for steps that report
no progress of their own: calibration, projection, goal search); ``bar(items, label)`` is
click's progress bar over a known number of items, and ``counter(total, label)`` the same bar
advanced by hand (figures, which finish in more than one process).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time

import click


def enabled() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def stage(label: str):
    """Show ``label … Ns`` on stderr while the block runs (terminal only); erase it after."""
    if not enabled():
        yield
        return
    stop = threading.Event()
    t0 = time.monotonic()
    frames = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def spin():
        k = 0
        while not stop.wait(0.2):
            sys.stderr.write(f"\r{frames[k % len(frames)]} {label} {time.monotonic() - t0:4.0f}s ")
            sys.stderr.flush()
            k += 1

    th = threading.Thread(target=spin, daemon=True)
    th.start()
    try:
        yield
    finally:
        stop.set()
        th.join()
        sys.stderr.write("\r\033[K")
        sys.stderr.flush()


def bar(items, label: str, length: int | None = None):
    """click's progress bar over ``items`` on stderr (terminal only; a plain iterator otherwise)."""
    if not enabled():
        return contextlib.nullcontext(items)
    return click.progressbar(items, length=length, label=label, file=sys.stderr, show_pos=True, width=30)


@contextlib.contextmanager
def counter(total: int, label: str):
    """Yield ``tick(n)``, which advances click's progress bar of ``total`` steps on stderr
    (terminal only; a no-op otherwise)."""
    if not enabled():
        yield lambda n=1: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True, width=30) as pb:
        yield pb.update
