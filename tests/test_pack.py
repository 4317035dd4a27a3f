"""The meeting pack: one screen on the terminal; report_zh.html and report_en.html side by side,
self-contained, in meeting order, numbers equal to the CSVs; a zh run is Chinese throughout;
report_<lang>.xlsx for planners with no formula cells; escaping of everything read from a file;
same seed, same bytes for every file; and the page in headless Chromium (no element wider than
the page, a print stylesheet for A4 landscape), in both languages."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]


class Scan(HTMLParser):
    """Links, images, list items, headings and visible text of a page."""

    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.alts, self.lis, self.heads, self.text = [], [], [], [], [], []
        self._li = self._h = None
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
            self.alts.append(a.get("alt", ""))
        if tag == "li":
            self._li = ""
        if tag in ("h2", "h3"):
            self._h = ""
        if tag in ("style", "script"):
            self._skip += 1

    def handle_data(self, data):
        if self._skip:
            return
        self.text.append(data)
        if self._li is not None:
            self._li += data
        if self._h is not None:
            self._h += data

    def handle_endtag(self, tag):
        if tag == "li" and self._li is not None:
            self.lis.append(self._li)
            self._li = None
        if tag in ("h2", "h3") and self._h is not None:
            self.heads.append(self._h)
            self._h = None
        if tag in ("style", "script"):
            self._skip -= 1


def scan(path):
    s = Scan()
    s.feed(path.read_text(encoding="utf-8"))
    return s


def numbers(text):
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    """A Cixi run in Chinese, then 'sim report --lang en' beside it."""
    out = tmp_path_factory.mktemp("pack")
    r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios/cixi.toml"), "--paths", "600", "--out", str(out)])
    assert r.exit_code == 0, r.output
    folder = out / "cixi" / "run-001"
    zh_before = (folder / "report_zh.html").read_bytes()
    r2 = CliRunner().invoke(main, ["report", str(folder), "--lang", "en"])
    assert r2.exit_code == 0, r2.output
    return {"folder": folder, "terminal": r.output, "zh_before": zh_before}


def test_terminal_is_one_screen_district_first(pack):
    lines = pack["terminal"].splitlines()
    assert len(lines) <= 25, pack["terminal"]
    assert lines[0].startswith("慈溪市（全市）：2026年有效高新技术企业目标1,750家")
    # the key table lists the scenarios in file order, current policy first
    labels = ["现行政策", "首次申报补助翻倍", "扩大培育库", "招引迁入高企", "组合方案"]
    rows = [next(i for i, x in enumerate(lines) if x.startswith(lab)) for lab in labels]
    assert rows == sorted(rows)
    assert sum(x.startswith(("校准：", "初步结果：")) for x in lines) == 1


@pytest.mark.parametrize("name", ["cixi", "zhenhai", "yuyao", "jiangbei"])
def test_every_shipped_scenario_fits_one_screen(name, tmp_path):
    r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios" / f"{name}.toml"), "--paths", "300", "--out",
                                  str(tmp_path), "--no-figures"])
    assert r.exit_code == 0, r.output
    assert len(r.output.splitlines()) <= 25, r.output
    assert_chinese(r.output, ids_of(tmp_path / name / "run-001"))


def test_reports_side_by_side(pack):
    f = pack["folder"]
    for lang in ("zh", "en"):
        assert (f / f"report_{lang}.html").is_file() and (f / f"report_{lang}.xlsx").is_file()
        assert list((f / "figures" / lang).glob("pipeline_*.png"))
    assert (f / "report_zh.html").read_bytes() == pack["zh_before"]   # 'sim report --lang en' kept it


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_is_self_contained_and_headlines_match_the_csvs(pack, lang):
    folder = pack["folder"]
    s = scan(folder / f"report_{lang}.html")
    assert all(x.startswith("data:") or x.startswith("#") for x in s.refs), [x[:40] for x in s.refs]
    pngs = sorted((folder / "figures" / lang).glob("*.png"))
    assert len(s.imgs) == len(pngs) and all(i.startswith("data:image/png;base64,") for i in s.imgs)
    tg = pd.read_csv(folder / "targets.csv")
    base = tg[(tg.unit == "cixi") & (tg.indicator == "hte_valid") & (tg.year == 2026) & (tg.scenario == "baseline")].iloc[0]
    first = s.lis[0]
    nums = numbers(first)
    assert 2026 in nums and 1750 in nums
    from sim.text import pct
    assert pct(base.p_met) in first and (base.p_met < 0.005 or base.p_met > 0.995 or round(100 * base.p_met) in nums)
    assert round(base["median"]) in nums and round(base.p10) in nums and round(base.p90) in nums
    if lang == "zh":
        assert first.startswith("按现行政策，2026年慈溪市（全市）有效高新技术企业达到1,750家的概率约为")
    else:
        assert "Valid High-Tech Enterprises in 2026" in first
    # the lever sentence: the cheapest scenario per extra firm, with the ranking's numbers
    rk = pd.read_csv(folder / "ranking.csv").sort_values("rank")
    best = rk[rk.cost_per_extra_p50_10k_yuan.notna()].iloc[0]
    lever = next(x for x in s.lis if ("最划算" in x if lang == "zh" else "Per yuan" in x))
    from sim.rundata import load_run
    rd = load_run(folder)
    assert rd.policy_label(best.scenario, lang) in lever
    if lang == "zh":
        assert round(best.cost_per_extra_p50_10k_yuan) in numbers(lever) and round(best.extra_p50) in numbers(lever)
    assert any(("假设" in x) if lang == "zh" else ("assumptions" in x) for x in s.lis)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_is_in_meeting_order(pack, lang):
    from sim.text import M
    s = scan(pack["folder"] / f"report_{lang}.html")
    order = [M[k][lang] for k in ("sec_answer", "sec_lever", "sec_goal", "sec_evidence", "sec_fans", "sec_pipeline",
                                  "sec_appendix", "sec_assumptions", "sec_sources")]
    pos = [s.heads.index(h) for h in order]
    assert pos == sorted(pos), s.heads
    fans = [a for a in s.alts if a.startswith("fan_")]
    assert fans[0] == "fan_cixi_hte_valid" and all(a.startswith("fan_cixi_") for a in fans)
    assert not [a for a in s.alts if a.startswith(("fan_cixi_city_", "fan_qianwan_"))]   # sub-units: small multiples
    pols = ["baseline", "double_first_application", "larger_reserve", "relocation_push", "all_levers"]
    best = pd.read_csv(pack["folder"] / "ranking.csv").sort_values(["rank", "scenario"]).scenario.iloc[0]
    assert [a for a in s.alts if a.startswith("pipeline_")] == [f"pipeline_{k:02d}_{p}" for k, p in enumerate(pols)
                                                               if p in ("baseline", best)]
    assert s.alts.index("subunits_hte_valid") < s.alts.index("pipeline_00_baseline") < s.alts.index("waterfall")
    html = (pack["folder"] / f"report_{lang}.html").read_text(encoding="utf-8")
    assert "@media print" in html and "size:A4 landscape" in html and "break-before:page" in html


# ---- everything in the run's language -------------------------------------------------------
ALLOWED = {"sim", "calibrate", "goal", "report", "html", "xlsx", "csv", "png", "txt", "seeds", "logit", "tau",
           "zh", "en", "md"}


def ids_of(folder):
    man = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    lab = man["labels"]
    ids = set(lab["units"]) | set(lab["indicators"]) | set(lab["levers"]) | set(lab["rates"]) | set(lab["flows"])
    ids |= {p["name"] for p in lab["policies"]} | set(lab.get("tiers", {}))
    ids |= set(man["inputs_sha256_16"]) | {t["indicator"] for t in man["targets_not_scored"]}
    ids |= set(pd.read_csv(folder / "sources.csv").indicator) | set(pd.read_csv(folder / "calibration.csv").parameter)
    words = set()
    for i in ids:
        words |= set(re.findall(r"[A-Za-z]+", i))
    return words


def ascii_words(text):
    return set(re.findall(r"(?<![A-Za-z0-9_])[A-Za-z]{2,}(?![A-Za-z0-9])", text))


def assert_chinese(text, ids):
    text = re.sub(r"[^\s（）]*/[^\s（）]*", " ", text)   # paths are ids
    bad = {w for w in ascii_words(text) if w not in ids and w.lower() not in ALLOWED}
    assert not bad, sorted(bad)[:30]


def test_a_zh_run_is_chinese_throughout(pack):
    folder = pack["folder"]
    ids = ids_of(folder)
    assert_chinese(pack["terminal"], ids)
    s = scan(folder / "report_zh.html")
    text = " ".join(s.text)   # (image alt texts are the figures' file names)
    # file names in the sources table are ids (e.g. seeds/000_43b2....txt)
    text = re.sub(r"\S*\.(txt|md|csv|toml)\b", " ", text)
    assert_chinese(text, ids)
    import openpyxl
    wb = openpyxl.load_workbook(folder / "report_zh.xlsx")
    assert wb.sheetnames[0] == "方案比较"
    for ws in wb.worksheets:
        assert_chinese(ws.title, ids)
        head = [c.value for c in ws[1]]
        assert_chinese(" ".join(head), ids)
    comp = wb["方案比较"]
    for row in comp.iter_rows(min_row=2, values_only=True):
        assert_chinese(" ".join(str(v) for v in row if isinstance(v, str)), ids)


def test_the_checker_finds_english():
    with pytest.raises(AssertionError):
        assert_chinese("校准：the sampler has not fully converged", set())
    assert_chinese("慈溪市 cixi 2026年 1,750家 <1%", {"cixi"})


# ---- the workbook ----------------------------------------------------------------------------
def test_xlsx_is_for_planners(pack):
    import openpyxl
    folder = pack["folder"]
    for lang, first in (("zh", "方案比较"), ("en", "Comparison")):
        wb = openpyxl.load_workbook(folder / f"report_{lang}.xlsx")
        assert wb.sheetnames[0] == first
        for ws in wb.worksheets:
            assert ws.freeze_panes == "A2", ws.title
            assert ws.auto_filter.ref, ws.title
            assert all(ws.column_dimensions[c.column_letter].width >= 8 for c in ws[1]), ws.title
            assert not [c for row in ws.iter_rows() for c in row if c.data_type == "f"], ws.title
        comp = wb[first]
        head = [c.value for c in comp[1]]
        p = head.index("达成概率（%）" if lang == "zh" else "P(met) (%)")
        cells = [r[p] for r in comp.iter_rows(min_row=2)]
        assert cells and all(c.number_format == "0.0%" for c in cells)
        m = head.index("中位数（家）" if lang == "zh" else "Median (firms)")
        assert all(r[m].number_format == "#,##0" for r in comp.iter_rows(min_row=2))
    # the targets sheet holds the CSV's numbers
    tg = pd.read_csv(folder / "targets.csv")
    sheet = pd.read_excel(folder / "report_zh.xlsx", sheet_name="全部目标")
    assert len(sheet) == len(tg)
    assert sheet["达成概率（%）"].to_numpy() == pytest.approx(tg.p_met.to_numpy())
    assert sheet["目标（家）"].to_numpy() == pytest.approx(tg.target.to_numpy())


def test_workbook_cells_keep_their_kind_and_format(tmp_path):
    """Each kind of value a table can hold, as the workbook writer stores it: text (even a
    formula-like one) as text, numbers with the column's format, an infinite number as text,
    None empty; the same values give the same bytes."""
    import io

    import openpyxl
    import xlsxwriter

    from sim.pack import _cell, _write_column

    values = [_cell(v) for v in ["=1+2", "@SUM(A1)", "慈溪\x01市", 0.25, 3, True, float("nan"), None, float("inf")]]

    def book() -> bytes:
        buf = io.BytesIO()
        wb = xlsxwriter.Workbook(buf, {"in_memory": True})
        wb.set_properties({"created": __import__("datetime").datetime(2000, 1, 1)})
        ws = wb.add_worksheet("s")
        _write_column(ws, 0, values, wb.add_format({"num_format": "0.0%"}))
        wb.close()
        return buf.getvalue()

    data = book()
    assert data == book()
    ws = openpyxl.load_workbook(io.BytesIO(data))["s"]
    cells = [ws.cell(row=i, column=1) for i in range(2, 2 + len(values))]
    assert [c.value for c in cells] == ["=1+2", "@SUM(A1)", "慈溪 市", 0.25, 3, "True", None, None, "inf"]
    assert [c.data_type for c in cells[:5]] == ["s", "s", "s", "n", "n"]
    assert cells[3].number_format == cells[4].number_format == "0.0%"
    assert cells[8].data_type == "s"


def _tamper(folder, dest):
    """A copy of a run folder whose labels, passages and manifest values are hostile."""
    shutil.copytree(folder, dest)
    man = json.loads((dest / "run.json").read_text(encoding="utf-8"))
    for p in man["labels"]["policies"]:
        if p["name"] == "larger_reserve":
            p["zh"] = "=HYPERLINK(\"http://x\",\"点\")<script>alert(1)</script>"
            p["en"] = "@SUM(A1:A9) <img src=x onerror=alert(2)>"
    man["labels"]["scenario"]["zh"] = "+cmd|' /C calc'!A0"
    man["labels"]["units"]["cixi"]["zh"] = "-2+3 慈溪"
    man["package_version"] = "</p><script>alert(3)</script>"
    (dest / "run.json").write_text(json.dumps(man, ensure_ascii=False), encoding="utf-8")
    src = pd.read_csv(dest / "sources.csv")
    src.loc[0, "passage"] = "=1+2"
    src.loc[1, "passage"] = "<b>bold</b>"
    src.to_csv(dest / "sources.csv", index=False)
    return dest


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_values_from_files_are_escaped_and_never_formulas(pack, tmp_path, lang):
    import openpyxl
    dest = _tamper(pack["folder"], tmp_path / "tampered")
    r = CliRunner().invoke(main, ["report", str(dest), "--lang", lang])
    assert r.exit_code == 0, r.output
    html = (dest / f"report_{lang}.html").read_text(encoding="utf-8")
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(3)" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    wb = openpyxl.load_workbook(dest / f"report_{lang}.xlsx")
    formulas = [(ws.title, c.coordinate) for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if c.data_type == "f"]
    assert formulas == []
    texts = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    assert "=1+2" in texts   # kept as text, shown as written


def test_a_tampered_manifest_of_the_wrong_type_is_refused(pack, tmp_path):
    dest = _tamper(pack["folder"], tmp_path / "tampered")
    man = json.loads((dest / "run.json").read_text(encoding="utf-8"))
    man["seed"] = "<img src=x onerror=alert(2)>"
    (dest / "run.json").write_text(json.dumps(man, ensure_ascii=False), encoding="utf-8")
    r = CliRunner().invoke(main, ["report", str(dest), "--lang", "en"])
    assert r.exit_code == 2 and len(r.output.strip().splitlines()) == 1 and "seed: expected an integer" in r.output


def test_same_seed_same_bytes_for_every_file(tmp_path):
    # two separate output folders: a second run in the same folder compares itself with the first
    for sub in ("a", "b"):
        r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios/yuyao.toml"), "--paths", "300", "--out",
                                      str(tmp_path / sub), "--all-figures", "--svg"])
        assert r.exit_code == 0, r.output
    a, b = tmp_path / "a" / "yuyao" / "run-001", tmp_path / "b" / "yuyao" / "run-001"
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert {"report_zh.html", "report_zh.xlsx", "run.json"} <= {str(f) for f in files}
    assert any(str(f).endswith(".svg") for f in files) and any(str(f).endswith(".png") for f in files)
    different = [str(f) for f in files if (a / f).read_bytes() != (b / f).read_bytes()]
    assert different == []


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "run.json" in r.output and "Traceback" not in r.output


def test_font_subset_covers_exactly_the_page(pack):
    from sim.pack import font_charset
    from sim.rundata import load_run
    rd = load_run(pack["folder"])
    chars = set(font_charset(rd, "zh"))
    s = scan(pack["folder"] / "report_zh.html")
    shown = set("".join(s.text)) - set(" \n\t")
    assert shown <= chars
    assert "龘" not in chars and len(chars) < 2000


def _embedded_font_cmap(html: str) -> set[int]:
    import base64
    import io

    from fontTools.ttLib import TTFont
    (data,) = re.findall(r"src:url\(data:font/otf;base64,([A-Za-z0-9+/=]+)\)", html)
    return set(TTFont(io.BytesIO(base64.b64decode(data))).getBestCmap())


def test_rare_characters_of_a_data_file_are_in_the_embedded_font(tmp_path):
    """A scenario whose district and scenario names hold rare CJK characters: the page shows
    them, and the font subset embedded in the page has a glyph for each (the subset is made
    from the rendered page, whatever file a label comes from)."""
    for d in ("scenarios", "calibration"):
        shutil.copytree(ROOT / d, tmp_path / d)
    scen = tmp_path / "scenarios" / "yuyao.toml"
    text = scen.read_text(encoding="utf-8")
    assert 'zh = "余姚市"' in text and 'zh = "组合：培育库+高企奖励"' in text
    scen.write_text(text.replace('zh = "余姚市"', 'zh = "余姚市龘鿏"').replace(
        'zh = "组合：培育库+高企奖励"', 'zh = "组合：䶮燚培育库+高企奖励"'), encoding="utf-8")
    r = CliRunner().invoke(main, ["run", str(scen), "--paths", "300", "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    page = tmp_path / "out" / "yuyao" / "run-001" / "report_zh.html"
    html = page.read_text(encoding="utf-8")
    s = scan(page)
    shown = "".join(s.text)
    assert "余姚市龘鿏" in shown and "组合：䶮燚培育库+高企奖励" in shown
    cmap = _embedded_font_cmap(html)
    assert {ord(c) for c in "龘鿏䶮燚"} <= cmap
    import noto_cjk_sans_otc
    from fontTools.ttLib import TTCollection
    with open(noto_cjk_sans_otc.FONT_PATH, "rb") as fh:
        coll = TTCollection(fh, lazy=True)
        full = set(next(f for f in coll.fonts if "Noto Sans CJK SC" in str(f["name"].getDebugName(4))).getBestCmap())
    missing = {c for c in set(shown) - set(" \n\t") if ord(c) in full and ord(c) not in cmap}
    assert not missing, sorted(missing)
    assert len(cmap) < 2000


def test_the_font_subset_cache_is_used_beside_the_run_and_never_in_it(pack, tmp_path, monkeypatch):
    """A re-render takes the page's font subset from the cache beside the run folder (its
    parent's .cache/fonts), and writes the same page as one that subsets the font anew."""
    import sim.fonts
    from sim.report import rerender
    run = tmp_path / "cixi" / "run-001"
    shutil.copytree(pack["folder"], run)
    rerender(run, "zh")
    first = (run / "report_zh.html").read_bytes()
    cached = list((tmp_path / "cixi" / ".cache" / "fonts").glob("font-*.b64"))
    assert len(cached) == 1
    assert not [p for p in run.rglob("*") if p.name.startswith(".")]

    def no_subsetting(text):
        raise AssertionError("subset again although cached")
    monkeypatch.setattr(sim.fonts, "subset_font_base64", no_subsetting)
    rerender(run, "zh")
    assert (run / "report_zh.html").read_bytes() == first == pack["zh_before"]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "not base64", "wrong checksum", "a folder", "empty"])
