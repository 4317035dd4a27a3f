"""The command line: a thin click group over the public API.

Every error a user can cause prints ONE line, in the one template of every sim error
("FILE: KEY: expected X, got Y; fix."), and exits with status 2: bad input files, bad
options (click's usage errors included), an output folder sim cannot write, a run that
cannot fit in memory. Nothing is left in results/ by a run that fails or is interrupted:
Ctrl-C and SIGTERM print "interrupted; nothing written" and exit 130 (SIGINT) or 143
(SIGTERM) after the temporary folder is removed. An internal error (a bug) prints one
line and exits 1; set SIM_DEBUG=1 to see its traceback.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import os
import re
import signal
import sys
import threading
from pathlib import Path

import click

from .add import add_figure
from .backtest import run_backtest
from .compare import screen as compare_screen, write_compare
from .data import describe
from .errors import InputError, Interrupted, SignalHandler, SimError, did_you_mean, sentence
from .goals import answer
from .meeting import calibration_lines, run_screen
from .observations import fit_status
from .progress import stage
from .report import check_writable, rerender, run_scenario, write_calibration
from .resources import check_memory
from .scenario import BASE_POLICY, load_scenario
from .text import tr

EXIT_INPUT, EXIT_BUG = 2, 1


# ---------------------------------------------------------------------------------------
# option types whose errors follow the template
# ---------------------------------------------------------------------------------------

class Number(click.ParamType):
    """A finite number (integer if ``integer``) within [lo, hi]."""

    def __init__(self, lo=None, hi=None, integer=False, say_hi=True):
        self.lo, self.hi, self.integer, self.say_hi = lo, hi, integer, say_hi
        self.name = "integer" if integer else "number"

    def expected(self) -> str:
        what = "an integer" if self.integer else "a finite number"
        fmt = (lambda v: f"{v:,}") if self.integer else (lambda v: f"{v:g}")
        if self.lo is not None and self.hi is not None and not self.say_hi:
            return f"{what} >= {fmt(self.lo)} (below 2**63)"
        if self.lo is not None and self.hi is not None:
            return f"{what} from {fmt(self.lo)} to {fmt(self.hi)}"
        if self.lo is not None:
            return f"{what} >= {fmt(self.lo)}"
        if self.hi is not None:
            return f"{what} <= {fmt(self.hi)}"
        return what

    def parse(self, value):
        """The number a value spells (ValueError or OverflowError if it spells none)."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        text = str(value).strip()
        pattern = r"[+-]?[0-9][0-9_]*" if self.integer else \
            r"[+-]?([0-9][0-9_]*\.?[0-9_]*|\.[0-9]+)([eE][+-]?[0-9]+)?"
        if not re.fullmatch(pattern, text):
            raise ValueError(text)
        return int(text) if self.integer else float(text)

    def convert(self, value, param, ctx):
        try:
            v = self.parse(value)
        except (ValueError, OverflowError):
            self.fail(f"expected {self.expected()}, got {_quote(value)}", param, ctx)
        if not self.integer and not math.isfinite(v):
            self.fail(f"expected {self.expected()}, got {_quote(value)}", param, ctx)
        if (self.lo is not None and v < self.lo) or (self.hi is not None and v > self.hi):
            self.fail(f"expected {self.expected()}, got {_quote(value)}", param, ctx)
        return v


class OneOf(click.ParamType):
    name = "choice"

    def __init__(self, *choices):
        self.choices = choices

    def convert(self, value, param, ctx):
        if value in self.choices:
            return value
        hint = did_you_mean(value, self.choices)
        self.fail(f"expected one of {', '.join(self.choices)}, got {_quote(value)}" + (f"; {hint}" if hint else ""),
                  param, ctx)

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(self.choices) + "]"


def _quote(value) -> str:
    text = str(value)
    if len(text) > 60:
        text = text[:50] + "..."
    return repr(text)


PATHS = Number(100, 2_000_000, integer=True)
SEED = Number(0, 2**63 - 1, integer=True, say_hi=False)
LANG = OneOf("zh", "en")


# ---------------------------------------------------------------------------------------
# the group: one line per error, signals, exit codes
# ---------------------------------------------------------------------------------------

