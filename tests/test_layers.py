"""The package's import graph: no cycle, and no module importing a higher layer than its own.

``LAYERS`` is the declared order, lowest first; a module may import its own unit (the package
or module named in a layer) and any unit of a lower layer, never a peer of its layer nor anything
above. Every import counts, also those inside functions (the steps import their extras lazily)
and under ``TYPE_CHECKING``: a dependency is a dependency wherever it is written. A new module
must belong to a unit, so adding one means placing it in the order (docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("mdp.exitcodes", "mdp.layout", "mdp.timing", "mdp.devservers"),
    ("mdp.errors",),
    ("mdp.config", "mdp.crashpoints", "mdp.outage"),
    ("mdp.contracts",),
    ("mdp.storage", "mdp.db", "mdp.audit", "mdp.warehouse"),
    ("mdp.extensions",),
    ("mdp.steps",),
    (
        "mdp.validate",
        "mdp.transform",
        "mdp.load",
        "mdp.generate",
        "mdp.reprocess",
        "mdp.setup",
        "mdp.metabase",
        "mdp.metrics",
    ),
    ("mdp.run",),
    ("mdp.quickstart",),
    ("mdp.cli",),
)
"""Lowest first: foundation; contracts; infrastructure (object store, database, audit log,
table specs); contract extensions; shared step plumbing; the steps, set-up tasks and the metrics
exporter; the pipeline object; the quickstart; the command line."""


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the ``mdp`` package by dotted name (a package is its ``__init__``),
    except the root package itself, which holds no code."""
    found = {}
    for path in sorted((src / "mdp").rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if len(parts) > 1:
            found[".".join(parts)] = path
    return found


def imports(path: Path, known: Iterable[str]) -> set[str]:
    """The ``mdp`` modules ``path`` imports anywhere in it: ``from a.b import c`` is ``a.b.c``
    when that is a module, else ``a.b``."""
    names = set(known)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" for a in node.names]
            targets = [t if t in names else node.module for t in targets]
        for target in targets:
            name = target
            while name not in names and "." in name:
                name = name.rsplit(".", 1)[0]
            if name in names:
                found.add(name)
    return found


def graph(src: Path = SRC) -> dict[str, set[str]]:
    found = modules(src)
    return {name: imports(path, found) - {name} for name, path in found.items()}


def unit_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> tuple[int, str] | None:
    """(layer index, unit) of a module: the longest unit that is it or contains it."""
    best: tuple[int, str] | None = None
    for index, units in enumerate(layers):
        for unit in units:
            if (module == unit or module.startswith(unit + ".")) and (
                best is None or len(unit) > len(best[1])
            ):
                best = (index, unit)
    return best


def upward(edges: Mapping[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    """Every import that is not of the importer's own unit or of a lower layer."""
    bad = []
    for module, targets in sorted(edges.items()):
        mine = unit_of(module, layers)
        assert mine is not None, f"{module} belongs to no unit of LAYERS"
        for target in sorted(targets):
            theirs = unit_of(target, layers)
            assert theirs is not None, f"{target} belongs to no unit of LAYERS"
            if theirs[1] != mine[1] and theirs[0] >= mine[0]:
                bad.append(f"{module} (layer {mine[0]}) imports {target} (layer {theirs[0]})")
    return bad


def cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_layer() -> None:
    assert [m for m in modules() if unit_of(m) is None] == []
    assert (SRC / "mdp" / "__init__.py").read_text(encoding="utf-8").count("import") == 0


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_no_module_imports_a_higher_layer_or_a_peer() -> None:
    assert upward(graph(), LAYERS) == []


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_cycle_finder_finds_cycles(
    edges: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert cycles(edges) == expected


def test_the_layer_check_refuses_upward_and_sideways_imports() -> None:
    layers = (("p.low",), ("p.mid", "p.peer"), ("p.high",))
    edges = {
        "p.low.a": {"p.mid"},  # upward
        "p.mid": {"p.low.a", "p.mid.x", "p.peer"},  # down: fine; own unit: fine; peer: refused
        "p.mid.x": set(),
        "p.peer": set(),
        "p.high": {"p.low.a", "p.mid.x"},
    }
    assert upward(edges, layers) == [
        "p.low.a (layer 0) imports p.mid (layer 1)",
        "p.mid (layer 1) imports p.peer (layer 1)",
    ]


def test_lazy_and_type_checking_imports_count(tmp_path: Path) -> None:
    package = tmp_path / "mdp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from mdp import high\n"
        "def f():\n    import mdp.other.deep\n"
    )
    (package / "high.py").write_text("from mdp.low import f\n")
    (package / "other").mkdir()
    (package / "other" / "__init__.py").write_text("")
    (package / "other" / "deep.py").write_text("")
    assert graph(tmp_path)["mdp.low"] == {"mdp.high", "mdp.other.deep"}
    assert cycles(graph(tmp_path)) == [["mdp.high", "mdp.low"]]