def test_a_damaged_font_cache_entry_is_computed_again(tmp_path, damage):
    import hashlib

    from sim import fonts
    text = "慈溪市高企2026"
    key = fonts.subset_key(text)
    good = fonts.subset_font_base64(text)
    assert fonts.store_subset(tmp_path, key, good)
    path = tmp_path / f"font-{key}.b64"
    assert fonts.cached_subset(tmp_path, key) == good
    whole = path.read_bytes()
    evil = b"T1RUTw')format('opentype');}</style><script>alert(1)</script>"
    path.unlink()
    if damage == "a folder":
        path.mkdir()
    else:
        path.write_bytes({"garbage": b"\x00\xff" * 100, "truncated": whole[:len(whole) // 2], "empty": b"",
                          "not base64": b"sim-font-subset " + hashlib.sha256(evil).hexdigest().encode() + b"\n" + evil,
                          "wrong checksum": whole.replace(b"sim-font-subset ", b"sim-font-subset 0", 1)[:len(whole)],
                          }[damage])
    assert fonts.cached_subset(tmp_path, key) is None
    if damage == "a folder":
        path.rmdir()
    assert fonts.store_subset(tmp_path, key, good)
    assert fonts.cached_subset(tmp_path, key) == good
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_the_font_cache_keeps_the_most_recently_used_entries(tmp_path):
    import os

    from sim import fonts
    font = fonts.subset_font_base64("高企")
    for k in range(fonts.MAX_CACHED):
        assert fonts.store_subset(tmp_path, f"{k:032x}", font)
        os.utime(tmp_path / f"font-{k:032x}.b64", ns=(10**18 + k, 10**18 + k))   # k=0 the oldest
    assert fonts.cached_subset(tmp_path, f"{0:032x}") == font   # used again: now the newest
    fonts.store_subset(tmp_path, "e" * 32, font)
    fonts.store_subset(tmp_path, "f" * 32, font)
    kept = {p.name[5:-4] for p in tmp_path.glob("font-*.b64")}
    assert len(kept) == fonts.MAX_CACHED and {f"{0:032x}", "e" * 32, "f" * 32} <= kept
    assert f"{1:032x}" not in kept and f"{2:032x}" not in kept


def test_an_unwritable_font_cache_is_skipped(tmp_path):
    from sim import fonts
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert fonts.store_subset(tmp_path / "file" / "fonts", "a" * 32, "T1RUTw==") is False
    assert fonts.cached_subset(tmp_path / "file" / "fonts", "a" * 32) is None


# ---- headless Chromium -------------------------------------------------------------------------
def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _chrome(args, profile, timeout=180):
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}"] + args, check=True, timeout=timeout, capture_output=True)


@pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed (Debian package 'chromium'); .ci/run installs it")
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_renders_in_headless_chromium(pack, tmp_path, lang):
    page = pack["folder"] / f"report_{lang}.html"
    # measure the laid-out page: nothing wider than the window, and its full height
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<script>document.body.setAttribute('data-over', String(document.documentElement.scrollWidth"
                   " - document.documentElement.clientWidth));document.body.setAttribute('data-height',"
                   " String(document.documentElement.scrollHeight));</script></body>"), encoding="utf-8")
    dom = _chrome(["--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
                  tmp_path / "p1").stdout.decode("utf-8", "replace")
    over = int(re.search(r'data-over="(-?\d+)"', dom).group(1))
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    assert over <= 0, f"an element is {over}px wider than the page"
    assert height > 3000
    shot = tmp_path / "shot.png"
    _chrome([f"--window-size=1280,{min(height, 16000)}", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri()],
            tmp_path / "p2")
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)
    assert img.shape[0] >= min(height, 16000) - 5 and img.shape[1] == 1280
    # not blank anywhere: every 2000-px band of the page has content
    for k in range(0, img.shape[0] - 500, 2000):
        assert img[k:k + 2000, :, :3].std() > 0.02, k
    # the print stylesheet: A4 landscape pages
    pdf = tmp_path / "page.pdf"
    _chrome(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()], tmp_path / "p3")
    data = pdf.read_bytes()
    boxes = {tuple(round(float(x)) for x in m) for m in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)}
    assert boxes == {(842, 595)}, boxes   # A4 landscape in points
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 3


