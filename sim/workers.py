"""Work shared between this process and one forked child, for the two cores of the
machines sim runs on (figures of a run, the policies of a projection chunk).

No pool and no lock is shared with the child: it inherits everything it needs through the
fork, and the jobs are handed out one at a time, the longest first: this process takes the
next one whenever it finishes one, and a thread of this process reads each result the child
sends back through a pipe and gives it its next job at once (so the shares follow the real
times, not estimates). If this process is interrupted or fails, the child is killed and
reaped in ``finally``, so nothing can wait on a dead worker; if the child dies without a
word (killed for memory, say), this process does the job it had and the rest itself; an
exception raised in a job of the child is raised here, as it would have been serially.
Results are the same whichever process computed them.
"""

from __future__ import annotations

import collections
import contextlib
import gc
import multiprocessing as mp
import os
import queue
import signal
import threading

from .progress import counter


def _progress(total: int, label: str | None):
    return counter(total, label) if label is not None else contextlib.nullcontext(lambda n=1: None)


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


@contextlib.contextmanager
def signals_held():
    """Hold SIGINT and SIGTERM in this thread (and in any thread started meanwhile, which keeps
    them held for good) for a few steps that must not be cut short (renames that go
    together, reaping a child and its listener); a signal that arrives meanwhile is
    delivered right after."""
    sigs = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
    except (AttributeError, ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def run_shared(jobs, parallel: bool, label: str | None = None) -> list:
    """Run ``jobs`` (function, args, cost) and return their results in order: with
    ``parallel``, shared between this process and one forked child (fork start method only),
    the longest (by cost) first, each to the process that is free first. ``label``: a
    progress bar on a terminal (none when None).
    """
    results = [None] * len(jobs)
    if (not parallel or len(jobs) < 2 or "fork" not in mp.get_all_start_methods()
            or mp.current_process().daemon):   # a forked worker itself may not fork again
        with _progress(len(jobs), label) as tick:
            for k, (fn, args, _) in enumerate(jobs):
                results[k] = fn(*args)
                tick(1)
        return results
    order = collections.deque(sorted(range(len(jobs)), key=lambda i: (-jobs[i][2], i)))   # the longest first
    lock = threading.Lock()
    given: set[int] = set()    # jobs handed to the child whose result has not come back
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)            # results, child -> this process
    their_jobs, give = ctx.Pipe(duplex=False)      # job numbers, this process -> child
    child = ctx.Process(target=_child, args=(jobs, their_jobs, send, (recv, give)), daemon=True)
    inbox: queue.SimpleQueue = queue.SimpleQueue()

    def hand_out() -> None:
        """Give the child the next job (None: nothing left, it stops)."""
        with lock:
            k = order.popleft() if order else None
            if k is not None:
                given.add(k)
        try:
            give.send(k)
        except OSError:   # the child is gone: the job is done here
            with lock:
                if k is not None:
                    given.discard(k)
                    order.appendleft(k)

    listener = threading.Thread(target=_listen, args=(recv, inbox, hand_out), daemon=True)
    gc.freeze()   # the collector leaves the shared objects alone: fewer pages copied after the fork
    try:
        child.start()
        send.close()
        their_jobs.close()
        hand_out()   # the longest job to the child, the next to this process
        with signals_held():   # the listener never takes an interrupt; it is always joined
            listener.start()
        pending = len(jobs)
        with _progress(len(jobs), label) as tick:
            def take(block: bool) -> None:
                nonlocal pending
                while pending and (block or not inbox.empty()):
                    msg = inbox.get()
                    if isinstance(msg, BaseException):
                        raise msg
                    if msg is None:   # the child is gone: what it was given is done here
                        with lock:
                            lost = sorted(given, key=lambda i: (-jobs[i][2], i))
                            given.clear()
                        for k in lost:
                            fn, args, _ = jobs[k]
                            results[k] = fn(*args)
                            pending -= 1
                            tick(1)
                        if block and pending:
                            mine()
                        return
                    k, ok, value = msg
                    if not ok:
                        raise value
                    with lock:
                        given.discard(k)
                    results[k] = value
                    pending -= 1
                    tick(1)

            def mine() -> None:
                nonlocal pending
                while True:
                    with lock:
                        k = order.popleft() if order else None
                    if k is None:
                        return
                    fn, args, _ = jobs[k]
                    results[k] = fn(*args)
                    pending -= 1
                    tick(1)
                    take(False)
            mine()
            take(True)
        child.join()
    finally:
        with signals_held():   # an interrupt now would leave a listener running at exit
            if child.is_alive():
                child.kill()
                child.join()
            send.close()
            if listener.ident is not None:
                listener.join()   # the child is gone, its end of the pipe closed: the listener has seen EOF
            give.close()
            recv.close()
            # take() and mine() refer to each other: without this the pair, and through them
            # the results, would wait for the cyclic collector, and the next gc.freeze() (the
            # next chunk of a projection) would keep them for good
            take = mine = None   # noqa: F841
            gc.unfreeze()
    return results


