"""The house rules that the source itself must keep, read from the AST, not by importing.

- computation packages import nothing from tracking or the CLI (they emit events instead);
- no import cycle between modules of the package, counting imports inside functions too
  (a lazy import still makes two modules depend on each other);
- no file in mixpref/ over 500 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mixpref"
COMPUTATION = ("models", "aggregation", "features", "targets", "dpo", "active", "evaluate", "distributed")
FORBIDDEN = ("mixpref.tracking", "mixpref.cli")
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str, path: Path, known: dict) -> set:
    """Modules of the package that ``module`` imports, anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node)
            # `from pkg import sub` imports the submodule when there is one
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            # the deepest known module that the import names
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            if parts and parts[0] == "mixpref":
                found = ".".join(parts)
                if found != module:
                    out.add(found)
    return out


def _graph() -> dict:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_computation_never_imports_tracking_or_cli():
    offenders = []
    for module, deps in _graph().items():
        stage = module.split(".")[1] if module.count(".") else ""
        if stage not in COMPUTATION:
            continue
        offenders += [f"{module} -> {d}" for d in sorted(deps) if d.startswith(FORBIDDEN)]
    assert not offenders, "computation imports tracking/cli:\n" + "\n".join(offenders)


def _cycle(graph: dict):
    """One import cycle as a list of modules, or None (iterative DFS, ignoring package __init__s
    that only re-export lazily: an edge into a package means its __init__ module)."""
    colour = {}
    for start in graph:
        if start in colour:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = "grey"
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = "black"
                stack.pop()
                path.pop()
                continue
            if child not in graph:
                continue
            if colour.get(child) == "grey":
                return path[path.index(child):] + [child]
            if child not in colour:
                colour[child] = "grey"
                path.append(child)
                stack.append((child, iter(sorted(graph[child]))))
    return None


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ that only lists lazy exports imports nothing; the CLI's app module
    # imports its command modules by name (importlib), which the AST does not see
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_detector_finds_a_cycle():
    # the detector itself must be able to fail
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_file_size(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(PACKAGE.parent)} has {n} lines (limit {MAX_LINES}; guide 400)"
