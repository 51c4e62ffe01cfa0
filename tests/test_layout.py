"""The layout keeps its rules: imports run down an ordered list of layers, from the command
line to the package root (imports inside functions too), a step never imports another step
(except main, which is the steps in one process, and tune, whose refit is a train step) or
names an engine, no function is longer than 60 lines, and the README's code map matches the
tree."""

import ast
import re

import pytest

from .conftest import PROJECT

PACKAGE = PROJECT / "trackfit"

# Root first: a module may import its own layer and the layers before it, never one after.
LAYERS = ("root", "tracking", "estimators", "trust", "engines", "reports", "fitting",
          "promotion", "step", "cli")
ROOT = ("trackfit", "trackfit.processes", "trackfit.errors")
# The steps that run other steps: main runs them all in one process, as nested runs; tune
# refits its best params as a train step. Any other step importing a step is an error.
RUNS_THE_STEPS = "trackfit.entrypoints.main"
RUNS_A_STEP = {"trackfit.entrypoints.tune": "trackfit.entrypoints.train"}
LONGEST = 60  # lines a function may take, its def to its last line


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
    """The layer of trackfit module ``name`` (one of LAYERS)."""
    if name in ROOT:
        return "root"
    top = name.split(".")[1]
    if top in ("cli", "__main__"):
        return "cli"
    if top == "entrypoints":
        return "step"
    assert top in LAYERS, f"{name} is in no layer: add trackfit/{top} to LAYERS"
    return top


def upward(name, path):
    """What module ``name`` (its text at ``path``) imports against the layers' order: the
    layers after its own, or another step from a step."""
    mine = LAYERS.index(layer(name))
    found = []
    for target in sorted(imports(name, path)):
        theirs = layer(target)
        if LAYERS.index(theirs) > mine:
            found.append(f"{name} ({layer(name)}) imports {target} ({theirs})")
        elif theirs == layer(name) == "step" and target != "trackfit.entrypoints" \
                and name != RUNS_THE_STEPS and RUNS_A_STEP.get(name) != target:
            found.append(f"step {name} imports step {target}")
    return found


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
    assert upward(name, modules()[name]) == []


def test_every_module_has_a_layer():
    assert {layer(name) for name in modules()} <= set(LAYERS)


def test_the_rule_catches_an_upward_import(tmp_path):
    """The check above can fail: a module of tracking importing the gate inside a function,
    and a step importing a step, are seen."""
    crafted = tmp_path / "bad.py"
    crafted.write_text("from . import store\n\n\ndef later():\n"
                       "    from ..promotion import gate\n    return gate\n")
    assert upward("trackfit.tracking.bad", crafted) == [
        "trackfit.tracking.bad (tracking) imports trackfit.promotion (promotion)",
        "trackfit.tracking.bad (tracking) imports trackfit.promotion.gate (promotion)"]
    crafted.write_text("from .train import train\nfrom ..engines import spark\n")
    assert upward("trackfit.entrypoints.bad", crafted) == [
        "step trackfit.entrypoints.bad imports step trackfit.entrypoints.train"]
    assert upward(RUNS_THE_STEPS, crafted) == []  # main may: it is the steps in one process
    crafted.write_text("import trackfit.cli\n")
    assert upward("trackfit.engines.bad", crafted) == [
        "trackfit.engines.bad (engines) imports trackfit.cli (cli)"]


def unit(name):
    """The package (or root module) that holds module ``name``: trackfit.tracking.store ->
    trackfit.tracking."""
    if name in ROOT or name == "trackfit.__main__":
        return name
    return ".".join(name.split(".")[:2])


def cycle(edges):
    """One import cycle in ``edges`` ({package: packages it imports}) as a list, or []."""
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return []
        path.append(node)
        for target in sorted(edges.get(node, ())):
            found = visit(target)
            if found:
                return found
        path.pop()
        done.add(node)
        return []

    for node in sorted(edges):
        found = visit(node)
        if found:
            return found
    return []


def test_no_import_cycles_between_packages():
    edges = {}
    for name, path in modules().items():
        for target in imports(name, path):
            if unit(target) != unit(name):
                edges.setdefault(unit(name), set()).add(unit(target))
    assert cycle(edges) == []
    assert cycle({**edges, "trackfit.tracking": {"trackfit.fitting"}})  # the check can fail


def test_no_import_cycles_between_modules():
    """Inside a package too: a module never reaches itself through what it imports (a
    package's ``__init__`` re-exporting its own modules is not a cycle of them)."""
    edges = {}
    for name, path in modules().items():
        for target in imports(name, path):
            if not name.startswith(f"{target}."):  # a module using its own package's names
                edges.setdefault(name, set()).add(target)
    assert cycle(edges) == []
    assert cycle({**edges, "trackfit.engines.source": {"trackfit.engines.table"}})


def functions(path):
    """(name, lines) of every function and method in the module at ``path``."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("name", sorted(modules()))
def test_no_function_is_longer_than_60_lines(name):
    long = [f"{name}.{function} ({lines} lines)"
            for function, lines in functions(modules()[name])
            if lines > LONGEST]
    assert long == [], f"split these into functions of at most {LONGEST} lines"


def test_the_length_rule_catches_a_long_function(tmp_path):
    crafted = tmp_path / "long.py"
    crafted.write_text("def long():\n" + "    x = 1\n" * LONGEST)
    assert dict(functions(crafted)) == {"long": LONGEST + 1}


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


def test_the_wheel_lists_every_package():
    """pyproject's package list is the tree's: a package left out is missing from the wheel
    (trackfit then fails outside the checkout, as it did when trust/ became a package)."""
    import tomllib

    listed = set(tomllib.loads((PROJECT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(PROJECT).parts) for p in PACKAGE.rglob("__init__.py")}
    assert listed == found