@contextlib.contextmanager
def in_background(jobs, parallel: bool = True):
    """Start ``jobs`` (function, args, cost) in a forked child now, while this process goes on
    with other work (importing and warming up matplotlib for the figures, which these jobs do
    not need, then drawing them with :func:`run_shared`); yields a function that waits for
    their results and returns them in order.

    No thread is left running here (a later fork stays single-threaded): the child sends each
    result through a pipe as it finishes and waits until it is read, so the job with the
    largest result goes last. Without ``parallel`` (or without fork) the jobs run here when
    their results are asked for. On leaving the block the child is killed if it still runs
    and is reaped; if it dies without a word, its unfinished jobs run here; an exception
    raised in one of its jobs is raised here."""
    if not parallel or not jobs or "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:
        yield lambda: [fn(*args) for fn, args, _ in jobs]
        return
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_all, args=(jobs, send, recv), daemon=True)
    results: dict[int, object] = {}

    def collect() -> list:
        while len(results) < len(jobs):
            try:
                k, ok, value = recv.recv()
            except EOFError:   # the child died: the rest is done here
                for k, (fn, args, _) in enumerate(jobs):
                    if k not in results:
                        results[k] = fn(*args)
                break
            if not ok:
                raise value
            results[k] = value
        return [results[k] for k in range(len(jobs))]

    try:
        child.start()
        send.close()
        yield collect
    finally:
        with signals_held():
            if child.is_alive() and len(results) < len(jobs):
                child.kill()
            if child.pid is not None:   # started
                child.join()
            send.close()
            recv.close()


def _child_all(jobs, send, recv) -> None:
    """The forked process of :func:`in_background`: every job in order, each one's (index,
    ok, result or exception) sent back; stops after an error."""
    recv.close()
    try:
        for k, (fn, args, _) in enumerate(jobs):
            if not _run_and_send(send, k, fn, args):
                return
    finally:
        send.close()


def _run_and_send(send, k: int, fn, args) -> bool:
    """In a forked child: run job ``k`` and send (k, ok, result or exception) to the parent,
    which raises the exception; returns whether the job succeeded."""
    try:
        value, ok = fn(*args), True
    except Exception as exc:   # noqa: BLE001 (sent to the parent, which raises it)
        value, ok = exc, False
    try:
        send.send((k, ok, value))
    except Exception:   # noqa: BLE001 (an exception that does not pickle)
        send.send((k, False, RuntimeError(f"{type(value).__name__}: {value}")))
    return ok


def _listen(recv, inbox, hand_out) -> None:
    """Take the child's results off the pipe as they come and give it its next job at once:
    the child never waits for this process to finish a job of its own (not even after a
    large result, such as the report page, which does not fit in the pipe). Puts each
    message, then None at the end (the child has closed its end), or an exception that a
    message raised when read."""
    while True:
        try:
            msg = recv.recv()
        except (EOFError, OSError):
            inbox.put(None)
            return
        except Exception as exc:   # noqa: BLE001 (a result that does not unpickle: raised by the caller)
            inbox.put(exc)
            return
        if msg[1]:
            hand_out()
        inbox.put(msg)


def _child(jobs, their_jobs, send, parent_ends) -> None:
    """The forked process of :func:`run_shared`: runs each job it is given (by number; None:
    stop) and sends back (number, ok, result or exception); stops after an error. Its copies
    of this process's ends of the pipes are closed first: if this process dies, the child
    reads the end of its jobs and stops."""
    for end in parent_ends:
        end.close()
    try:
        while True:
            try:
                k = their_jobs.recv()
            except EOFError:
                return
            if k is None:
                return
            fn, args, _ = jobs[k]
            if not _run_and_send(send, k, fn, args):
                return
    finally:
        send.close()
        their_jobs.close()