class SimGroup(click.Group):
    """A click group whose every failure is one line (see the module docstring)."""

    def resolve_command(self, ctx, args):
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            raise InputError(ctx.command_path, "COMMAND", "one of " + ", ".join(sorted(self.commands)),
                             _quote(name), did_you_mean(name, self.commands))
        return super().resolve_command(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        code = self._main(args, "sim", complete_var, **extra)
        if standalone_mode:
            if code > 128:   # interrupted: a library's half-finished writer says nothing at exit
                sys.unraisablehook = _silent
            # the process ends here: everything is written and closed, and the interpreter's
            # last collection over every object of a run (tables, figures) would take 0.2 s
            gc.freeze()
            sys.exit(code)
        return code

    def _main(self, args, prog_name, complete_var, **extra) -> int:
        argv = list(sys.argv[1:] if args is None else args)
        try:
            with _signals():
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except (Interrupted, KeyboardInterrupt, click.Abort, Exception) as exc:   # noqa: BLE001
            return _failure(exc, argv, self.commands)


def _silent(unraisable) -> None:
    """After "interrupted; nothing written": what a generator or file object abandoned in the
    middle of a write reports while the interpreter exits (``Exception ignored in ...``) is
    noise (the run's temporary folder is already removed)."""


_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())   # click >= 8.2: 'sim' alone shows the help


def _failure(exc: BaseException, argv: list, commands) -> int:
    """Print the one line of a failed command (see the module docstring); its exit status."""
    if isinstance(exc, (Interrupted, KeyboardInterrupt, click.Abort)):
        signum = getattr(exc, "signum", None)
        if signum is None and isinstance(exc, click.Abort) and isinstance(exc.__context__, Interrupted):
            signum = exc.__context__.signum
        return _interrupted(signum or signal.SIGINT)
    if isinstance(exc, _NO_ARGS):
        click.echo(exc.ctx.get_help())
        return 0
    if isinstance(exc, click.UsageError):
        command = next((a for a in argv if a in commands), None)
        _err("error: " + _usage_sentence(exc, f"sim {command}" if command else "sim"))
        return EXIT_INPUT
    return _error(exc, bool(os.environ.get("SIM_DEBUG")))


def _interrupted(signum: int) -> int:
    _err("interrupted; nothing written")
    return 128 + signum


def _error(exc: Exception, debug: bool) -> int:
    """An error that is not about the command line's syntax: input, memory, files, or a bug."""
    if isinstance(exc, SimError):
        _err(f"error: {exc}")
        return EXIT_INPUT
    if isinstance(exc, MemoryError):
        _err("error: --paths: expected a run that fits in this machine's memory, got out of memory; "
             "use fewer --paths.")
        return EXIT_INPUT
    if isinstance(exc, BrokenPipeError):
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    if isinstance(exc, OSError) and not debug:
        _err("error: " + sentence(f"{exc.filename or 'output'}: expected a file sim can read or write, got "
                                  f"{exc.strerror or type(exc).__name__}; nothing written"))
        return EXIT_INPUT
    return _other_error(exc, debug)


def _other_error(exc: Exception, debug: bool) -> int:
    if isinstance(exc, click.ClickException) and not isinstance(exc, OSError):
        _err("error: " + sentence(exc.format_message()))
        return EXIT_INPUT
    signum = _interrupted_inside(exc)
    if signum is not None:   # Ctrl-C landed inside compiled code (numba): still an interrupt
        return _interrupted(signum)
    if debug:
        raise exc
    msg = " ".join(str(exc).split())[:200]   # a bug: still one line, never a traceback
    _err("error: " + sentence(f"internal error ({type(exc).__name__}: {msg}); nothing written; "
                              "rerun with SIM_DEBUG=1 for the traceback and report it"))
    return EXIT_BUG


