"""Work shared with one forked child (sim.workers.run_shared: the figures of a run, the
policies of a projection chunk): the same results in order as one process, an error of the
child raised here, a child that dies replaced by this process; and the projection's tables
are the same with one process or two."""

import importlib
import os

import numpy as np
import pytest

from sim import workers as W

P = importlib.import_module("sim.project")


def _jobs(fn, items):
    return [(fn, (x,), float(x % 3 + 1)) for x in items]


def test_same_results_in_order_as_serial():
    items = list(range(7))
    got = W.run_shared(_jobs(lambda x: np.arange(5) * x, items), True)
    assert [g.tolist() for g in got] == [(np.arange(5) * x).tolist() for x in items]


def test_an_error_in_the_child_is_raised_here():
    parent = os.getpid()

    def fn(x):
        if os.getpid() != parent:
            raise ValueError(f"item {x} is bad")
        return x

    with pytest.raises(ValueError, match="is bad"):
        W.run_shared(_jobs(fn, [0, 1, 2, 3]), True)


def test_a_child_that_dies_is_replaced_by_this_process():
    parent = os.getpid()

    def fn(x):
        if os.getpid() != parent:
            os._exit(3)                             # the child dies without a word
        return x * 10

    assert W.run_shared(_jobs(fn, [1, 2, 3, 4, 5]), True) == [10, 20, 30, 40, 50]


def test_a_large_result_does_not_hold_up_the_child(tmp_path):
    # the child's first job returns more than a pipe holds; its second job must still start
    # while this process is busy with its own (long) job, not when that job is over
    mark = tmp_path / "second job started"

    def big(_):
        import time
        time.sleep(0.2)   # this process takes 'wait' meanwhile
        return b"x" * (8 << 20)

    def wait(_):
        import time
        end = time.monotonic() + 20
        while not mark.exists() and time.monotonic() < end:
            time.sleep(0.01)
        return mark.exists()

    def second(_):
        mark.touch()
        return "done"

    jobs = [(big, (0,), 5.0), (wait, (0,), 4.0), (second, (0,), 1.0)]   # big to the child, wait here
    got = W.run_shared(jobs, True)
    assert got[1] is True and got[2] == "done" and len(got[0]) == 8 << 20


def test_the_child_takes_more_jobs_while_this_process_is_slow(tmp_path):
    # costs are estimates: while one process is stuck in a job, the other does all the rest
    # (the first job goes to the child; which process takes the slow one next is a race)
    n = 8

    def slow(_):
        import time
        end = time.monotonic() + 20
        while len(list(tmp_path.glob("done-*"))) < n and time.monotonic() < end:
            time.sleep(0.01)
        return os.getpid()

    def quick(k):
        (tmp_path / f"done-{k}").touch()
        return os.getpid()

    jobs = [(quick, (100,), 3.0), (slow, (0,), 2.0)] + [(quick, (k,), 1.0) for k in range(n - 1)]
    got = W.run_shared(jobs, True)
    assert got[0] != os.getpid() and got[1] in (got[0], os.getpid())
    assert len(set(got[2:])) == 1 and got[2] != got[1]


def test_jobs_in_the_background_while_this_process_forks_again():
    parent = os.getpid()
    with W.in_background(_jobs(lambda x: (x, os.getpid()), [1, 2, 3])) as results:
        here = W.run_shared(_jobs(lambda x: x * 10, range(5)), True)   # a second child meanwhile
        got = results()
    assert here == [0, 10, 20, 30, 40]
    assert [x for x, _ in got] == [1, 2, 3] and all(pid != parent for _, pid in got)


def test_background_errors_deaths_and_early_exits():
    import multiprocessing as mp
    parent = os.getpid()

    def bad(x):
        if x == 2:
            raise ValueError(f"item {x} is bad")
        return x
    with pytest.raises(ValueError, match="item 2 is bad"):
        with W.in_background(_jobs(bad, [1, 2, 3])) as results:
            results()

    def dies(x):
        if os.getpid() != parent:
            os._exit(3)
        return x * 10
    with W.in_background(_jobs(dies, [1, 2, 3])) as results:
        assert results() == [10, 20, 30]   # done here

    def slow(x):
        import time
        time.sleep(60)
    with pytest.raises(KeyError):
        with W.in_background(_jobs(slow, [1])):
            raise KeyError("this process fails first")   # the child is killed, not waited for
    assert not mp.active_children()
    with W.in_background(_jobs(lambda x: x + 1, [1, 2]), parallel=False) as results:
        assert results() == [2, 3]


