"""Work shared between this process and one forked child, for the two cores of the
machines sim runs on (figures of a run, the policies of a projection chunk).

No pool and no lock is shared with the child: it gets a fixed share of the jobs (the
longest first, each to the less loaded process), inherits everything it needs through the
fork and sends each result back through a pipe as it finishes. If this process is
interrupted or fails, the child is killed and reaped in ``finally``, so nothing can wait on
a dead worker; if the child dies without a word (killed for memory, say), this process does
its remaining jobs itself; an exception raised in a job of the child is raised here, as it
would have been serially. Results are the same whichever process computed them.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing as mp
import os
import queue
import threading

from .progress import counter


def _progress(total: int, label: str | None):
    return counter(total, label) if label is not None else contextlib.nullcontext(lambda n=1: None)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _share(costs: list[float]) -> list[int]:
    """Which of two processes (0: this one, 1: the forked one) does each job: the longest
    first, each to the less loaded one (ties to the fork, which starts a moment later)."""
    load, who = [0.0, 0.0], [0] * len(costs)
    for k in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        w = 0 if load[0] < load[1] else 1
        who[k] = w
        load[w] += costs[k]
    return who


def _longest_first(jobs, who, w: int) -> list[int]:
    return sorted((k for k in range(len(jobs)) if who[k] == w), key=lambda k: (-jobs[k][2], k))


def run_shared(jobs, parallel: bool, label: str | None = None) -> list:
    """Run ``jobs`` (function, args, cost) and return their results in order: with
    ``parallel``, shared between this process and one forked child (fork start method only),
    which sends each result back through a pipe as it finishes. ``label``: a progress bar on
    a terminal (none when None).
    """
    results = [None] * len(jobs)
    if not parallel or len(jobs) < 2 or "fork" not in mp.get_all_start_methods():
        with _progress(len(jobs), label) as tick:
            for k, (fn, args, _) in enumerate(jobs):
                results[k] = fn(*args)
                tick(1)
        return results
    who = _share([c for _, _, c in jobs])
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=([(k, jobs[k]) for k in _longest_first(jobs, who, 1)], send), daemon=True)
    waiting = sum(who)
    inbox: queue.SimpleQueue = queue.SimpleQueue()
    listener = threading.Thread(target=_listen, args=(recv, inbox), daemon=True)
    gc.freeze()   # the collector leaves the shared objects alone: fewer pages copied after the fork
    try:
        child.start()
        send.close()
        listener.start()
        theirs = set(k for k in range(len(jobs)) if who[k] == 1)
        with _progress(len(jobs), label) as tick:
            def take(block: bool) -> None:
                nonlocal waiting
                while waiting and (block or not inbox.empty()):
                    msg = inbox.get()
                    if isinstance(msg, BaseException):
                        raise msg
                    if msg is None:   # the child died: its remaining jobs are done here
                        for k in sorted(theirs, key=lambda i: (-jobs[i][2], i)):
                            fn, args, _ = jobs[k]
                            results[k] = fn(*args)
                            tick(1)
                        theirs.clear()
                        waiting = 0
                        return
                    k, ok, value = msg
                    if not ok:
                        raise value
                    results[k] = value
                    theirs.discard(k)
                    waiting -= 1
                    tick(1)
            for k in _longest_first(jobs, who, 0):
                fn, args, _ = jobs[k]
                results[k] = fn(*args)
                tick(1)
                take(False)
            take(True)
        child.join()
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        send.close()
        if listener.ident is not None:
            listener.join()   # the child is gone, its end of the pipe closed: the listener has seen EOF
        recv.close()
        gc.unfreeze()
    return results


def _listen(recv, inbox) -> None:
    """Take the child's results off the pipe as they come, so that a child with a large
    result (the report page, a projection's summary) never waits for this process to finish
    its own job before it can start its next one. Puts each message, then None at the end
    (the child has closed its end), or an exception that a message raised when read."""
    while True:
        try:
            msg = recv.recv()
        except (EOFError, OSError):
            inbox.put(None)
            return
        except Exception as exc:   # noqa: BLE001 (a result that does not unpickle: raised by the caller)
            inbox.put(exc)
            return
        inbox.put(msg)


def _child(jobs, send) -> None:
    """The forked process of :func:`run_shared`: each job's (index, ok, result or exception)."""
    try:
        for k, (fn, args, _) in jobs:
            try:
                value, ok = fn(*args), True
            except Exception as exc:   # noqa: BLE001 (sent to the parent, which raises it)
                value, ok = exc, False
            try:
                send.send((k, ok, value))
            except Exception:   # noqa: BLE001 (an exception that does not pickle)
                send.send((k, False, RuntimeError(f"{type(value).__name__}: {value}")))
            if not ok:
                return
    finally:
        send.close()


