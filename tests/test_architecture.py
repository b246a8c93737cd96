"""The layering docs/architecture.md describes, checked on the source: no import cycle
between opcheck's modules, and the numeric core reaches neither pluggy, the CLI nor
pytest. Imports inside functions count (they are cycles all the same when they run);
imports under ``if TYPE_CHECKING:`` do not."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__import__("opcheck").__file__).parent
#: The numeric core: declaration → sampling → checks → verdicts.
CORE = ("opcheck.engine", "opcheck.checker", "opcheck.finite_diff", "opcheck.batching",
        "opcheck.sampling", "opcheck.spec", "opcheck.contract", "opcheck.result",
        "opcheck.op_calls", "opcheck.given_inputs")
ABOVE_THE_CORE = ("pluggy", "pytest", "_pytest", "opcheck.cli", "opcheck.pytest_plugin",
                  "opcheck.plugin_manager")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("opcheck", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every module ``name`` imports at run time: opcheck's own, and top-level packages."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.add(alias.name if alias.name in modules else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in modules else target if target in modules
                        else target.split(".")[0])
    out.discard(name)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_no_import_cycle(graph):
    cycles = sorted(f"{a} -> ... -> {a}" for a in graph
                    if a != "opcheck" and a in _reach({k: v - {"opcheck"} for k, v in graph.items()}, a))
    assert cycles == []


@pytest.mark.parametrize("module", CORE)
def test_the_numeric_core_knows_nothing_above_it(graph, module):
    assert module in graph
    assert sorted(_reach(graph, module) & set(ABOVE_THE_CORE)) == []