def _interrupted_inside(exc: BaseException) -> int | None:
    """The signal number when ``exc`` was caused by an interrupt (a SystemError of compiled
    code that returned while the signal handler's exception was set), else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Interrupted):
            return exc.signum or signal.SIGINT
        if isinstance(exc, KeyboardInterrupt):
            return signal.SIGINT
        exc = exc.__cause__ or exc.__context__
    return None



def _err(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        click.echo(line, err=True)


def _usage_sentence(exc: click.UsageError, fallback: str = "sim") -> str:
    ctx = exc.ctx
    cmd = ctx.command_path if ctx is not None else fallback
    if cmd == "sim" and fallback != "sim":   # an option error is reported with the group's context
        cmd = fallback
    if isinstance(exc, (click.NoSuchOption, click.MissingParameter, click.BadParameter)):
        return _option_sentence(exc, cmd)
    msg = exc.format_message()
    if isinstance(exc, click.BadOptionUsage):
        if "requires an argument" in msg:
            return sentence(f"{cmd}: {exc.option_name}: expected a value after the option, got nothing")
        return sentence(f"{cmd}: {exc.option_name}: {msg}")
    m = re.match(r"Got unexpected extra arguments? \((.*)\)", msg)
    if m:
        return sentence(f"{cmd}: arguments: expected only the ones in '{cmd} --help', got an extra {_quote(m.group(1))}")
    return sentence(f"{cmd}: {msg}")


def _option_sentence(exc: click.UsageError, cmd: str) -> str:
    """An unknown option, a missing argument or a bad value, in the one template."""
    ctx = exc.ctx
    if isinstance(exc, click.NoSuchOption):
        opts = sorted({o for p in (ctx.command.params if ctx else []) for o in p.opts if o.startswith("-")}
                      | {"--help"})
        hint = did_you_mean(exc.option_name, opts)
        return sentence(f"{cmd}: {exc.option_name}: expected one of {', '.join(opts)}, got an unknown option"
                        + (f"; {hint}" if hint else ""))
    p = exc.param
    if isinstance(exc, click.MissingParameter):
        name = (p.opts[0] if p.opts and p.opts[0].startswith("-") else p.human_readable_name) if p else "argument"
        what = {"scenario": "a scenario file", "run_folder": "a run folder"}.get(getattr(p, "name", ""), "a value")
        return sentence(f"{cmd}: {name}: expected {what}, got nothing")
    name = (p.opts[0] if p.opts and p.opts[0].startswith("-") else p.human_readable_name) if p else \
        (exc.param_hint or "option")
    msg = exc.message
    text = msg if msg.startswith("expected") else f"expected a valid value, got {msg[0].lower() + msg[1:]}"
    return sentence(f"{cmd}: {name}: {text}")


def _child_defaults() -> None:
    """In a forked worker (figure and sampler pools): Ctrl-C is the parent's to report, so it
    is ignored, and SIGTERM (how the parent stops its pool) ends the worker at once. A child
    inherits the parent's handler table, so the handler itself says whether :func:`_signals`
    was in force at the fork: no flag of our own."""
    if isinstance(signal.getsignal(signal.SIGINT), SignalHandler):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


# Process-global by nature: signal handlers and fork hooks belong to the process, and the
# hook takes no arguments; it reads only the inherited handler table (see _child_defaults).
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_child_defaults)


@contextlib.contextmanager
def _signals():
    """SIGINT and SIGTERM raise :class:`Interrupted` in this process, so that every
    ``finally`` and cleanup runs (see :func:`_child_defaults` for forked workers); one that
    Python swallows (raised inside a finalizer) is still seen at the next commit point
    (:func:`sim.errors.raise_if_interrupted`), and its "Exception ignored" report is not shown."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler, hook = SignalHandler(), sys.unraisablehook
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    sys.unraisablehook = functools.partial(_unraisable, hook)
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for s, h in old.items():
            signal.signal(s, h)


def _unraisable(hook, unraisable) -> None:
    """An interrupt swallowed inside a finalizer is reported by its commit point, not here."""
    if not isinstance(unraisable.exc_value, Interrupted):
        hook(unraisable)


@click.group(cls=SimGroup)
@click.version_option(package_name="sim")
def main():
    """sim: will the district reach its action-plan targets, how likely, and at what cost?"""


def _prepare(scenario: str, out: str | None, paths: int | None = None, what: str = "run", extra: float = 0.0):
    """Load and check the scenario, then (before any work) the output folder and memory."""
    sc = load_scenario(scenario)
    if what != "calibrate":
        # 'sim goal' certifies its answer with the file's run.paths
        n = max(paths or 0, sc.paths) if what == "goal" else (paths or sc.paths)
        n = int(n * (1 + extra))   # --sensitivity projects again at half the paths beside the kept run
        check_memory(sc, n, shown=scenario, option="--paths" if paths else "run.paths")
    if out is not None:
        stem = Path(scenario).stem
        if not stem or stem.startswith("."):
            raise InputError(scenario, "", "a file name that does not start with '.' (it names the results folder)",
                             repr(Path(scenario).name))
        check_writable(Path(out) / stem, out)
    return sc


def _fit_note(line: str) -> None:
    click.echo(f"calibration: {line}")


