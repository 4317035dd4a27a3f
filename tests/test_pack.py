"""The meeting pack: self-contained HTML (no external resources, every figure embedded,
headline numbers equal to the CSVs), an XLSX that matches the CSVs, both languages, and
a screenshot in headless Chromium that is not blank."""

import re
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest
from click.testing import CliRunner

from sim.cli import main


class Scan(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.imgs, self.lis, self._li = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.refs.append(a[k])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag == "li":
            self._li = ""

    def handle_data(self, data):
        if self._li is not None:
            self._li += data

    def handle_endtag(self, tag):
        if tag == "li" and self._li is not None:
            self.lis.append(self._li)
            self._li = None


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    out = tmp_path_factory.mktemp("pack")
    r = CliRunner().invoke(main, ["run", str(root / "scenarios/cixi.toml"), "--paths", "600", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out / "cixi" / "run-001"


def scan(path):
    s = Scan()
    s.feed(path.read_text(encoding="utf-8"))
    return s


def numbers(text):
    return [float(x.replace(",", "")) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_html_is_self_contained_and_headlines_match_the_csvs(run_folder, lang):
    r = CliRunner().invoke(main, ["report", str(run_folder), "--lang", lang])
    assert r.exit_code == 0, r.output
    s = scan(run_folder / "report.html")
    assert all(x.startswith("data:") or x.startswith("#") for x in s.refs), [x[:40] for x in s.refs]
    pngs = sorted((run_folder / "figures").glob("*.png"))
    assert len(s.imgs) == len(pngs) and all(i.startswith("data:image/png;base64,") for i in s.imgs)
    tg = pd.read_csv(run_folder / "targets.csv")
    base = tg[(tg.unit == "cixi") & (tg.indicator == "hte_valid") & (tg.year == 2026) & (tg.scenario == "baseline")].iloc[0]
    first = s.lis[0]
    nums = numbers(first)
    assert 2026 in nums and 1750 in nums
    from sim.pack import pct
    assert pct(base.p_met) in first and (base.p_met < 0.005 or base.p_met > 0.995 or round(100 * base.p_met) in nums)
    assert round(base["median"]) in nums and round(base.p10) in nums and round(base.p90) in nums
    if lang == "zh":
        assert first.startswith("按现行政策，2026年慈溪市（全市）有效高新技术企业达到1,750家的概率约为")
    else:
        assert "Valid High-Tech Enterprises in 2026" in first
    sf = pd.read_csv(run_folder / "scenarios.csv")
    alt = sf[(sf.unit == "cixi") & (sf.indicator == "hte_valid") & (sf.year == 2026) & (sf.scenario != "baseline")]
    best = alt.sort_values(["p_met", "scenario"], ascending=[False, True]).iloc[0]
    second = numbers(s.lis[1])
    assert pct(best.p_met) in s.lis[1] and round(best.extra_vs_baseline_p50) in second
    assert round(best.extra_cost_mean_10k_yuan) in second


def test_xlsx_matches_the_csvs(run_folder):
    book = pd.read_excel(run_folder / "report.xlsx", sheet_name=None)
    for name in ("projection", "targets", "scenarios", "flows", "costs", "calibration", "sources"):
        csv = pd.read_csv(run_folder / f"{name}.csv")
        sheet = book[name]
        assert len(sheet) == len(csv)
        for c, sc in zip(csv.columns, sheet.columns):
            assert sc == c or sc.startswith(c + " ("), (c, sc)
            if pd.api.types.is_numeric_dtype(csv[c]):
                assert (sheet[sc].fillna(-1).to_numpy() == pytest.approx(csv[c].fillna(-1).to_numpy()))
    assert "mean (firms)" in book["projection"].columns


def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    r = CliRunner().invoke(main, ["report", str(tmp_path)])
    assert r.exit_code == 2 and "run.json" in r.output and "Traceback" not in r.output


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(chromium() is None, reason="headless Chromium is not installed (Debian package 'chromium'); .ci/run installs it")
def test_report_renders_in_headless_chromium(run_folder, tmp_path):
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2000",
                    f"--screenshot={shot}", (run_folder / "report.html").as_uri()],
                   check=True, timeout=120, capture_output=True)
    import matplotlib.image as mpimg
    img = mpimg.imread(shot)
    assert img.shape[0] > 500 and img.shape[1] > 500
    assert img[..., :3].std() > 0.05   # not a blank page
