"""The CJK font for figures: Noto Sans CJK SC from the pinned ``noto-cjk-sans-otc`` package
(SIL Open Font License 1.1; its licence ships in the package's dist-info). Registered when a
figure is made, never on import; no system font is needed."""

from __future__ import annotations

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
        sub.populate(text=text + "0123456789,.%–-()（）：:")
        sub.subset(face)
        face.recalcTimestamp = False   # same text, same bytes
        face.recalcBBoxes = False
        buf = io.BytesIO()
        face.save(buf)
    return base64.b64encode(buf.getvalue()).decode("ascii")
