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
    from .data import describe
    from .observations import fit_status
    for r, fitted, why in fit_status(sc):   # the scenario file's own figures that the fit will not use
        if r.origin != "ledger" and not fitted:
            click.echo(f"not fitted: {describe(r)}: {why}")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--paths", type=click.IntRange(100, 2_000_000), default=None, help="Monte Carlo paths (default: the file's run.paths).")
@click.option("--seed", type=click.IntRange(0, None), default=None, help="Random seed (default: the file's run.seed).")
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of figures.")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
@click.option("--refit", is_flag=True, help="Fit again even if a cached fit of the same inputs exists.")
@click.option("--sensitivity", is_flag=True,
              help="Refit with priors x0.5 and x2 and alternative definitions; flag targets whose P(met) moves > 0.10.")
def run(scenario, paths, seed, out, lang, no_figures, refit, sensitivity):
    """Calibrate, project every scenario, and write a new run folder."""
    from .calibrate import cached_fit
    from .project import project
    from .report import write_run
    from .scenario import load_scenario
    try:
        sc = load_scenario(scenario)
        cal, key, reused = cached_fit(sc, seed=seed, use_cache=not refit)
        res = project(sc, cal, n_paths=paths, seed=seed)
        if sensitivity:
            import dataclasses

            from .sensitivity import sensitivity as run_sensitivity
            sens = run_sensitivity(sc, res.targets_frame(), n_paths=max(1000, (paths or sc.paths) // 2), seed=seed)
            res = dataclasses.replace(res, sensitivity=sens)
        dest = write_run(res, out, lang=lang, figures=not no_figures)
    except SimError as exc:
        _fail(exc)
    d = cal.diagnostics
    click.echo(f"calibration: {'reused the cached fit' if reused else 'fitted; cached as'} {key} "
               f"({len(cal.draws)} posterior draws, {cal.n_obs} actuals, {d['chains']} chains x "
               f"{d['rounds'] * d['steps_per_round']:,} steps; split R-hat up to {d['rhat_max']:.3f}, "
               f"minimum ESS {min(d['ess_bulk_min'], d['ess_tail_min']):,.0f}"
               + ("" if cal.converged else "; PRELIMINARY: not converged") + ")")
    for note in cal.notes:
        click.echo(f"calibration: {note}")
    for line in res.headlines(lang):
        click.echo(line)
    from .update import terminal_lines
    for line in terminal_lines(dest, lang):
        click.echo(line)
    click.echo(f"wrote {dest}")


def _labels(sc):
    units = {u: {"zh": x.zh, "en": x.en} for u, x in sc.units.items()}
    inds = {k: {"zh": v.zh, "en": v.en} for k, v in sc.structure.indicators.items()}
    return units, inds


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language of figures.")
@click.option("--refit", is_flag=True, help="Fit again even if a cached fit of the same inputs exists.")
def calibrate(scenario, out, lang, refit):
    """Fit and report: which rates the data pin down, fitted vs published values."""
    from pathlib import Path

    from . import figures as fg
    from .calibrate import cached_fit, fitted_vs_published
    from .prior_predictive import evidence, growth_table
    from .report import new_folder
    from .scenario import load_scenario
    try:
        sc = load_scenario(scenario)
        cal, key, reused = cached_fit(sc, use_cache=not refit, thorough=True)
        summ = cal.summary()
        fv = fitted_vs_published(sc, cal)
        pp, ev = growth_table(sc, seed=sc.seed), evidence(sc)
        with new_folder(Path(out) / Path(scenario).stem, "calibrate") as f:
            d = f["path"]
            summ.to_csv(d / "calibration.csv", index=False, float_format="%.6g", lineterminator="\n")
            fv.to_csv(d / "fitted.csv", index=False, float_format="%.4f", lineterminator="\n")
            pp.to_csv(d / "prior_predictive.csv", index=False, float_format="%.4f", lineterminator="\n")
            units, inds = _labels(sc)
            fg.save(fg.prior_predictive_chart(pp, ev, units, inds, sc.structure.headline, lang),
                    str(d / "prior_predictive"), svg=True)
            rate_labels = {p.name: {"zh": p.zh or p.name, "en": p.en or p.name} for p in cal.space.params}
            fg.save(fg.prior_vs_posterior(summ, rate_labels, lang).flat[0], str(d / "prior_vs_posterior"), svg=True)
            if len(fv):
                fg.save(fg.fitted_vs_published(fv, units, inds, lang).flat[0], str(d / "fitted_vs_published"), svg=True)
    except SimError as exc:
        _fail(exc)
    d = cal.diagnostics
    click.echo(f"calibration: {'reused the cached fit' if reused else 'fitted; cached as'} {key} "
               f"({d['chains']} chains x {d['rounds'] * d['steps_per_round']:,} steps; split R-hat up to "
               f"{d['rhat_max']:.3f}, minimum ESS {min(d['ess_bulk_min'], d['ess_tail_min']):,.0f}"
               + ("" if cal.converged else "; PRELIMINARY: not converged") + ")")
    for note in cal.notes:
        click.echo(f"calibration: {note}")
    click.echo(f"{'parameter':28s} {'prior 90%':>24s} {'posterior 90%':>24s} {'contraction':>11s}  label")
    for _, r in summ.iterrows():
        click.echo(f"{r.parameter:28s} {r.prior_p05:11.4g}-{r.prior_p95:<11.4g} {r.post_p05:11.4g}-{r.post_p95:<11.4g} "
                   f"{r.contraction:11.2f}  {r.label}")
    click.echo(f"wrote {f['path']}")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--until", type=int, default=None, help="Fit on actuals up to this year (default: the year before the last actual).")
@click.option("--leave-out", "leave", default=None,
              help="Withhold every actual of this district, fit on the others, and score it (leave-one-district-out).")
@click.option("--paths", type=click.IntRange(100, 2_000_000), default=4000, show_default=True)
@click.option("--seed", type=click.IntRange(0, None), default=None)
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def backtest(scenario, until, leave, paths, seed, out, lang):
    """Score the model's forecasts against actuals it did not see: fit up to a year, or
    leave a whole district out."""
    from .backtest import run_backtest
    try:
        folder, lines = run_backtest(scenario, until, leave, paths, seed, out, lang)
    except SimError as exc:
        _fail(exc)
    for line in lines:
        click.echo(line)
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--target", "target", default=None,
              help="INDICATOR@YEAR, e.g. hte_valid@2026 (default: the main unit's headline target in its latest year).")
@click.option("--unit", default=None, help="Unit (default: the scenario's main unit).")
@click.option("--prob", type=click.FloatRange(0.01, 0.99), default=0.8, show_default=True)
@click.option("--budget", type=click.FloatRange(0, None), default=None, help="Budget to the target year, 10k yuan.")
@click.option("--base", "base_name", default="baseline", show_default=True, help="Scenario the plan starts from.")
@click.option("--value", type=click.FloatRange(0, None), default=None, help="Target value (default: the ledger's target).")
@click.option("--all-levels", is_flag=True, help="Vary the city's and the province's levers too (default: the district's own).")
@click.option("--allow-cuts", is_flag=True, help="Let levers go below the base scenario's settings (default: only add).")
@click.option("--paths", type=click.IntRange(200, 200_000), default=1000, show_default=True, help="Paths inside the search.")
@click.option("--certify", "n_certify", type=click.IntRange(200, 2_000_000), default=None,
              help="Paths that certify each mix (default: the file's run.paths).")
@click.option("--seed", type=click.IntRange(0, None), default=None)
@click.option("--out", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
def goal(scenario, target, unit, prob, budget, base_name, value, all_levels, allow_cuts, paths, n_certify, seed, out,
         lang):
    """What it would take to reach a target with a stated probability, and the cheapest way."""
    from .goals import answer
    try:
        folder, sentences = answer(scenario, target, unit, prob, value, base_name=base_name, budget=budget,
                                   all_levels=all_levels, allow_cuts=allow_cuts, n_paths=paths, n_certify=n_certify,
                                   seed=seed, out=out, lang=lang)
    except SimError as exc:
        _fail(exc)
    for s in sentences:
        click.echo(s)
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("scenario", type=click.Path(dir_okay=False))
@click.option("--unit", required=True, help="Unit id, e.g. cixi or cixi_city.")
@click.option("--indicator", required=True, help="Indicator id, e.g. hte_valid.")
@click.option("--year", required=True, help="Year the figure is for, e.g. 2024.")
@click.option("--value", required=True, help="The figure, e.g. 1010 (or '> 480' for a published lower bound).")
@click.option("--source", required=True, help="Where it was published, e.g. 'bureau statistics 2025-01'.")
@click.option("--passage", default=None, help="The quoted sentence that gives the figure.")
@click.option("--kind", type=click.Choice(["actual", "target"]), default="actual", show_default=True)
@click.option("--bound", type=click.Choice(["eq", "ge"]), default=None,
              help="eq: an exact figure (default); ge: a lower bound ('more than 480').")
@click.option("--dry-run", is_flag=True, help="Check and show the block; do not change the file.")
def add(scenario, unit, indicator, year, value, source, passage, kind, bound, dry_run):
    """Add a newly published figure to a scenario file (an [[observations]] block)."""
    from .add import add_figure
    try:
        a = add_figure(scenario, unit, indicator, year, value, source, passage, kind, bound, dry_run)
    except SimError as exc:
        _fail(exc)
    if a.duplicate_of:
        click.echo(f"{scenario}: already recorded: {a.duplicate_of}; nothing added")
        return
    click.echo(f"{'would add' if dry_run else 'added'} to {scenario}:")
    for line in a.block.splitlines():
        click.echo(f"  {line}")
    for s in a.supersedes:
        click.echo(f"supersedes {s}")
    if a.row.is_actual:
        click.echo("the next run fits it" if a.fitted else f"listed in the next run, not fitted: {a.why_not}")
    for t, phrase in a.targets:
        click.echo(f"target {t.unit} {t.indicator} {t.year} {t.value:,.0f}: {phrase}")


@main.command()
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--paths", type=click.IntRange(100, 2_000_000), default=None,
              help="Paths of the reruns (default: RUN_B's).")
@click.option("--fits", type=click.Path(file_okay=False), default=None,
              help="Folder of cached fits to reuse (default: calibration/fitted, if there).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language.")
def compare(run_a, run_b, paths, fits, lang):
    """What changed between two runs, and why (new data, priors and start levels, levers, noise)."""
    from .compare import lines, write_compare
    try:
        folder, df, summary = write_compare(run_a, run_b, paths, fits, lang,
                                            progress=lambda m: click.echo(f"compare: {m}"))
    except SimError as exc:
        _fail(exc)
    changed = summary["groups_changed"]
    click.echo("changed between the runs: " + (", ".join(changed) if changed else "no inputs (Monte Carlo noise only)"))
    for note in summary["notes"]:
        click.echo(note)
    for line in lines(df, summary, lang):
        click.echo(line)
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Language.")
@click.option("--goal", "goal_folder", type=click.Path(file_okay=False), default=None,
              help="A folder written by 'sim goal' whose answers go into the report's 'what it would take'.")
def report(run_folder, lang, goal_folder):
    """Re-render a finished run's figures, report.html and report.xlsx (no simulation)."""
    from .report import rerender
    try:
        folder = rerender(run_folder, lang, goal_folder)
    except SimError as exc:
        _fail(exc)
    click.echo(f"wrote {folder / 'report.html'} and {folder / 'report.xlsx'}")


if __name__ == "__main__":
    main()
