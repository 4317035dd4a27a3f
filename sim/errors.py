"""One exception family. Every message is one sentence naming the file, the key,
what was expected and what was found (and, where we know it, the fix)."""

from __future__ import annotations

import difflib
import re
import signal


class SimError(Exception):
    """Base class of every error sim reports to a user."""


class InputError(SimError):
    """Bad input: a scenario, ledger or data file that cannot be used as it is.

    Parameters
    ----------
    file : str
        The file at fault, as the user named it (relative paths stay relative).
    key : str
        The dotted key, column or row within the file.
    expected, found : str
        What a valid value looks like, and what was there instead.
    fix : str, optional
        A hint such as "did you mean 'seed'?".
    """

    def __init__(self, file: str, key: str, expected: str, found: str, fix: str | None = None):
        file, key, found = shorten(file), shorten(key), shorten(found)
        self.file, self.key, self.expected, self.found, self.fix = file, key, expected, found, fix
        where = f"{file}: {key}" if key else f"{file}"
        msg = f"{where}: expected {expected}, got {found}"
        if fix:
            msg += f"; {fix}"
        super().__init__(sentence(msg))


class Interrupted(BaseException):
    """Ctrl-C or a termination signal: the work stops, temporary files are removed.

    A BaseException (like KeyboardInterrupt) so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"interrupted by signal {signum}")


class SignalHandler:
    """What ``sim``'s commands install for SIGINT and SIGTERM (one per command): raise
    :class:`Interrupted`, and remember the signal. Python swallows an exception raised while
    a finalizer or a weakref callback runs (a garbage collection inside matplotlib, say), and
    the work would then go on as if nothing had happened; so every point that makes a result
    visible asks :func:`raise_if_interrupted` first."""

    def __init__(self):
        self.signum: int | None = None

    def __call__(self, signum, frame):
        self.signum = signum
        raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Raise :class:`Interrupted` if a signal reached the installed :class:`SignalHandler`
    (even one whose exception was swallowed); the handler table is the process's own."""
    h = signal.getsignal(signal.SIGINT)
    if isinstance(h, SignalHandler) and h.signum is not None:
        raise Interrupted(h.signum)


def sentence(msg: str) -> str:
    """``msg`` as one sentence: one line, ending in '.' (or in the '?' of a question)."""
    msg = " ".join(str(msg).split())
    msg = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", msg)
    if msg.endswith("?"):
        return msg
    return msg.rstrip(".") + "."


def shorten(text, limit: int = 160) -> str:
    """``text`` cut to about ``limit`` characters (a pasted novel is not repeated back)."""
    text = str(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit - 20]}... ({len(text):,} characters)"


def did_you_mean(name: str, choices) -> str | None:
    """Return 'did you mean 'x'?' for the closest of ``choices``, or None."""
    choices = [str(c) for c in choices]
    same_case = [c for c in choices if c.lower() == str(name).lower()]
    close = same_case or difflib.get_close_matches(str(name), choices, n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else None
