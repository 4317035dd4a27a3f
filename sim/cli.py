"""The command line: a thin click group over the public API. Every input error prints one
line and exits with status 2; nothing is written to results/ when the input is bad."""

from __future__ import annotations

import sys

import click

from .errors import SimError


def _fail(exc: SimError):
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group()
@click.version_option(package_name="sim")
def main():
    """sim: will the district reach its action-plan targets, how likely, and at what cost?"""


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
def check(scenario):
    """Validate a scenario file and every data file it names (no simulation)."""
    from .scenario import load_scenario
    try:
        sc = load_scenario(scenario)
    except SimError as exc:
        _fail(exc)
    click.echo(f"{scenario}: ok: unit {sc.unit} ({len(sc.parts)} sub-units), {len(sc.policies)} scenarios, "
               f"{len(sc.levers)} levers, {len(sc.targets)} targets, "
               f"{sum(len(sc.actuals(u)) for u in sc.fit_units)} actuals to fit")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--paths", type=click.IntRange(100, 2_000_000), default=None, help="Monte Carlo paths (default: the file's run.paths).")
@click.option("--seed", type=click.IntRange(0, None), default=None, help="Random seed (default: the file's run.seed).")
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of figures.")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
@click.option("--refit", is_flag=True, help="Fit again even if a cached fit of the same inputs exists.")
def run(scenario, paths, seed, out, lang, no_figures, refit):
    """Calibrate, project every scenario, and write a new run folder."""
    from .calibrate import cached_fit
    from .project import project
    from .report import write_run
    from .scenario import load_scenario
    try:
        sc = load_scenario(scenario)
        cal, key, reused = cached_fit(sc, seed=seed, use_cache=not refit)
        res = project(sc, cal, n_paths=paths, seed=seed)
        dest = write_run(res, out, lang=lang, figures=not no_figures)
    except SimError as exc:
        _fail(exc)
    click.echo(f"calibration: {'reused the cached fit' if reused else 'fitted; cached as'} {key} "
               f"({len(cal.draws)} posterior draws, {cal.n_obs} actuals)")
    for note in cal.notes:
        click.echo(f"calibration: {note}")
    for line in res.headlines(lang):
        click.echo(line)
    click.echo(f"wrote {dest}")


@main.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language.")
def report(run_folder, lang):
    """Re-render a finished run's figures, report.html and report.xlsx (no simulation)."""
    from .report import rerender
    try:
        folder = rerender(run_folder, lang)
    except SimError as exc:
        _fail(exc)
    click.echo(f"wrote {folder / 'report.html'} and {folder / 'report.xlsx'}")


if __name__ == "__main__":
    main()
