"""sim: cohort simulation and forecasting of science & technology enterprise tiers.

The pipeline reads off the module names: ``scenario`` (TOML -> validated spec),
``data`` (the observation ledger), ``structure`` (tiers, moves, indicators),
``params`` (priors and transforms), ``levers``, ``engine`` (numpy kernels),
``calibrate`` (fit -> Calibration), ``project`` (Monte Carlo -> Results),
``figures`` and ``report`` (the run folder), ``cli``.

The Python API is the three steps the command line runs, each returning an immutable
object::

    import sim
    sc = sim.load_scenario("scenarios/yuyao.toml")     # Scenario
    cal = sim.fit(sc)                                  # Calibration
    res = sim.project(sc, cal, n_paths=2000)           # Results
    df = res.to_frame()                                # long pandas DataFrame

(``sim.project`` is the function; the module is ``sim.project`` in ``sys.modules``, as
``from sim.project import ...`` finds it.)
"""

__version__ = "0.1.0"

from pathlib import Path as _Path

from .calibrate import Calibration, cached_fit as _cached_fit
from .project import project as _project
from .results import Results
from .scenario import Scenario, load_scenario as _load_scenario

__all__ = ["Calibration", "Results", "Scenario", "fit", "load_scenario", "project", "__version__"]


def load_scenario(path: str | _Path) -> Scenario:
    """Read and validate a scenario file and every data file it names.

    Parameters
    ----------
    path : str or pathlib.Path
        A scenario file such as ``scenarios/yuyao.toml``.

    Returns
    -------
    Scenario
        The frozen specification: the unit and its sub-units, the horizon, the structure
        (tiers, flows, indicators), priors, start levels, the actuals and targets of the
        ledger, the levers and the named policies (``Scenario.policies``).

    Raises
    ------
    sim.errors.InputError
        Any problem with the inputs, in one sentence (file, key, expected, found).
    """
    return _load_scenario(path)


def fit(scenario: Scenario, *, seed: int | None = None, cache: bool = True) -> Calibration:
    """Fit the transition rates and start levels to the scenario's actuals.

    A Kalman-filter likelihood of the published figures with the priors of the
    calibration files, sampled by MCMC until every parameter has converged (split R-hat
    <= 1.01, bulk and tail ESS >= 400) or 80 rounds of 100 steps are spent, as ``sim run`` does.

    Parameters
    ----------
    scenario : Scenario
        From :func:`load_scenario`.
    seed : int, optional
        Default: the scenario file's ``run.seed``.
    cache : bool
        Reuse (and write) the fit cached under ``calibration/fitted/`` for the same inputs.

    Returns
    -------
    Calibration
        Posterior draws ``draws`` (M, n_params) on the unconstrained scale, the filtered
        state of the main unit at the last actual year T (``z_mean`` (M, K+F) firms),
        convergence diagnostics (``converged``) and ``summary()``: one row per parameter
        with prior, posterior, contraction and label.
    """
    return _cached_fit(scenario, seed=seed, use_cache=cache)[0]


def project(scenario: Scenario, calibration: Calibration, n_paths: int | None = None,
            seed: int | None = None) -> Results:
    """Project every policy of the scenario from the last actual year to the horizon.

    Integer binomial and Poisson moves of the firms in every tier, on common random
    numbers: every policy sees the same posterior draws, lever strengths and yearly shocks.

    Parameters
    ----------
    scenario : Scenario
        From :func:`load_scenario`.
    calibration : Calibration
        From :func:`fit` on the same scenario.
    n_paths : int, optional
        Number of paths P (default: the scenario file's ``run.paths``).
    seed : int, optional
        Default: the scenario file's ``run.seed``. The same seed gives the same paths.

    Returns
    -------
    Results
        ``to_frame()``: every indicator by scenario, unit and year (mean and quantiles in
        firms); ``targets_frame()``: P(target met) with its Monte Carlo error;
        ``scenarios_frame()``, ``costs_frame()`` (10k yuan), ``flows_frame()``,
        ``tiers_frame()``, ``ranking_frame()``.
    """
    return _project(scenario, calibration, n_paths=n_paths, seed=seed)
