"""Memory that does not grow with the paths: a run is projected in chunks of blocks of paths,
each block with its own random streams, so the same seed gives the same numbers whatever
the chunk size; sub-unit indicators that a large run does not keep per path are summarised
by exact counts (the same quantiles as numpy's on the values themselves)."""

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.calibrate import fit
from sim.project import block_layout, project
from sim.results import Hist, hist_quantile
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
FRAMES = ("projection_frame", "targets_frame", "flows_frame", "costs_frame", "scenarios_frame", "tornado_frame",
          "tiers_frame", "ranking_frame")


def frames(res):
    return {f: getattr(res, f)() for f in FRAMES}


def assert_same(a, b):
    for f in FRAMES:
        pd.testing.assert_frame_equal(a[f], b[f], check_exact=True, obj=f)


@pytest.fixture(scope="module")
def toy():
    sc = load_scenario(ROOT / "tests/data/toy/toy.toml")
    return sc, fit(sc, chains=16, steps=150, max_rounds=4)


@pytest.fixture(scope="module")
def cixi():
    """Cixi (two sub-units, targets on both) with a short fit and two scenarios."""
    sc = load_scenario(ROOT / "scenarios/cixi.toml")
    sc = dataclasses.replace(sc, policies=sc.policies[:2])
    return sc, fit(sc, chains=16, steps=150, max_rounds=4)


def test_the_chunk_size_changes_no_number_on_the_toy(toy):
    sc, cal = toy
    runs = [frames(project(sc, cal, n_paths=1050, seed=3, block=200, chunk=k)) for k in (1, 2, 6)]
    assert len(block_layout(1050, 200)) == 6
    for other in runs[1:]:
        assert_same(runs[0], other)


def test_the_chunk_size_changes_no_number_with_sub_units(cixi):
    sc, cal = cixi
    a = project(sc, cal, n_paths=900, seed=11, block=250, chunk=1)
    b = project(sc, cal, n_paths=900, seed=11, block=250, chunk=4)
    assert a.hists and a.cells          # sub-units without a target are counted, those with one kept
    assert_same(frames(a), frames(b))


def test_counted_sub_unit_summaries_are_those_of_the_paths(cixi):
    """The projection of a counted sub-unit indicator equals np.quantile and the mean of its
    values simulated again path by path."""
    sc, cal = cixi
    res = project(sc, cal, n_paths=700, seed=2, block=300)
    (pol, unit, ind), h = next(iter(res.hists.items()))
    v = res.indicator(pol, unit, ind)           # not kept: simulated again, block by block
    assert v.shape == (len(res.years), 700)
    for y in range(len(res.years)):
        assert h.mean(y) == float(v[y].mean())
        assert np.array_equal(h.quantiles(y, (0.05, 0.1, 0.5, 0.9, 0.95)),
                              np.quantile(v[y], (0.05, 0.1, 0.5, 0.9, 0.95)))


def test_a_run_of_one_block_keeps_its_numbers(toy):
    """A run that fits in one block draws exactly the streams of a run without blocks: the
    block size does not matter as long as the run fits in one."""
    sc, cal = toy
    assert_same(frames(project(sc, cal, n_paths=500, seed=4, block=500)),
                frames(project(sc, cal, n_paths=500, seed=4, block=10_000)))


@pytest.mark.parametrize("seed", range(20))
def test_hist_quantile_is_numpy_quantile(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    v = rng.integers(-5, int(rng.integers(1, 400)), size=n)
    qs = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1.0, float(rng.random()))
    h = Hist(1)
    for part in np.array_split(v, int(rng.integers(1, 5))):
        if len(part):
            h.add(part[None])
    assert np.array_equal(h.quantiles(0, qs), np.quantile(v, qs))
    assert h.mean(0) == float(v.mean())
    lo = int(v.min())
    assert np.array_equal(hist_quantile(lo, np.bincount(v - lo), qs), np.quantile(v, qs))


def test_integer_quantiles_from_counts_are_numpys():
    """The tables' quantiles of integer paths come from counts of each row's values: the
    same numbers as numpy's (method 'linear'), bit for bit, for any dtype, offset, spread
    and row shape, medians included; a row too spread out for counting goes to numpy."""
    from sim.results import int_median, int_quantiles
    rng = np.random.default_rng(2)
    qs = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)
    for t in range(120):
        n = int(rng.integers(1, 2500))
        v = rng.poisson(rng.uniform(0, 3000), (int(rng.integers(1, 4)), n))
        v = v.astype([np.int64, np.int32, np.uint16][t % 3])
        if t % 5 == 0:
            v = v.astype(np.int64) - int(rng.integers(0, 5000))          # negative values (differences)
        if t % 7 == 0:
            v[..., 0] = np.iinfo(v.dtype).max                          # one outlier: counted by numpy
        assert np.array_equal(int_quantiles(v, qs), np.quantile(v, qs, axis=-1))
        assert np.array_equal(int_quantiles(v[0], 0.9), np.quantile(v[0], 0.9))
        assert all(int_median(r) == float(np.median(r)) for r in v)