def test_goal_answers_in_each_reports_language(tmp_path):
    toy = str(ROOT / "tests" / "data" / "toy" / "toy.toml")
    r = CliRunner().invoke(main, ["run", toy, "--paths", "300", "--out", str(tmp_path), "--no-figures"])
    assert r.exit_code == 0, r.output
    g = CliRunner().invoke(main, ["goal", toy, "--target", "hte_valid@2026", "--prob", "0.5", "--paths", "300",
                                  "--out", str(tmp_path)])
    assert g.exit_code == 0, g.output
    run, goal = tmp_path / "toy" / "run-001", tmp_path / "toy" / "goal-001"
    for lang, word in (("zh", "最省钱的组合"), ("en", "Cheapest mix")):
        r = CliRunner().invoke(main, ["report", str(run), "--goal", str(goal), "--lang", lang])
        assert r.exit_code == 0, r.output
        s = scan(run / f"report_{lang}.html")
        assert any(word in x for x in s.lis), s.lis
        assert any(x.startswith("达成目标需要什么：" if lang == "zh" else "What it would take: ") for x in s.lis)
        assert "goal_frontier" in s.alts
    assert (run / "report_zh.html").is_file() and (run / "report_en.html").is_file()


def test_progress_stays_off_when_output_is_not_a_terminal(capsys):
    from sim.progress import bar, enabled, stage
    assert not enabled()
    with stage("x"):
        pass
    with bar([1, 2, 3], "y") as it:
        assert list(it) == [1, 2, 3]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_sensitivity_variants_and_parameters_have_words():
    from sim.load_structure import load_structure
    from sim.text import col, param_label, variant
    st = load_structure(ROOT / "calibration" / "structure.toml", "structure.toml")
    declared = {v.name: {"zh": v.zh, "en": v.en} for v in st.variants}
    assert set(declared) == {"def_tech_sme_excl_hte", "def_hte_new_incl_relocated"}
    for name in ("priors_x0.5", "priors_x2", *declared):
        assert not ascii_words(variant(name, "zh", declared))
        assert not ascii_words(col(f"p_met_{name}", "zh", declared))
    rates = {"renew": {"zh": "高企到期重新认定率", "en": "HTE renewal rate"}}
    units = {"yuyao": {"zh": "余姚市", "en": "Yuyao"}}
    assert param_label("yuyao.offset.renew", rates, units, "zh") == "余姚市：高企到期重新认定率偏移"
    assert param_label("yuyao.hte", rates, units, "zh", st.start_words) == "余姚市：起始有效高企数"
    assert not ascii_words(param_label("noise_scale", rates, units, "zh"))


