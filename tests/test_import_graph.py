"""curionet's modules import each other without cycles.

The graph is read from the source with :mod:`ast`, so it sees every import
the code can run: top-level imports, imports inside functions (lazy imports,
which hide a cycle from ``python -c "import curionet"`` but not from the
design), relative imports resolved against the importing module, and
``from package import name`` counted as importing ``package.name`` when that
is a submodule (otherwise as importing ``package`` itself).  Imports under
``if TYPE_CHECKING:`` never run and are left out.  Dynamic imports
(``importlib.import_module``) are read from :data:`DYNAMIC_IMPORTS`; a module
that grows a new one fails :func:`test_every_dynamic_import_is_declared`.

Not counted: the implicit import of a submodule's parent packages (importing
``curionet.kernel.io`` runs ``curionet/kernel/__init__.py`` first).  Every
module's parent package imports its children, so counting those edges would
make every upward import a cycle and hide the ones that matter.

A cycle is a loop of import edges.  :data:`KNOWN_CYCLES` lists the cycles
that exist today; together they cover every import edge that lies on a
cycle.  The test fails when an edge joins a cycle that no listed cycle
covers (a new cycle: the shortest one through the edge is printed), and
when a listed cycle is no longer there (it was broken: delete it from the
list, so that the list only ever shrinks).  On either failure the message
prints the list as it should read now.
"""

from __future__ import annotations

import ast
import pathlib
from collections import deque

import pytest

import curionet

PACKAGE_DIR = pathlib.Path(curionet.__file__).resolve().parent

Graph = dict[str, dict[str, str]]  # importer -> {imported module: "file:line" of the first such import}


