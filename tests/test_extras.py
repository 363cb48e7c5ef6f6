"""Each image installs the package with only its step's extra: every third-party module a step's
code imports (its own modules and the mdp modules they import) must come from that extra."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
IMPORT_TO_DIST = {
    "faker": "faker",
    "psycopg": "psycopg",
    "yaml": "pyyaml",
    "prometheus_client": "prometheus-client",
}
CORE = {"pydantic", "pydantic_settings"}
STEPS = {
    "validator": "mdp.validate.step",
    "transformer": "mdp.transform.step",
    "loader": "mdp.load.step",
    "generator": "mdp.generate.step",
    "setup": "mdp.db.migrate",
    "provisioner": "mdp.metabase.provision",
    "metrics": "mdp.metrics.exporter",
}


def _module_path(name: str) -> Path | None:
    base = SRC / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _module_level(tree: ast.Module) -> list[ast.AST]:
    """Nodes executed at import time: not inside functions (lazy imports are deliberate, so a
    step pulls in an extra only when it runs that code) nor under TYPE_CHECKING."""
    out: list[ast.AST] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
            continue
        out.append(node)
        todo.extend(ast.iter_child_nodes(node))
    return out


def _third_party_imports(module: str) -> set[str]:
    """Third-party modules imported at import time by ``module`` and the mdp modules it
    imports, transitively."""
    seen: set[str] = set()
    found: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name)
        if path is None:
            continue
        for node in _module_level(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for n in names:
                top = n.split(".")[0]
                if top == "mdp":
                    todo.append(n)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.add(top)
    return found


def _extra(name: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=\[ ;]", r)[0].lower() for r in project["optional-dependencies"][name]}


@pytest.mark.parametrize(("extra", "module"), STEPS.items())
def test_extra_provides_every_import(extra: str, module: str) -> None:
    needed = {IMPORT_TO_DIST.get(m, m) for m in _third_party_imports(module) - CORE}
    assert needed - _extra(extra) == set(), f"add to the [{extra}] extra"


def test_the_provisioner_extra_is_needed_by_its_step() -> None:
    """The check above cannot pass vacuously for the provisioner: it does import httpx."""
    assert "httpx" in _third_party_imports("mdp.metabase.provision")