def _echo(lines) -> None:
    for line in lines:
        click.echo(line)


@main.command()
@click.argument("scenario")
def check(scenario):
    """Validate a scenario file and every data file it names (no simulation)."""
    sc = load_scenario(scenario)
    click.echo(f"{scenario}: ok: unit {sc.unit} ({len(sc.parts)} sub-units), {len(sc.policies)} scenarios, "
               f"{len(sc.levers)} levers, {len(sc.targets)} targets, "
               f"{sum(len(sc.actuals(u)) for u in sc.fit_units)} actuals to fit")
    # the scenario file's own figures that the fit will not use
    _echo(f"not fitted: {describe(r)}: {why}" for r, fitted, why in fit_status(sc) if r.origin != "ledger" and not fitted)


@main.command()
@click.argument("scenario")
@click.option("--paths", type=PATHS, default=None, help="Monte Carlo paths (default: the file's run.paths).")
@click.option("--seed", type=SEED, default=None, help="Random seed (default: the file's run.seed).")
@click.option("--out", default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=LANG, default="zh", show_default=True, help="Language of the terminal, figures and report.")
@click.option("--no-figures", is_flag=True, help="Write the tables only.")
@click.option("--all-figures", is_flag=True, help="Draw every figure, not only those the report shows.")
@click.option("--svg", is_flag=True, help="Also write the fan charts as SVG (for slides).")
@click.option("--refit", is_flag=True, help="Fit again even if a cached fit of the same inputs exists.")
@click.option("--sensitivity", is_flag=True,
              help="Refit with priors x0.5 and x2 and alternative definitions; flag targets whose P(met) moves > 0.10.")
@click.option("-v", "--verbose", is_flag=True, help="Also print every target and scenario, and the calibration notes.")
def run(scenario, paths, seed, out, lang, no_figures, all_figures, svg, refit, sensitivity, verbose):
    """Calibrate, project every scenario, and write a new run folder."""
    sc = _prepare(scenario, out, paths, extra=0.5 if sensitivity else 0.0)
    dest, reused, rd = run_scenario(sc, out, paths=paths, seed=seed, lang=lang, figures=not no_figures, refit=refit,
                                sensitivity=sensitivity, notify=_fit_note, every=all_figures, svg=svg)
    _echo(run_screen(dest, lang, reused, verbose, rd))


@main.command()
@click.argument("scenario")
@click.option("--out", default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=LANG, default="zh", show_default=True, help="Language of the output and figures.")
@click.option("--refit", is_flag=True, help="Fit again even if a cached fit of the same inputs exists.")
def calibrate(scenario, out, lang, refit):
    """Fit and report: which rates the data pin down, fitted vs published values, and the
    growth the priors alone imply against the regional evidence."""
    sc = _prepare(scenario, out, what="calibrate")
    folder, cal, summ, key, reused = write_calibration(sc, Path(out) / Path(scenario).stem, lang, refit,
                                                       notify=_fit_note)
    _echo(calibration_lines(sc, cal, summ, key, reused, lang))
    click.echo(tr("cal_wrote", lang, path=folder))


@main.command()
@click.argument("scenario")
@click.option("--until", type=Number(1990, 2100, integer=True), default=None,
              help="Fit on actuals up to this year (default: the year before the last actual).")
@click.option("--leave-out", "leave", default=None,
              help="Withhold every actual of this district, fit on the others, and score it (leave-one-district-out).")
@click.option("--paths", type=PATHS, default=4000, show_default=True)
@click.option("--seed", type=SEED, default=None)
@click.option("--out", default="results", show_default=True, help="Results folder.")
@click.option("--lang", type=LANG, default="zh", show_default=True)
def backtest(scenario, until, leave, paths, seed, out, lang):
    """Score the model's forecasts against actuals it did not see: fit up to a year, or
    leave a whole district out."""
    _prepare(scenario, out, paths)
    with stage(tr("stage_backtest", lang)):
        folder, lines = run_backtest(scenario, until, leave, paths, seed, out, lang)
    _echo(lines)
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("scenario")
@click.option("--target", "target", default=None,
              help="INDICATOR@YEAR, an indicator of the structure file and a year (default: the main unit's headline target in its latest year).")
