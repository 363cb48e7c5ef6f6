"""Every exception raised under src/mdp ends in a documented exit code.

The orchestrator decides from the exit code alone (retry, skip, fail), so every ``raise`` in the
package is accounted for here: an ``MdpError`` gets its code from ``mdp.errors.exit_code``
(terminal, transient, quarantined); any other exception is listed below with where it ends. A new
``raise`` of a new exception type fails this test until someone decides which code it means.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import re
from pathlib import Path

import pytest

from mdp import exitcodes
from mdp.errors import MdpError, Quarantined, TerminalError, exit_code

SRC = Path(__file__).resolve().parents[1] / "src"

DOCUMENTED = {
    int(m[1]) for m in re.finditer(r"^\| (\d) +\|", exitcodes.__doc__ or "", re.MULTILINE)
}

# Exceptions that are not MdpError: (exit code they end in, where that happens).
OTHER: dict[str, tuple[int, str]] = {
    "ValueError": (exitcodes.FAULT, "a bug or an argument the code checks: the generic fault"),
    "KeyError": (exitcodes.FAULT, "a lookup that cannot fail for valid input: a bug"),
    "TypeError": (exitcodes.FAULT, "a bug"),
    "RuntimeError": (exitcodes.FAULT, "a broken internal invariant: a bug"),
    "AttributeError": (exitcodes.FAULT, "module __getattr__ of an unknown name: a bug"),
    "FileRejected": (exitcodes.REJECTED, "caught by the validate step: quarantined, exit 3"),
    "ColumnTypeError": (exitcodes.REJECTED, "caught by the validate step: quarantined, exit 3"),
    "ExpressionError": (exitcodes.USAGE, "caught by the contract checks: a problem, exit 2"),
    "ConstructorError": (exitcodes.USAGE, "caught by the contract loader: a problem, exit 2"),
    "ArgumentTypeError": (exitcodes.USAGE, "argparse: a usage error, exit 2"),
    "ServerError": (exitcodes.FAULT, "the dev servers of tests and the quickstart, no step"),
    "SystemExit": (exitcodes.OK, "the quickstart's own exit"),
    "KeyboardInterrupt": (exitcodes.OK, "the quickstart stopping on Ctrl-C"),
}
CAUGHT_IN = {
    "FileRejected": "mdp/validate/engine.py",
    "ColumnTypeError": "mdp/validate/engine.py",
    "ExpressionError": "mdp/contracts/checks.py",
}


def raised() -> dict[str, set[str]]:
    """Exception class names raised anywhere under src/mdp, with the modules raising them."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / "mdp").rglob("*.py")):
        module = ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id[0].isupper():
                found.setdefault(target.id, set()).add(module)
            elif isinstance(target, ast.Attribute):
                found.setdefault(target.attr, set()).add(module)
    return found


def _class(name: str, modules: set[str]) -> type[BaseException]:
    if hasattr(builtins, name):
        return getattr(builtins, name)  # type: ignore[no-any-return]
    for module in sorted(modules):
        candidate = getattr(importlib.import_module(module), name, None)
        if isinstance(candidate, type) and issubclass(candidate, BaseException):
            return candidate
    import argparse

    import yaml

    for namespace in (argparse, yaml.constructor):
        if hasattr(namespace, name):
            return getattr(namespace, name)  # type: ignore[no-any-return]
    raise AssertionError(f"cannot find the exception class {name} raised in {modules}")


RAISED = raised()


def test_the_exit_code_table_documents_every_code() -> None:
    codes = {exitcodes.OK, exitcodes.FAULT, exitcodes.USAGE, exitcodes.REJECTED}
    assert codes | {exitcodes.TERMINAL} == DOCUMENTED


@pytest.mark.parametrize("name", sorted(RAISED))
def test_every_raised_exception_has_a_documented_exit_code(name: str) -> None:
    cls = _class(name, RAISED[name])
    if issubclass(cls, MdpError):
        error = cls.__new__(cls)
        code = exit_code(error)
        assert code in DOCUMENTED
        if issubclass(cls, Quarantined):
            assert code == exitcodes.REJECTED
        elif cls.terminal:
            assert code == exitcodes.TERMINAL
        else:
            assert code == exitcodes.FAULT
        return
    assert name in OTHER, f"{name} (raised in {sorted(RAISED[name])}): which exit code is it?"
    code, _ = OTHER[name]
    assert code in DOCUMENTED
    if name in CAUGHT_IN:
        handler = (SRC / CAUGHT_IN[name]).read_text(encoding="utf-8")
        assert re.search(rf"except \(?[^:]*\b{name}\b", handler), (
            f"{CAUGHT_IN[name]} catches {name}"
        )
    elif code == exitcodes.FAULT:
        assert exit_code(cls()) == exitcodes.FAULT


def test_the_listed_exceptions_are_still_raised() -> None:
    """The table must not outlive the code: every entry is raised somewhere."""
    assert set(OTHER) <= set(RAISED)


def test_migration_history_disagreeing_with_the_files_is_terminal() -> None:
    from mdp.db.migrate import MigrationError, UnsafeContractChange

    assert issubclass(MigrationError, TerminalError)
    assert exit_code(MigrationError("edited")) == exitcodes.TERMINAL
    assert exit_code(UnsafeContractChange("refused")) == exitcodes.TERMINAL
