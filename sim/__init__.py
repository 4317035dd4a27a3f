"""sim: cohort simulation and forecasting of science & technology enterprise tiers.

The pipeline reads off the module names: ``scenario`` (TOML -> validated spec),
``data`` (the observation ledger), ``structure`` (tiers, moves, indicators),
``params`` (priors and transforms), ``levers``, ``engine`` (numpy kernels),
``calibrate`` (fit -> Calibration), ``project`` (Monte Carlo -> Results),
``figures`` and ``report`` (the run folder), ``cli``.
"""

__version__ = "0.1.0"
