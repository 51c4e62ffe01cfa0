"""The layout keeps its rules: imports run command line -> steps -> library, a step never
imports another step or names an engine, and the README's code map matches the tree."""

import ast
import re

import pytest

from .conftest import PROJECT

PACKAGE = PROJECT / "trackfit"


def modules():
    """{dotted module name: path} for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PROJECT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(name):
    if name == "trackfit.__main__" or name == "trackfit.cli" or name.startswith("trackfit.cli."):
        return "cli"
    if name.startswith("trackfit.entrypoints."):
        return "step"
    return "library"


def imports(name, path):
    """Every trackfit module ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    known = modules()
    return {m for m in found if m in known and m != name}


@pytest.mark.parametrize("name", sorted(modules()))
def test_imports_run_one_way(name):
    path = modules()[name]
    mine = layer(name)
    for target in imports(name, path):
        theirs = layer(target)
        if mine == "library":
            assert theirs == "library", f"{name} (library) imports {target} ({theirs})"
        if mine == "step":
            assert theirs == "library", f"step {name} imports {target} ({theirs})"


def test_the_rule_catches_a_step_importing_a_step(tmp_path):
    """The check above can fail: a step importing a step is seen."""
    step = tmp_path / "bad.py"
    step.write_text("from .train import train\nfrom ..engines import spark\n")
    found = imports("trackfit.entrypoints.bad", step)
    assert "trackfit.entrypoints.train" in found
    assert layer("trackfit.entrypoints.train") == "step"


@pytest.mark.parametrize("name", [n for n in sorted(modules()) if layer(n) == "step"])
def test_no_step_names_an_engine(name):
    """Steps hand ``spark`` to engines.choose and never branch on it or import an engine."""
    text = modules()[name].read_text()
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, (ast.If, ast.IfExp)):
            assert "spark" not in ast.unparse(node.test), f"{name} branches on spark"
    targets = imports(name, modules()[name])
    assert not targets & {"trackfit.engines.pandas", "trackfit.engines.spark"}, name


def test_the_code_map_matches_the_tree():
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Code map", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    mapped = {}
    for row in rows:
        where, what = row.split("|")[1:3]
        for place in re.findall(r"`([^`]+)`", where):
            mapped[place.rstrip("/")] = what
    for place in mapped:
        assert (PROJECT / place).exists(), f"the code map names {place}, which is not there"
    for package in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        where = f"trackfit/{package.name}"
        assert where in mapped, f"the code map leaves out {where}/"
        for module in sorted(package.glob("*.py")):
            if module.name != "__init__.py":
                assert f"`{module.name}`" in mapped[where], (
                    f"the code map's row for {where}/ leaves out {module.name}")
    for module in sorted(PACKAGE.glob("*.py")):
        assert f"trackfit/{module.name}" in mapped, f"the code map leaves out {module.name}"
