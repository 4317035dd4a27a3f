"""sim add: appends one valid figure as text (comments, layout, line endings kept), refuses a
contradictory one with one sentence and exit 2, and never leaves the file half-written."""

import os
import re
import tomllib

import pytest
from click.testing import CliRunner

from sim.cli import main
from sim.scenario import load_scenario

ADD = ["add", "scenarios/cixi.toml", "--unit", "cixi_city", "--indicator", "hte_valid", "--year", "2024",
       "--value", "1010", "--source", "bureau statistics 2025-01", "--passage", "2024年末有效高新技术企业1010家"]
BLOCK = ('\n[[observations]]\nunit = "cixi_city"\nindicator = "hte_valid"\nyear = 2024\nvalue = 1010\n'
         'source_file = "bureau statistics 2025-01"\npassage = "2024年末有效高新技术企业1010家"\n')


def cmd(**over):
    """ADD with some options replaced (or added): cmd(unit="cixi", value="900")."""
    args = list(ADD)
    for k, v in over.items():
        flag = "--" + k.replace("_", "-")
        if flag in args:
            args[args.index(flag) + 1] = v
        else:
            args += [flag, v]
    return args


def invoke(args):
    r = CliRunner().invoke(main, args)
    return r.exit_code, [x for x in r.output.splitlines() if x.strip()]


def leftovers(d):
    return [p.name for p in (d / "scenarios").iterdir() if p.name.startswith(".")]


def test_add_appends_the_block_and_keeps_everything_else(workdir):
    path = workdir / "scenarios/cixi.toml"
    before = path.read_bytes()
    mode = os.stat(path).st_mode
    code, lines = invoke(ADD)
    assert code == 0, lines
    after = path.read_bytes()
    assert after == before + BLOCK.encode("utf-8")          # appended text only: comments and layout intact
    assert os.stat(path).st_mode == mode and not leftovers(workdir)
    assert lines[0] == "added to scenarios/cixi.toml:" and '  unit = "cixi_city"' in lines
    assert "the next run fits it" in lines
    assert "target cixi_city hte_valid 2024 950: met (actual 1,010 >= 950)" in lines
    sc = load_scenario(path)                                  # reloads; the figure is there, once
    new = [r for r in sc.rows if r.origin == "cixi.toml"]
    assert [(r.unit, r.indicator, r.year, r.value, r.kind, r.bound) for r in new] == \
        [("cixi_city", "hte_valid", 2024, 1010.0, "actual", "eq")]
    old = tomllib.loads(before.decode("utf-8"))
    assert {k: v for k, v in tomllib.loads(after.decode("utf-8")).items() if k != "observations"} == old
    # the same figure again: nothing to add, the file is unchanged
    code, lines = invoke(ADD)
    assert code == 0 and "already recorded" in lines[0] and path.read_bytes() == after
    assert invoke(["check", "scenarios/cixi.toml"])[0] == 0


REFUSED = [
    ("contradicts the ledger", ["--unit", "yuyao", "--value", "1100"],
     r"--value: expected a figure that agrees with yuyao hte_valid 2024 actual 1,032 \(ledger\), source "
     r"seeds/003_744ecaa8d89d5a2d\.txt, got 1,100"),
    ("lower bound above the published count", ["--unit", "yuyao", "--value", "> 1,040"], r"got > 1,040"),
    ("sub-units exceed the total", ["--unit", "cixi_city", "--value", "1300", "--_total", "1200"],
     r"cixi hte_valid 2024: expected the sub-units with a figure \(cixi_city\) to add up to at most 1200, got a sum of 1300"),
    ("unit typo", ["--unit", "cixi_ctiy"], r"--unit: expected one of the scenario's units .*did you mean 'cixi_city'\?"),
    ("indicator typo", ["--indicator", "hte_vaild"], r"--indicator: .*did you mean 'hte_valid'\?"),
    ("year after the horizon", ["--year", "2027"], r"--year: expected a year up to the scenario's horizon 2026, got 2027"),
    ("year not a year", ["--year", "24th"], r"--year: expected a year such as 2024, got '24th'"),
    ("value not a number", ["--value", "about 1000"], r"--value: expected a number such as 1010"),
    ("fraction of a firm", ["--value", "1010.5"], r"--value: expected a whole number of firms for hte_valid, got 1010\.5"),
    ("empty source", ["--source", " "], r"--source: expected where the figure was published"),
    ("bound and exact at once", ["--value", "> 900", "--bound", "eq"], r"--value: expected a plain number with --bound eq"),
]


@pytest.mark.parametrize("name,change,pattern", REFUSED, ids=[c[0] for c in REFUSED])
def test_add_refuses_with_one_sentence_and_leaves_the_file(workdir, name, change, pattern):
    path = workdir / "scenarios/cixi.toml"
    change = dict(zip([c.lstrip("-") for c in change[::2]], change[1::2]))
    if "_total" in change:    # first a whole-city actual, then a part larger than it
        assert invoke(cmd(unit="cixi", value=change.pop("_total")))[0] == 0
    args = cmd(**change)
    before = path.read_bytes()
    code, lines = invoke(args)
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: scenarios/cixi.toml: ") and lines[0].endswith((".", "?")), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    assert path.read_bytes() == before and not leftovers(workdir)


