"""The ``mdp`` command line: one subcommand per step or task, exit codes from ``mdp.exitcodes``.

``parser`` builds the argument parser from one module per command group (``steps``,
``reprocess``, ``audit``, ``generate``, ``db``, ``setup``, ``metabase``, ``contracts``,
``metrics``), each of which adds its subcommands and runs them; ``main`` runs one command and
routes its fault to an exit code. Commands log progress to stderr and print one JSON line
describing the result to stdout (``output``), so a person reads the log and a program (the DAG, a
test) parses the last line. Settings come only from ``mdp.config``. Each command imports its
step's modules when it runs, so an image that installs only one step's extra can still run that
step.
"""

from __future__ import annotations

from mdp.cli.main import main
from mdp.cli.parser import build_parser

__all__ = ["build_parser", "main"]
