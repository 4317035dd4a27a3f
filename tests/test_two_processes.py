"""The projection's policies run in two processes on a machine with two cores: the same
numbers as one process, and a failing or dying child never loses an item or an error."""

import importlib
import os

import numpy as np
import pytest

P = importlib.import_module("sim.project")


def _square(x):
    return np.arange(5) * x


def test_same_results_in_order_as_serial():
    items = list(range(7))
    got = P.in_two_processes(_square, items)
    assert [g.tolist() for g in got] == [_square(x).tolist() for x in items]


def test_an_error_in_the_child_surfaces_as_serially(monkeypatch):
    parent = os.getpid()

    def fn(x):
        if x == 3:
            raise ValueError("item 3 is bad")
        return x

    with pytest.raises(ValueError, match="item 3 is bad"):
        P.in_two_processes(fn, [0, 1, 2, 3])       # item 3 is the child's (odd positions)
    assert os.getpid() == parent


def test_a_child_that_dies_is_redone_by_the_parent():
    parent = os.getpid()

    def fn(x):
        if os.getpid() != parent:
            os._exit(3)                             # the child dies without a word
        return x * 10

    assert P.in_two_processes(fn, [1, 2, 3, 4, 5]) == [10, 20, 30, 40, 50]


def test_small_keeps_the_values():
    for v in (np.array([[0, 65535]]), np.array([[-1, 5]]), np.array([[0, 2 ** 40]]), np.zeros((0, 3), int)):
        s = P._small(v)
        assert np.array_equal(s.astype(np.int64), v) and s.shape == v.shape
    assert P._small(np.array([1, 2])).dtype == np.uint16
    assert P._small(np.array([-1, 2])).dtype == np.int32
    assert P._small(np.array([0, 2 ** 40])).dtype == np.int64
