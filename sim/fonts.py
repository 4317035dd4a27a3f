"""The CJK font for figures: Noto Sans CJK SC from the pinned ``noto-cjk-sans-otc`` package
(SIL Open Font License 1.1; its licence ships in the package's dist-info). Registered when a
figure is made, never on import; no system font is needed."""

from __future__ import annotations

import contextlib
import os
import re
from functools import lru_cache
from pathlib import Path

FAMILY = "Noto Sans CJK SC"


def use_cjk_font() -> str:
    """Register the bundled font with matplotlib (once: matplotlib's font list says whether it
    is there) and make it the default family."""
    import matplotlib
    import noto_cjk_sans_otc
    from matplotlib import font_manager

    path = str(noto_cjk_sans_otc.FONT_PATH)
    if not any(f.fname == path for f in font_manager.fontManager.ttflist):
        font_manager.fontManager.addfont(path)
    matplotlib.rcParams["font.family"] = [FAMILY]
    matplotlib.rcParams["axes.unicode_minus"] = True
    matplotlib.rcParams["svg.hashsalt"] = "sim"
    return FAMILY


def subset_font_base64(text: str) -> str:
    """The SC face of the bundled font, subset to the characters of ``text``, as base64 OTF.

    Lets report_<lang>.html carry its own Chinese font (a few hundred kB) so it renders the same
    on a machine with no CJK font. fontTools comes with matplotlib. Only the kerning of the
    layout features is kept (the page is horizontal text; the others pull in vertical and
    alternate forms, doubling the glyphs and the time), and the bounding boxes are the font's
    own (not recomputed for the subset: the same look, in a fraction of the time).
    """
    import base64
    import io

    import noto_cjk_sans_otc
    from fontTools import subset
    from fontTools.ttLib import TTCollection

    with open(noto_cjk_sans_otc.FONT_PATH, "rb") as fh:
        coll = TTCollection(fh, lazy=True)
        face = next(f for f in coll.fonts if FAMILY in str(f["name"].getDebugName(4)))
        opts = subset.Options()
        opts.name_IDs = ["*"]
        opts.notdef_outline = True
        opts.layout_features = ["kern"]
        sub = subset.Subsetter(opts)
        sub.populate(text=text + EXTRA_CHARS)
        sub.subset(face)
        face.recalcTimestamp = False   # same text, same bytes
        face.recalcBBoxes = False
        buf = io.BytesIO()
        face.save(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")


EXTRA_CHARS = "0123456789,.%–-()（）：:"
# A subset is a pure function of the font file, fontTools, the options above and the text;
# bump SUBSET_VERSION when the options change (older entries are then never read again).
SUBSET_VERSION = "1"
MAX_CACHED = 16                  # entries kept in a cache folder (the least recently used go)
MAX_CACHED_BYTES = 32 << 20      # a cache file larger than this is not read
_B64 = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def _font_sha256() -> str:
    import noto_cjk_sans_otc
    path = str(noto_cjk_sans_otc.FONT_PATH)
    st = os.stat(path)
    return _file_sha256(path, st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    import hashlib
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def subset_key(text: str) -> str:
    """The cache key of the subset of ``text``: the font file's SHA-256, fontTools' version,
    :data:`SUBSET_VERSION` and the characters, hashed."""
    import hashlib

    import fontTools
    what = "\n".join([_font_sha256(), fontTools.version, SUBSET_VERSION, "".join(sorted(set(text + EXTRA_CHARS)))])
    return hashlib.sha256(what.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def cached_subset(cache: Path, key: str) -> str | None:
    """The subset stored under ``key`` in the folder ``cache``, or None when there is none or it
    is damaged (then it is computed again and stored anew). A file holds a header line with
    the SHA-256 of its base64 body, which must be a whole OpenType font ('OTTO') in base64:
    whatever it holds, nothing but base64 text ever reaches the page."""
    import hashlib
    import stat
    path = Path(cache) / f"font-{key}.b64"
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= MAX_CACHED_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    head, _, body = data.partition(b"\n")
    if (head != b"sim-font-subset " + hashlib.sha256(body).hexdigest().encode("ascii")
            or not body.startswith(b"T1RUTw") or not _B64.fullmatch(body) or len(body) % 4):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)   # recently used: kept when the folder is trimmed
    return body.decode("ascii")


def store_subset(cache: Path, key: str, font: str) -> bool:
    """Store the base64 subset ``font`` under ``key`` in the folder ``cache`` (made if need be):
    written to a temporary file and renamed into place, so a reader sees the whole file or
    none; then only the :data:`MAX_CACHED` most recently used entries are kept. A cache that
    cannot be written is skipped (returns False): it only saves time."""
    import hashlib
    import tempfile
    cache = Path(cache)
    body = font.encode("ascii")
    if cached_subset(cache, key) == font:
        return True
    tmp = None
    try:
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-font-{os.getpid()}-", dir=cache)
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"sim-font-subset " + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n" + body)
        os.chmod(tmp, 0o644)
        os.replace(tmp, cache / f"font-{key}.b64")
        tmp = None
        _trim(cache)
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _trim(cache: Path) -> None:
    """Keep the :data:`MAX_CACHED` most recently used entries of ``cache``, and remove the
    temporary files of writers that died."""
    from .report import remove_stale
    remove_stale(cache)
    entries = []
    for p in cache.glob("font-*.b64"):
        with contextlib.suppress(OSError):
            entries.append((p.stat().st_mtime_ns, p.name, p))
    for _, _, p in sorted(entries, reverse=True)[MAX_CACHED:]:
        with contextlib.suppress(OSError):
            p.unlink()