def test_add_keeps_crlf_and_bom_and_a_missing_final_newline(workdir):
    path = workdir / "scenarios/cixi.toml"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    before = path.read_bytes()
    code, lines = invoke(ADD)
    assert code == 0, lines
    after = path.read_bytes()
    assert after.startswith(before) and after[len(before):] == ("\r\n" + BLOCK.replace("\n", "\r\n")).encode("utf-8")
    assert len(load_scenario(path).rows) == len(load_scenario(workdir / "scenarios/yuyao.toml").rows) + 1


def test_add_a_lower_bound_and_a_target(workdir):
    path = workdir / "scenarios/cixi.toml"
    code, lines = invoke(cmd(value="> 1,100")[:-2])
    assert code == 0, lines
    assert path.read_text(encoding="utf-8").endswith('value = 1100\nbound = "ge"\nsource_file = "bureau statistics 2025-01"\n')
    # a plan target where the plan had none is scored by the next run; a different value for a
    # target the ledger holds is a contradiction
    target = ["add", "scenarios/cixi.toml", "--unit", "qianwan", "--indicator", "tech_sme", "--year", "2026",
              "--value", "400", "--kind", "target", "--source", "revised plan"]
    code, lines = invoke(target)    # the plan: 4,000 for the whole city, 3,500 at city level
    assert code == 2 and "cixi tech_sme 2026: expected the sub-units (cixi_city, qianwan) to add up to 4000" in lines[0]
    target[9] = "500"
    code, lines = invoke(target)
    assert code == 0, lines
    sc = load_scenario(path)
    assert [t.value for t in sc.targets if (t.unit, t.indicator, t.year) == ("qianwan", "tech_sme", 2026)] == [500.0]
    code, lines = invoke(target[:3] + ["qianwan", "--indicator", "hte_valid"] + target[6:])
    assert code == 2 and "agrees with qianwan hte_valid 2026 target 350 (ledger)" in lines[0]


def test_dry_run_changes_nothing(workdir):
    path = workdir / "scenarios/cixi.toml"
    before = path.read_bytes()
    code, lines = invoke(ADD + ["--dry-run"])
    assert code == 0 and lines[0] == "would add to scenarios/cixi.toml:"
    assert path.read_bytes() == before and not leftovers(workdir)


def test_a_failed_write_leaves_the_file_untouched(workdir, monkeypatch):
    path = workdir / "scenarios/cixi.toml"
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", boom)
    code, lines = invoke(ADD)
    assert code == 2 and len(lines) == 1 and "No space left on device); the file is unchanged." in lines[0]
    assert path.read_bytes() == before and not leftovers(workdir)


def test_a_read_only_file_is_not_replaced(workdir):
    path = workdir / "scenarios/cixi.toml"
    before = path.read_bytes()
    os.chmod(path, 0o444)
    try:
        code, lines = invoke(ADD)
        assert code == 2 and "expected a scenario file you may write to, got a read-only file" in lines[0]
        assert path.read_bytes() == before
    finally:
        os.chmod(path, 0o644)


def test_a_file_whose_observations_cannot_be_appended_to(workdir):
    path = workdir / "scenarios/cixi.toml"
    text = path.read_text(encoding="utf-8")
    # observations as an inline array: valid TOML, but a [[observations]] block cannot follow it
    path.write_text(text.replace("[scenario]", 'observations = []\n\n[scenario]'), encoding="utf-8")
    before = path.read_bytes()
    code, lines = invoke(ADD)
    assert code == 2 and len(lines) == 1 and "observations: expected an array of [[observations]] tables" in lines[0]
    assert path.read_bytes() == before


def test_the_readme_sim_add_command_as_written(workdir, root):
    import shlex
    text = (root / "README.md").read_text(encoding="utf-8").split("### Adding a newer figure", 1)[1]
    cmd_text = re.search(r"\n    (sim add .*?\n(?:        .*\n)*)", text).group(1).replace("\\\n", " ")
    args = shlex.split(cmd_text)[1:]
    code, lines = invoke(args)
    assert code == 0, lines
    assert (workdir / "scenarios/cixi.toml").read_text(encoding="utf-8").endswith(BLOCK)


def test_awkward_text_survives_the_round_trip(workdir):
    # a control character (DEL) is refused in one sentence; tabs, newlines and quotes are kept
    code, lines = invoke(cmd(passage="第二行\x7f"))
    assert code == 2 and "control characters" in lines[0]
    passage = '他说"突破1,010家"\\ 见表\t2\n第二行 # [[not a table]] \u2028end'
    source = "bureau's release #3 ]] = x"
    code, lines = invoke(cmd(passage=passage, source=source))
    assert code == 0, lines
    r = [r for r in load_scenario(workdir / "scenarios/cixi.toml").rows if r.origin == "cixi.toml"][0]
    assert (r.passage, r.source_file) == (passage, source)
