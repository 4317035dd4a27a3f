"""The CJK font for figures: Noto Sans CJK SC from the pinned ``noto-cjk-sans-otc`` package
(SIL Open Font License 1.1; its licence ships in the package's dist-info). Registered when a
figure is made, never on import; no system font is needed."""

from __future__ import annotations

FAMILY = "Noto Sans CJK SC"
_done = False


def use_cjk_font() -> str:
    """Register the bundled font with matplotlib (once) and make it the default family."""
    global _done
    import matplotlib
    from matplotlib import font_manager

    if not _done:
        import noto_cjk_sans_otc
        font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
        _done = True
    matplotlib.rcParams["font.family"] = [FAMILY]
    matplotlib.rcParams["axes.unicode_minus"] = True
    matplotlib.rcParams["svg.hashsalt"] = "sim"
    return FAMILY
