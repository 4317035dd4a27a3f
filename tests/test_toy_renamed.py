"""The model lives in its data files: a structure whose tiers, flows, rates, start levels and
indicators all have other names runs end to end (run, calibrate, goal, report).

The toy district (tests/data/toy) and the shipped structure file are copied into a fresh
project and every name is replaced throughout (structure, ledger, scenario, levers, priors,
starts); no name of the shipped structure is left in any file the run reads.
"""

import re
import shutil
import tomllib

from click.testing import CliRunner

from sim.cli import main

from conftest import ROOT

TOY = ROOT / "tests" / "data" / "toy"
TIERS = {"R": "pool", "S": "small", "H1": "cert_a", "H2": "cert_b", "H3": "cert_c", "L": "top"}


def _identifiers(structure: dict) -> list[str]:
    """Every indicator, flow, rate and start-level name the structure file declares."""
    names = set(structure["indicators"]) | set(structure["flows"]) | set(structure["start"])
    for o in structure["origin"]:
        names |= {m["param"] for m in o["moves"]}
    names |= {j["param"] for j in structure["inflow"]}
    for lv in structure["start"].values():
        names |= set(lv.get("shares", {}).values())
    names |= set(structure.get("variants", {}))
    return sorted(names, key=len, reverse=True)


def _renamed_project(tmp_path):
    text = (ROOT / "calibration" / "structure.toml").read_text(encoding="utf-8")
    ids = _identifiers(tomllib.loads(text))
    new = {name: f"q{k:02d}x" for k, name in enumerate(ids)}
    words = re.compile(r"\b(" + "|".join(map(re.escape, ids)) + r")\b")

    def rename(s: str, structure: bool = False) -> str:
        s = words.sub(lambda m: new[m.group(1)], s)
        if structure:
            tiers = "|".join(TIERS)
            s = re.sub(rf'"({tiers})"', lambda m: f'"{TIERS[m.group(1)]}"', s)
            s = re.sub(rf"^({tiers}) = ", lambda m: f"{TIERS[m.group(1)]} = ", s, flags=re.M)
            s = re.sub(rf"\{{ ({tiers}) = ", lambda m: f"{{ {TIERS[m.group(1)]} = ", s)
        return s

    proj = tmp_path / "proj"
    (proj / "calibration").mkdir(parents=True)
    (proj / "calibration" / "structure.toml").write_text(rename(text, structure=True), encoding="utf-8")
    (proj / "toy").mkdir()
    for f in TOY.iterdir():
        if f.is_file():
            s = rename(f.read_text(encoding="utf-8"))
            if f.name == "toy.toml":
                s = s.replace('"../../../calibration/structure.toml"', '"../calibration/structure.toml"')
            (proj / "toy" / f.name).write_text(s, encoding="utf-8")
    return proj, new


def test_renamed_structure_runs_end_to_end(tmp_path):
    proj, new = _renamed_project(tmp_path)
    st = tomllib.loads((proj / "calibration" / "structure.toml").read_text(encoding="utf-8"))
    assert set(st["tiers"]) == set(TIERS.values())
    headline = new["hte_valid"]
    assert st["headline"] == headline
    # nothing of the shipped names is left in what the run reads (comments aside)
    for f in list((proj / "toy").iterdir()) + [proj / "calibration" / "structure.toml"]:
        body = "\n".join(line.split("#")[0] for line in f.read_text(encoding="utf-8").splitlines())
        for old in ("hte_valid", "tech_sme", "new_cert", "relocated_in", "relocation_inflow", "renew", '"H1"', '"S"'):
            assert old not in body, (f.name, old)

    toy, out = str(proj / "toy" / "toy.toml"), str(tmp_path / "out")
    cli = CliRunner()
    r = cli.invoke(main, ["run", toy, "--paths", "300", "--out", out])
    assert r.exit_code == 0, r.output
    run = tmp_path / "out" / "toy" / "run-001"
    assert (run / "report_zh.html").is_file() and (run / "figures" / "zh" / "waterfall.png").is_file()
    assert headline in (run / "projection.csv").read_text(encoding="utf-8")

    r = cli.invoke(main, ["calibrate", toy, "--out", out])
    assert r.exit_code == 0, r.output

    r = cli.invoke(main, ["goal", toy, "--target", f"{headline}@2026", "--prob", "0.5", "--paths", "300",
                          "--out", out])
    assert r.exit_code == 0, r.output
    goal = tmp_path / "out" / "toy" / "goal-001"
    assert (goal / "goal.csv").is_file()

    r = cli.invoke(main, ["report", str(run), "--lang", "en", "--goal", str(goal)])
    assert r.exit_code == 0, r.output
    assert (run / "report_en.html").is_file()
