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
