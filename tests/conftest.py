import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SCENARIOS = ROOT / "scenarios"


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "seeds").is_dir():
        pytest.skip("../shared/seeds is not beside the checkout")
    return SHARED


@pytest.fixture
def workdir(tmp_path):
    """A copy of scenarios/ and calibration/ that a test may break."""
    for d in ("scenarios", "calibration"):
        shutil.copytree(ROOT / d, tmp_path / d, ignore=shutil.ignore_patterns("fitted"))
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.fixture(scope="session")
def yuyao_results():
    from sim.calibrate import fit
    from sim.project import project
    from sim.scenario import load_scenario
    sc = load_scenario(SCENARIOS / "yuyao.toml")
    cal = fit(sc, draws=1000)
    return project(sc, cal, n_paths=2000)


@pytest.fixture(scope="session")
def yuyao_run(yuyao_results, tmp_path_factory):
    """The Yuyao results written to a run folder (tables only) and read back."""
    from sim.report import write_run
    from sim.rundata import load_run
    folder, _ = write_run(yuyao_results, tmp_path_factory.mktemp("runs"), lang="zh", figures=False)
    return load_run(folder)