@click.option("--unit", default=None, help="Unit (default: the scenario's main unit).")
@click.option("--prob", type=Number(0.01, 0.99), default=0.8, show_default=True)
@click.option("--budget", type=Number(0, None), default=None, help="Budget to the target year, 10k yuan.")
@click.option("--base", "base_name", default=BASE_POLICY, show_default=True, help="Scenario the plan starts from.")
@click.option("--value", type=Number(0, None), default=None, help="Target value (default: the ledger's target).")
@click.option("--all-levels", is_flag=True, help="Vary the city's and the province's levers too (default: the district's own).")
@click.option("--allow-cuts", is_flag=True, help="Let levers go below the base scenario's settings (default: only add).")
@click.option("--paths", type=Number(200, 200_000, integer=True), default=1000, show_default=True,
              help="Paths inside the search.")
@click.option("--certify", "n_certify", type=Number(200, 2_000_000, integer=True), default=None,
              help="Paths that certify each mix (default: the file's run.paths).")
@click.option("--seed", type=SEED, default=None)
@click.option("--out", default="results", show_default=True)
@click.option("--lang", type=LANG, default="zh", show_default=True)
def goal(scenario, target, unit, prob, budget, base_name, value, all_levels, allow_cuts, paths, n_certify, seed, out,
         lang):
    """What it would take to reach a target with a stated probability, and the cheapest way."""
    _prepare(scenario, out, max(paths, n_certify or 0), what="goal")
    with stage(tr("stage_goal", lang)):
        folder, sentences = answer(scenario, target, unit, prob, value, base_name=base_name, budget=budget,
                                   all_levels=all_levels, allow_cuts=allow_cuts, n_paths=paths, n_certify=n_certify,
                                   seed=seed, out=out, lang=lang)
    _echo(sentences)
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("scenario")
@click.option("--unit", required=True, help="Unit id, e.g. cixi or cixi_city.")
@click.option("--indicator", required=True, help="Indicator id, as the structure file declares it.")
@click.option("--year", required=True, help="Year the figure is for, e.g. 2024.")
@click.option("--value", required=True, help="The figure, e.g. 1010 (or '> 480' for a published lower bound).")
@click.option("--source", required=True, help="Where it was published, e.g. 'bureau statistics 2025-01'.")
@click.option("--passage", default=None, help="The quoted sentence that gives the figure.")
@click.option("--kind", type=OneOf("actual", "target"), default="actual", show_default=True)
@click.option("--bound", type=OneOf("eq", "ge"), default=None,
              help="eq: an exact figure (default); ge: a lower bound ('more than 480').")
@click.option("--dry-run", is_flag=True, help="Check and show the block; do not change the file.")
def add(scenario, unit, indicator, year, value, source, passage, kind, bound, dry_run):
    """Add a newly published figure to a scenario file (an [[observations]] block)."""
    a = add_figure(scenario, unit, indicator, year, value, source, passage, kind, bound, dry_run)
    _echo(a.lines(scenario, dry_run))


@main.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--paths", type=PATHS, default=None, help="Paths of the reruns (default: RUN_B's).")
@click.option("--fits", default=None, help="Folder of cached fits to reuse (default: calibration/fitted, if there).")
@click.option("--lang", type=LANG, default="zh", show_default=True, help="Language.")
def compare(run_a, run_b, paths, fits, lang):
    """What changed between two runs, and why (new data, priors and start levels, levers, noise)."""
    folder, df, summary = write_compare(run_a, run_b, paths, fits, lang, progress=lambda m: click.echo(f"compare: {m}"))
    _echo(compare_screen(df, summary, lang))
    click.echo(f"wrote {folder}")


@main.command()
@click.argument("run_folder")
@click.option("--lang", type=LANG, default="zh", show_default=True, help="Language.")
@click.option("--goal", "goal_folder", default=None,
              help="A folder written by 'sim goal' whose answers go into the report's 'what it would take'.")
@click.option("--all-figures", is_flag=True,
              help="Draw every figure, not only those the report shows (kept if the run drew them).")
@click.option("--svg", is_flag=True, help="Also write the fan charts as SVG (for slides; kept if the run did).")
def report(run_folder, lang, goal_folder, all_figures, svg):
    """Re-render a finished run's figures, report_<lang>.html and report_<lang>.xlsx (no simulation)."""
    rerender(run_folder, lang, goal_folder, every=all_figures, svg=svg)
    shown = run_folder.rstrip("/") or "/"
    click.echo(f"wrote {shown}/report_{lang}.html and {shown}/report_{lang}.xlsx")


if __name__ == "__main__":
    main()
