"""Reading TOML and CSV files with one-sentence errors, and validated access to tables.

Every file sim reads goes through :func:`read_toml` or :func:`read_text`, so a missing,
unreadable, non-UTF-8 or malformed file always gives the same kind of message. Only
regular files are read (never a device, FIFO or socket, which could block or never end),
and at most :data:`MAX_FILE_BYTES` of them. Every string of a TOML file is checked by
:func:`check_text` (no control characters, no formula between two '$', a bounded length).
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from pathlib import Path

from .errors import InputError, did_you_mean

MAX_FILE_BYTES = 64 * 1024 * 1024   # a ledger of a whole province is a few MB
MAX_TEXT = 10_000                    # characters in one text field (a quoted passage is a few hundred)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")   # what Excel and XML cannot hold
_PATH_HOSTILE = re.compile(r"[\x00-\x1f\x7f/\\]")


def read_bytes(path: Path, shown: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or :class:`InputError`."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(shown, "", "an existing file", "no such file") from None
    except NotADirectoryError:
        raise InputError(shown, "", "an existing file", "a path through something that is not a folder") from None
    except OSError as exc:
        raise InputError(shown, "", "a readable file", f"an unreadable file ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(shown, "", "a file", "a directory")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(shown, "", "a regular file", f"a {_file_kind(st.st_mode)}")
    if st.st_size > limit:
        raise InputError(shown, "", f"a file of at most {limit // 2**20:,} MB", f"{st.st_size / 2**20:,.0f} MB")
    try:
        # O_NONBLOCK: if the file was swapped for a FIFO since the stat, opening it does not hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise InputError(shown, "", "a regular file", "something else")
            raw = fh.read(limit + 1)
    except IsADirectoryError:
        raise InputError(shown, "", "a file", "a directory") from None
    except OSError as exc:
        raise InputError(shown, "", "a readable file", f"an unreadable file ({exc.strerror})") from None
    if len(raw) > limit:
        raise InputError(shown, "", f"a file of at most {limit // 2**20:,} MB", "a larger file")
    return raw


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISCHR, "character device"),
                       (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def check_text(value: str, file: str, key: str, limit: int = MAX_TEXT) -> str:
    """Raise unless ``value`` is text sim can put in a table, a figure and a workbook:
    no control characters (tab and line breaks aside), at most one '$' (matplotlib reads
    text between two '$' as a formula), at most ``limit`` characters."""
    bad = _CONTROL.search(value)
    if bad:
        raise InputError(file, key, "text without control characters",
                         f"the character U+{ord(bad.group()):04X} at position {bad.start()}", "delete it")
    if len(value) > limit:
        raise InputError(file, key, f"text of at most {limit:,} characters", f"{len(value):,} characters")
    if value.count("$") >= 2:
        raise InputError(file, key, "text with at most one '$' (figures read text between two '$' as a formula)",
                         repr(value), "write the currency as 元 or USD")
    return value


def read_text(path: Path, shown: str) -> str:
    """Return the text of ``path`` decoded as UTF-8, or raise :class:`InputError`."""
    raw = read_bytes(path, shown)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(shown, f"byte {exc.start}", "UTF-8 text", "bytes that are not UTF-8",
                         "save the file as UTF-8") from None


def read_toml(path: Path, shown: str) -> dict:
    """Parse a TOML file, turning syntax errors into one sentence."""
    text = read_text(path, shown)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(shown, "syntax", "valid TOML", f"a syntax error ({exc})") from None
    except RecursionError:
        raise InputError(shown, "syntax", "TOML nested a reasonable depth", "nesting too deep to read") from None
    _check_keys(data, shown, "")
    return data


def _check_keys(data, shown: str, where: str, depth: int = 0) -> None:
    """Every key of a TOML document may name a file (a scenario, a lever, a unit): check them."""
    if depth > 50:
        raise InputError(shown, where, "tables nested at most 50 deep", "deeper nesting")
    if isinstance(data, dict):
        for key, value in data.items():
            at = f"{where}.{key}" if where else key
            if _PATH_HOSTILE.search(key) or not key.strip() or len(key) > 200:
                raise InputError(shown, at, "a key without '/', '\\' or control characters (keys name files)", repr(key))
            _check_keys(value, shown, at, depth + 1)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            _check_keys(value, shown, f"{where}[{i}]", depth + 1)


class Table:
    """A TOML table with validated access; records which keys were read.

    ``close()`` raises for any key that was not read, with a "did you mean".
    """

    def __init__(self, data: dict, file: str, where: str = ""):
        if not isinstance(data, dict):
            raise InputError(file, where or "(top level)", "a table", _kind(data))
        self.data, self.file, self.where = data, file, where
        self._seen: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.data

    def keys(self):
        return list(self.data.keys())

    def get(self, key, types, default=..., check=None, expected=None):
        """Return ``data[key]`` after checking its type (and ``check``, a predicate)."""
        self._seen.add(key)
        if key not in self.data:
            if default is ...:
                raise InputError(self.file, self._key(key), expected or _names(types), "nothing (the key is missing)")
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in _tuple(types):
            raise InputError(self.file, self._key(key), expected or _names(types), repr(value))
        if float in _tuple(types) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, _tuple(types)):
            raise InputError(self.file, self._key(key), expected or _names(types), f"{_kind(value)} {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(self.file, self._key(key), "a finite number", repr(value))
        if isinstance(value, str):
            check_text(value, self.file, self._key(key))
        if check is not None and not check(value):
            raise InputError(self.file, self._key(key), expected or "a valid value", repr(value))
        return value

    def number(self, key, default=..., lo=None, hi=None, integer=False):
        """A number within [lo, hi]."""
        types = (int,) if integer else (int, float)
        rng = _range_text(lo, hi, integer)
        value = self.get(key, types, default, expected=rng)
        if value is None or value is default and default is not ...:
            return value
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise InputError(self.file, self._key(key), rng, repr(value))
        return value

    def string(self, key, default=..., choices=None):
        value = self.get(key, str, default)
        if choices is not None and value is not default and value not in choices:
            hint = did_you_mean(value, choices)
            raise InputError(self.file, self._key(key), "one of " + ", ".join(map(repr, sorted(choices))),
                             repr(value), hint)
        return value

    def strings(self, key, default=..., choices=None):
        value = self.get(key, list, default, expected="a list of strings")
        if value is default and default is not ...:
            return value
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise InputError(self.file, f"{self._key(key)}[{i}]", "a string", f"{_kind(item)} {item!r}")
            check_text(item, self.file, f"{self._key(key)}[{i}]")
            if choices is not None and item not in choices:
                raise InputError(self.file, f"{self._key(key)}[{i}]", "one of " + ", ".join(map(repr, sorted(choices))),
                                 repr(item), did_you_mean(item, choices))
        return list(value)

    def pair(self, key, default=..., lo=None, hi=None, ordered=True):
        """A [low, high] pair with lo <= low (<= high if ordered) <= hi."""
        bounds = (f" from {lo:g} to {hi:g}" if lo is not None and hi is not None else
                  f" >= {lo:g}" if lo is not None else f" <= {hi:g}" if hi is not None else "")
        expected = (f"[low, high], two finite numbers{bounds} with low <= high" if ordered
                    else f"[a, b], two finite numbers{' each' if bounds else ''}{bounds}")
        value = self.get(key, list, default, expected=expected)
        if value is default and default is not ...:
            return value
        if (len(value) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise InputError(self.file, self._key(key), expected, repr(value))
        if not all(math.isfinite(v) for v in value):
            raise InputError(self.file, self._key(key), expected, repr(value))
        low, high = float(value[0]), float(value[1])
        if ordered and low > high:
            raise InputError(self.file, self._key(key), expected, repr(value), "swap the two numbers")
        if (lo is not None and min(low, high) < lo) or (hi is not None and max(low, high) > hi):
            raise InputError(self.file, self._key(key), expected, repr(value))
        return (low, high)

    def table(self, key, default=...):
        value = self.get(key, dict, default, expected="a table")
        if value is default and default is not ...:
            return value
        return Table(value, self.file, self._key(key))

    def tables(self, key, default=...):
        """An array of tables ([[key]])."""
        value = self.get(key, list, default, expected="an array of tables")
        if value is default and default is not ...:
            return value
        return [Table(v, self.file, f"{self._key(key)}[{i}]") for i, v in enumerate(value)]

    def close(self, allowed=None):
        """Raise on any key that was never read (an unknown key)."""
        known = set(allowed) if allowed is not None else self._seen
        for key in self.data:
            if key not in known and key not in self._seen:
                choices = known | self._seen
                raise InputError(self.file, self._key(key), "one of " + ", ".join(sorted(choices)) if choices
                                 else "no key here", f"unknown key '{key}'", did_you_mean(key, choices))


def _tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _names(types):
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table", bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in _tuple(types))


def _kind(value):
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "table"}.get(
        type(value), type(value).__name__)


def _range_text(lo, hi, integer):
    what = "an integer" if integer else "a number"
    if lo is not None and hi is not None:
        return f"{what} with {lo} <= value <= {hi}"
    if lo is not None:
        return f"{what} >= {lo}"
    if hi is not None:
        return f"{what} <= {hi}"
    return what
