"""The command line's structure: the step registry, the command groups, and settings that come
only from mdp.config. (What the commands do, run as processes: tests/cli/test_cli.py.)"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from mdp.cli import build_parser
from mdp.cli.parser import GROUPS
from mdp.cli.steps import STEPS
from mdp.config import SetupSettings
from mdp.errors import ConfigError

SRC = Path(__file__).resolve().parents[2] / "src" / "mdp"


@pytest.mark.parametrize("step", STEPS, ids=lambda s: s.name)
def test_every_registered_step_is_a_command_with_its_options(step: object) -> None:
    from mdp.cli.steps import Step

    assert isinstance(step, Step)
    args = build_parser().parse_args([step.name, "incoming/sales/a.csv", "--run-id", "r"])
    assert (args.key, args.run_id) == ("incoming/sales/a.csv", "r")
    retry = ["--attempt", "2", "--max-attempts", "3"]
    if step.retried:
        args = build_parser().parse_args([step.name, "incoming/sales/a.csv", *retry])
        assert (args.attempt, args.max_attempts) == (2, 3)
    else:
        with pytest.raises(SystemExit):
            build_parser().parse_args([step.name, "incoming/sales/a.csv", *retry])


def test_the_registry_names_the_three_steps_and_their_images() -> None:
    assert [(s.name, s.extra, s.retried) for s in STEPS] == [
        ("validate", "validator", False),
        ("transform", "transformer", True),
        ("load", "loader", True),
    ]


def test_the_step_functions_are_imported_only_when_they_run() -> None:
    """An image with one step's extra must start `mdp` without the others' packages."""
    code = (
        "import sys; import mdp.cli; from mdp.cli import build_parser; build_parser();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('pyarrow', 'psycopg', 'minio', 'faker', 'httpx', 'numpy')"
        " or m.startswith(('mdp.validate', 'mdp.transform', 'mdp.load', 'mdp.extensions'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_the_groups_list_every_command_in_help_order() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert list(sub.choices) == [  # type: ignore[attr-defined]
        "validate",
        "transform",
        "load",
        "run",
        "requeue",
        "summary",
        "generate",
        "db",
        "setup",
        "metabase",
        "contracts",
        "metrics",
    ]
    assert len(GROUPS) == len({g.__name__ for g in GROUPS})


ENVIRONMENT_READERS = {
    "mdp/crashpoints.py": "MDP__CRASH_AT, test-only, read once at import (before any settings)",
    "mdp/devservers.py": "MINIO_BINARY, PG_BINDIR: where the tests' and quickstart's servers are",
    "mdp/storage/object_store.py": "SSL_CERT_FILE, the TLS stack's own variable",
}


def test_settings_are_read_only_through_mdp_config() -> None:
    """Every SECTION__KEY variable is a field of a settings class in mdp/config.py."""
    readers = set()
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv"):
                readers.add(str(path.relative_to(SRC.parent)))
    assert readers == set(ENVIRONMENT_READERS)


def test_setup_users_come_from_setup_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for role in SetupSettings.ROLES:
        monkeypatch.setenv(f"SETUP__{role.upper()}_ACCESS_KEY", f"{role}-user")
        monkeypatch.setenv(f"SETUP__{role.upper()}_SECRET_KEY", f"{role}-secret")
    assert SetupSettings().users() == [
        ("pipeline", "pipeline-user", "pipeline-secret"),
        ("generator", "generator-user", "generator-secret"),
        ("readonly", "readonly-user", "readonly-secret"),
        ("metrics", "metrics-user", "metrics-secret"),
    ]
    monkeypatch.setenv("SETUP__GENERATOR_SECRET_KEY", "")
    with pytest.raises(ConfigError, match=r"set SETUP__GENERATOR_SECRET_KEY \(the generator"):
        SetupSettings().users()