def test_no_thread_or_child_is_left_behind():
    import multiprocessing as mp
    import threading
    before = threading.active_count()
    assert W.run_shared(_jobs(lambda x: x, range(6)), True) == list(range(6))

    parent = os.getpid()

    def first(x):
        import time
        time.sleep(0.2)   # the child's, while this process takes 'bad'
        return x

    def bad(x):
        if os.getpid() == parent:
            raise KeyboardInterrupt   # like Ctrl-C in one of this process's jobs
        return x
    with pytest.raises(KeyboardInterrupt):
        W.run_shared([(first, (0,), 5.0), (bad, (0,), 4.0)] + _jobs(lambda x: x, range(4)), True)
    assert threading.active_count() == before and not mp.active_children()


def test_projection_tables_equal_with_one_process_or_two(monkeypatch):
    import sim
    from sim.calibrate import fit
    sc = sim.load_scenario(os.path.join(os.path.dirname(__file__), "..", "scenarios", "yuyao.toml"))
    cal = fit(sc, draws=500, chains=16, steps=50, max_rounds=2)
    two = P.project(sc, cal, n_paths=3000, seed=5)
    monkeypatch.setattr(P, "cores", lambda: 1)
    one = P.project(sc, cal, n_paths=3000, seed=5)
    for frame in ("projection_frame", "targets_frame", "scenarios_frame", "tiers_frame"):
        assert getattr(one, frame)().equals(getattr(two, frame)()), frame


def test_small_keeps_the_values():
    for v in (np.array([[0, 65535]]), np.array([[-1, 5]]), np.array([[0, 2 ** 40]]), np.zeros((0, 3), int)):
        s = P._small(v)
        assert np.array_equal(s.astype(np.int64), v) and s.shape == v.shape
    assert P._small(np.array([1, 2])).dtype == np.uint16
    assert P._small(np.array([-1, 2])).dtype == np.int32
    assert P._small(np.array([0, 2 ** 40])).dtype == np.int64


def test_a_cached_fit_read_beside_other_work_is_the_same_fit(workdir, monkeypatch):
    """``cached_fit(meanwhile=...)`` reads the cache in a forked process while this one runs
    ``meanwhile``: the same calibration as a read in this process; ``meanwhile`` runs once,
    in this process, whether the cache is read, damaged (then a note and a new fit) or absent."""
    import sim
    from sim import calibrate as C
    monkeypatch.setattr(C, "cores", lambda: 2)
    sc = sim.load_scenario("scenarios/yuyao.toml")
    small = dict(draws=300, chains=8, steps=50, max_rounds=1)
    ran = []
    here = os.getpid()

    def meanwhile():
        ran.append(os.getpid())

    notes = []
    first, key, reused = C.cached_fit(sc, meanwhile=meanwhile, notify=notes.append, **small)   # no cache yet: fit
    assert not reused and ran == [here]
    plain, _, r1 = C.cached_fit(sc, **small)
    beside, _, r2 = C.cached_fit(sc, meanwhile=meanwhile, **small)
    assert r1 and r2 and ran == [here, here]
    for name in ("draws", "z_mean", "z_cov", "derived", "mode"):
        assert np.array_equal(getattr(plain, name), getattr(beside, name)), name
    assert plain.diagnostics == beside.diagnostics and plain.notes == beside.notes
    path = os.path.join(sc.fit_cache, f"{key}.npz")
    with open(path, "r+b") as fh:                                     # damage the cache
        fh.seek(100)
        fh.write(b"\0" * 200)
    again, _, r3 = C.cached_fit(sc, meanwhile=meanwhile, notify=notes.append, **small)
    assert not r3 and ran == [here] * 3 and any("damaged" in n for n in notes)
    assert np.array_equal(again.draws, first.draws)


def test_results_are_freed_as_soon_as_the_caller_drops_them():
    """Nothing of run_shared keeps its results alive (no reference cycle left for the cyclic
    collector): a projection of many chunks calls it once per chunk, and each call's
    gc.freeze() would otherwise keep every earlier chunk's results for good."""
    import gc
    import weakref
    gc.disable()
    try:
        for parallel in (True, False):
            out = W.run_shared([(np.full, (1000, float(k)), float(k % 3 + 1)) for k in range(6)], parallel)
            assert [float(a[0]) for a in out] == [float(k) for k in range(6)]
            refs = [weakref.ref(a) for a in out]
            del out
            assert all(r() is None for r in refs), parallel
    finally:
        gc.enable()