def _modules(root: pathlib.Path, package: str) -> dict[str, pathlib.Path]:
    """Every module of the package under *root*, by dotted name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that can run: anywhere in the module,
    function bodies included, but not the body of ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (``from ..x import y`` in
    ``pkg.sub.mod`` is ``pkg.x``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def import_graph(root: pathlib.Path = PACKAGE_DIR, package: str = "curionet", dynamic=None) -> Graph:
    """The import graph of *package* (whose ``__init__.py`` is in *root*),
    restricted to its own modules."""
    modules = _modules(root, package)
    graph: Graph = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        where = path.relative_to(root.parent)
        found: list[tuple[str, int]] = []
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.extend((alias.name, node.lineno) for alias in node.names)
                continue
            source = _resolve(module, is_package, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.append((submodule if submodule in modules else source, node.lineno))
        found.extend((target, 0) for target in (dynamic or {}).get(module, ()))
        edges: dict[str, str] = {}
        for target, line in found:
            if target in modules and target != module:
                edges.setdefault(target, f"{where}:{line or 'import_module'}")
        graph[module] = edges
    return graph


def strongly_connected(graph: Graph) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def cycle_edges(graph: Graph) -> set[tuple[str, str]]:
    """The import edges that lie on at least one cycle."""
    component_of = {}
    for number, component in enumerate(strongly_connected(graph)):
        for module in component:
            component_of[module] = number
    return {(a, b) for a in graph for b in graph[a] if component_of[a] == component_of[b]}


def shortest_cycle_through(graph: Graph, edge: tuple[str, str]) -> tuple[str, ...]:
    """The shortest cycle that uses *edge*, starting at its importer."""
    a, b = edge
    previous: dict[str, str | None] = {b: None}
    queue = deque([b])
    while queue:
        node = queue.popleft()
        if node == a:
            break
        for child in sorted(graph[node]):
            if child not in previous:
                previous[child] = node
                queue.append(child)
    assert a in previous, f"{a} -> {b} is on no cycle"
    path = []
    node: str | None = a
    while node is not None:
        path.append(node)
        node = previous[node]
    return (a, *reversed(path[1:]))


def canonical(cycle) -> tuple[str, ...]:
    """A cycle rotated to start at its smallest module name."""
    cycle = tuple(cycle)
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def edges_of(cycle) -> list[tuple[str, str]]:
    return [(cycle[i], cycle[(i + 1) % len(cycle)]) for i in range(len(cycle))]


def covering_cycles(graph: Graph) -> list[tuple[str, ...]]:
    """Short cycles that together use every edge on a cycle: the value
    :data:`KNOWN_CYCLES` should have."""
    todo = cycle_edges(graph)
    cycles = set()
    for edge in sorted(todo):
        if edge in todo:
            cycle = canonical(shortest_cycle_through(graph, edge))
            cycles.add(cycle)
            todo.difference_update(edges_of(cycle))
    return sorted(cycles, key=lambda c: (len(c), c))


def check(graph: Graph, known) -> list[str]:
    """What is wrong with *known* as the allow-list for *graph* (empty: fine)."""
    problems = []
    allowed = set()
    for cycle in known:
        allowed.update(edges_of(cycle))
        missing = [f"{a} -> {b}" for a, b in edges_of(cycle) if b not in graph.get(a, {})]
        if missing:
            problems.append(f"known cycle {' -> '.join(cycle)} is gone (no import {', '.join(missing)}): delete it")
    for edge in sorted(cycle_edges(graph) - allowed):
        cycle = shortest_cycle_through(graph, edge)
        steps = " -> ".join(f"{a} [{graph[a][b]}]" for a, b in edges_of(cycle)) + f" -> {cycle[0]}"
        problems.append(f"new import cycle through {edge[0]} -> {edge[1]}:\n    {steps}")
    if problems:
        problems.append(f"KNOWN_CYCLES should now read:\n{format_cycles(covering_cycles(graph))}")
    return problems


def format_cycles(cycles, width: int = 120) -> str:
    """*cycles* as the Python list literal to paste into :data:`KNOWN_CYCLES`."""
    lines = ["["]
    for cycle in cycles:
        names = [f'"{name}"' for name in cycle]
        one_line = f"    ({', '.join(names)}{',' if len(names) == 1 else ''}),"
        if len(one_line) <= width:
            lines.append(one_line)
            continue
        lines.append("    (")
        line = "       "
        for name in names:
            if len(line) + len(name) + 2 > width:
                lines.append(line)
                line = "       "
            line += f" {name},"
        lines += [line, "    ),"]
    lines.append("]  # fmt: skip")
    return "\n".join(lines)


def _cli_subcommands() -> list[str]:
    from curionet.cli import SUBCOMMANDS

    return [f"curionet.cli.{name}" for name in SUBCOMMANDS]


# Modules that import others by a computed name (importlib.import_module).
DYNAMIC_IMPORTS = {"curionet.cli": _cli_subcommands()}

# The import cycles of today, to be broken (never added to).  Each entry is
# one cycle, starting at its smallest module name; each import runs from an
# entry to the next, and from the last back to the first.
KNOWN_CYCLES: list[tuple[str, ...]] = []


def test_no_new_import_cycle_and_no_stale_known_cycle():
    problems = check(import_graph(dynamic=DYNAMIC_IMPORTS), KNOWN_CYCLES)
    assert not problems, "\n".join(problems)


def test_every_dynamic_import_is_declared():
    for module, path in _modules(PACKAGE_DIR, "curionet").items():
        source = path.read_text()
        if "import_module(" in source or "__import__(" in source:
            assert module in DYNAMIC_IMPORTS, f"{module} imports by a computed name: declare it in DYNAMIC_IMPORTS"


# ---------------------------------------------------------------------------
# The checker itself, on a made-up package
# ---------------------------------------------------------------------------


def _package(tmp_path, files: dict[str, str]) -> pathlib.Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_graph_sees_lazy_relative_submodule_and_absolute_imports(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "from .a import f\n",
        "a.py": "def f():\n    from . import b  # lazy\n",
        "b.py": "from .sub import thing, mod\nimport pkg.c\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import a\nelse:\n    import os\n",
        "sub/__init__.py": "thing = 1\n",
        "sub/mod.py": "from .. import c\nfrom ..a import f\n",
    })  # fmt: skip
    graph = import_graph(root, "pkg")
    assert {m: sorted(e) for m, e in graph.items()} == {
        "pkg": ["pkg.a"],
        "pkg.a": ["pkg.b"],
        "pkg.b": ["pkg.c", "pkg.sub", "pkg.sub.mod"],
        "pkg.c": [],
        "pkg.sub": [],
        "pkg.sub.mod": ["pkg.a", "pkg.c"],
    }
    assert graph["pkg.a"]["pkg.b"] == "pkg/a.py:2"


def test_a_new_cycle_fails_and_is_printed(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "def later():\n    from .a import x\n",
        "c.py": "from . import d\n",
        "d.py": "import pkg.c\n",
    })  # fmt: skip
    graph = import_graph(root, "pkg")
    assert covering_cycles(graph) == [("pkg.a", "pkg.b"), ("pkg.c", "pkg.d")]
    problems = check(graph, [("pkg.a", "pkg.b")])
    assert "new import cycle through pkg.c -> pkg.d" in problems[0]
    assert "pkg.c [pkg/c.py:1] -> pkg.d [pkg/d.py:1] -> pkg.c" in problems[0]
    assert check(graph, [("pkg.a", "pkg.b"), ("pkg.c", "pkg.d")]) == []


def test_a_broken_known_cycle_fails(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from . import b\n", "b.py": ""})
    problems = check(import_graph(root, "pkg"), [("pkg.a", "pkg.b")])
    assert problems[0] == "known cycle pkg.a -> pkg.b is gone (no import pkg.b -> pkg.a): delete it"


def test_a_new_edge_inside_a_known_cycle_fails(tmp_path):
    """Modules already on a cycle still may not gain another one."""
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "from . import c\n",
        "c.py": "from . import a\nfrom . import b\n",
    })  # fmt: skip
    problems = check(import_graph(root, "pkg"), [("pkg.a", "pkg.b", "pkg.c")])
    assert "new import cycle through pkg.c -> pkg.b" in problems[0]


@pytest.mark.parametrize("cycle", [("b", "c", "a"), ("c", "a", "b"), ("a", "b", "c")])
def test_canonical_rotation(cycle):
    assert canonical(cycle) == ("a", "b", "c")