def test_a_plain_report_redraws_the_figure_set_the_run_drew(tmp_path):
    """``sim report`` on a run drawn with --all-figures --svg draws the same files again (not
    only the default set); on a default run it draws the default set, and --all-figures adds."""
    r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios/yuyao.toml"), "--paths", "300", "--out",
                                  str(tmp_path / "all"), "--all-figures", "--svg", "--lang", "en"])
    assert r.exit_code == 0, r.output
    figs = tmp_path / "all" / "yuyao" / "run-001" / "figures" / "en"
    before = sorted(p.name for p in figs.iterdir())
    assert any(n.endswith(".svg") for n in before)
    r = CliRunner().invoke(main, ["report", str(figs.parents[1]), "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in figs.iterdir()) == before
    r = CliRunner().invoke(main, ["run", str(ROOT / "scenarios/yuyao.toml"), "--paths", "300", "--out",
                                  str(tmp_path / "plain"), "--lang", "en"])
    assert r.exit_code == 0, r.output
    plain = tmp_path / "plain" / "yuyao" / "run-001" / "figures" / "en"
    default = sorted(p.name for p in plain.iterdir())
    assert len(default) < len(before) and not any(n.endswith(".svg") for n in default)
    CliRunner().invoke(main, ["report", str(plain.parents[1]), "--lang", "en"])
    assert sorted(p.name for p in plain.iterdir()) == default
    CliRunner().invoke(main, ["report", str(plain.parents[1]), "--lang", "en", "--all-figures"])
    assert len(list(plain.iterdir())) > len(default)
