"""The layering rules of issue 14, read off the source (AST) where that is cheap: which module
may import which, where the structure is compiled, and where TOML is read."""

import ast
import dataclasses
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "sim"


def _tree(name: str) -> ast.Module:
    return ast.parse((SIM / f"{name}.py").read_text(encoding="utf-8"))


def _imported(name: str) -> set[str]:
    """Modules of the sim package a module imports, anywhere in it (``.engine`` -> ``engine``)."""
    out = set()
    for node in ast.walk(_tree(name)):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                out.add(mod.split(".")[0] if mod else "")
                if not mod:
                    out.update(a.name for a in node.names)
            elif mod.startswith("sim."):
                out.add(mod.split(".")[1])
            elif mod == "sim":
                out.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("sim."))
    return out


def test_goals_imports_no_engine_internals():
    assert "engine" not in _imported("goals")


def test_the_structure_is_compiled_in_one_place():
    """Only the scenario builds ``Compiled(...)`` (its ``compiled`` property); the fit, the
    projection, goal seeking and the prior-predictive check take it from there."""
    callers = []
    for path in sorted(SIM.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Compiled":
                callers.append(path.stem)
    assert set(callers) <= {"scenario", "engine"}, callers
    assert callers.count("scenario") == 1


def test_compiled_once_per_scenario(root):
    from sim.scenario import load_scenario
    sc = load_scenario(root / "scenarios" / "yuyao.toml")
    assert sc.compiled is sc.compiled
    assert sc.compiled.s is sc.structure
    v = sc.structure.variants[0] if sc.structure.variants else None
    if v is None:
        pytest.skip("the structure declares no variant")
    other = dataclasses.replace(sc, structure=sc.structure.with_variant(v))
    assert other.compiled.s is other.structure           # a replaced structure compiles anew


def test_results_keep_no_mutable_cache():
    """Results is frozen and its methods mutate none of its fields (no hidden cache): what is
    computed once is a cached property."""
    from sim.results import Results
    assert "_cache" not in {f.name for f in dataclasses.fields(Results)}
    mutators = {"setdefault", "pop", "popitem", "update", "clear", "append", "extend", "insert", "add"}
    cls = next(n for n in _tree("results").body if isinstance(n, ast.ClassDef) and n.name == "Results")
    bad = []
    for node in ast.walk(cls):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        for t in targets:
            while isinstance(t, ast.Subscript):
                t = t.value
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                bad.append(ast.unparse(node))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in mutators:
            owner = node.func.value
            if isinstance(owner, ast.Attribute) and isinstance(owner.value, ast.Name) and owner.value.id == "self":
                bad.append(ast.unparse(node))
    assert not bad, bad


def test_results_tables_do_not_change_the_results(yuyao_results):
    res = yuyao_results
    before = dict(vars(res))
    first = res.scenarios_frame()
    res.targets_frame(), res.ranking_frame()
    assert all(vars(res)[k] is v for k, v in before.items())              # the fields themselves untouched
    assert {k: len(v) for k, v in vars(res).items() if isinstance(v, dict) and k in before} == \
        {k: len(v) for k, v in before.items() if isinstance(v, dict)}
    assert set(vars(res)) - set(before) <= {"_costs_to_target_years", "_prior_dominated_drivers"}
    a = res.indicator("baseline", res.scenario.unit, res.scenario.structure.headline)
    a[:] = -1                                                             # the caller's own array
    b = res.indicator("baseline", res.scenario.unit, res.scenario.structure.headline)
    assert (b >= 0).all()
    assert first.equals(res.scenarios_frame())


CORE = ("structure", "params", "engine", "levers", "kalman", "sampler", "starts", "calibrate", "project", "results",
        "goals", "prior_predictive")


@pytest.mark.parametrize("name", CORE)
def test_the_numeric_core_reads_no_toml(name):
    """TOML is read at the edge (sim.scenario, sim.load_structure, sim.load_priors), never in
    the types and kernels."""
    assert "tomlio" not in _imported(name)
    assert "tomllib" not in (SIM / f"{name}.py").read_text(encoding="utf-8")


def test_no_module_level_mutable_state():
    """No ``global`` statement, and no module-level list, dict or set that the module changes
    at run time (constants stay constants); what workers and handlers need is passed or read
    from the process itself (sim.cli reads the inherited signal handler table)."""
    mutators = {"append", "extend", "insert", "pop", "popitem", "clear", "update", "setdefault", "add", "discard",
                "remove"}
    bad = []
    for path in sorted(SIM.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = set()
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(
                    node.value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Name):
                        names.add(t.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                bad.append(f"{path.stem}: global {', '.join(node.names)}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in mutators \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in names:
                bad.append(f"{path.stem}: {ast.unparse(node)}")
            if isinstance(node, (ast.Assign, ast.AugAssign)):
                for t in node.targets if isinstance(node, ast.Assign) else [node.target]:
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in names:
                        bad.append(f"{path.stem}: {ast.unparse(node)}")
    assert not bad, bad


# Imports inside functions, each with its reason; any other goes at the top of its module.
# (figures, pack, fonts and report are left to their own change.)
LAZY_IMPORTS = {
    ("backtest", "figures"): "matplotlib loads with the first figure, not with the command",
    ("compare", "figures"): "matplotlib loads with the first figure",
    ("compare", "matplotlib.pyplot"): "matplotlib loads with the first figure, after figures.setup()",
    ("goals", "figures"): "matplotlib loads with the first figure",
    ("project", "results"): "a cycle: results imports project",
    ("starts", "observations"): "a cycle: observations imports starts",
    ("calibrate", "__version__"): "a cycle: sim/__init__ imports calibrate",
    ("calibrate", "kalman"): "numba: imported when a fit needs it, not by every run",
    ("calibrate", "scipy"): "scipy.optimize: a third of a second to import, only when fitting",
    ("calibrate", "threadpoolctl"): "only when fitting",
    ("calibrate", "stat"): "calibrate.py is being optimised in another change",
    ("calibrate", "pandas"): "calibrate.py is being optimised in another change",
    ("params", "scipy.stats"): "params.py is being optimised in another change",
    ("params", "dataclasses"): "params.py is being optimised in another change",
}
OTHER_CHANGE = ("figures", "pack", "fonts", "report")


def test_imports_inside_functions_have_a_reason():
    found = set()
    for path in sorted(SIM.glob("*.py")):
        if path.stem in OTHER_CHANGE:
            continue
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found.update((path.stem, a.name) for a in node.names)
                elif isinstance(node, ast.ImportFrom):
                    found.update((path.stem, node.module or a.name) for a in node.names)
    assert found <= set(LAZY_IMPORTS), sorted(found - set(LAZY_IMPORTS))
