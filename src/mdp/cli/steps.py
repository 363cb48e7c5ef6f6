"""``mdp validate|transform|load|run``: the pipeline steps, from one registry.

Each step is a :class:`Step`: its subcommand, the package extra (and image) it needs, how to import
its function when it runs, and which settings it takes. ``run`` chains the three in one process
(``mdp.run.Pipeline``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from mdp import exitcodes
from mdp.cli.arguments import add_key, positive
from mdp.cli.context import connect, step_context
from mdp.cli.output import emit, emit_result, started
from mdp.errors import require

if TYPE_CHECKING:
    from mdp.config import StepSettings
    from mdp.steps import StepResult


StepFunction = Callable[..., "StepResult"]
"""``(key, run_id, store, audit, **options) -> StepResult``: a step's entry function."""


def _validate() -> StepFunction:
    from mdp.validate.step import validate_object

    return validate_object


def _transform() -> StepFunction:
    from mdp.transform.step import transform_object

    return transform_object


def _load() -> StepFunction:
    from mdp.load.step import load_object

    return load_object


def _no_options(_: StepSettings) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Step:
    name: str
    help: str
    extra: str
    """The package extra (and image) with the step's dependencies."""
    function: Callable[[], StepFunction]
    """Imports the step's function when it runs: an image installs one step's extra only."""
    retried: bool
    """Takes ``--attempt``/``--max-attempts``: its faults are retried, then quarantined."""
    options: Callable[[StepSettings], dict[str, Any]] = field(default=_no_options)
    """The step's own settings (``MDP__*``) as keyword arguments."""


STEPS = (
    Step(
        "validate",
        "validate one incoming object against its contract",
        "validator",
        _validate,
        retried=False,
        options=lambda s: {
            "batch_rows": s.batch_rows,
            "report_rows": s.report_row_numbers,
            "max_uncompressed_bytes": s.max_uncompressed_bytes,
        },
    ),
    Step(
        "transform",
        "deduplicate and derive warehouse tables for one validated file",
        "transformer",
        _transform,
        retried=True,
    ),
    Step(
        "load",
        "merge one transformed file into the warehouse and archive it",
        "loader",
        _load,
        retried=True,
    ),
)


def exit_code(outcome: str) -> int:
    return exitcodes.REJECTED if outcome == "rejected" else exitcodes.OK


def run_step(step: Step, args: argparse.Namespace) -> int:
    """Run one step on ``args.key`` with its settings, print its result line, map its outcome."""
    settings, store = step_context(step.extra)
    from mdp.audit import AuditLog

    function = step.function()
    kwargs = {"scratch_dir": settings.scratch_dir, **step.options(settings)}
    if step.retried:
        kwargs |= {"attempt": args.attempt, "max_attempts": args.max_attempts}
    with connect() as conn:
        started()
        result = function(args.key, args.run_id, store, AuditLog(conn), **kwargs)
    emit_result(step.name, result)
    return exit_code(result.outcome)


def run_pipeline(args: argparse.Namespace) -> int:
    settings, store = step_context("loader")
    require("ijson", "validator")
    from mdp.audit import AuditLog
    from mdp.run import Pipeline

    with connect() as conn:
        started()
        pipeline = Pipeline(
            store,
            AuditLog(conn),
            scratch_dir=settings.scratch_dir,
            batch_rows=settings.batch_rows,
            max_uncompressed_bytes=settings.max_uncompressed_bytes,
        )
        summary = pipeline.run(args.key, args.run_id)
    emit({"step": "run", **summary})
    return exit_code(str(summary["outcome"]))


def register(sub: Any) -> None:
    for step in STEPS:
        p = sub.add_parser(step.name, help=step.help)
        add_key(p)
        if step.retried:
            p.add_argument(
                "--attempt",
                type=positive,
                default=1,
                help="this attempt's number (the orchestrator's try number)",
            )
            p.add_argument(
                "--max-attempts",
                type=positive,
                default=None,
                help="on a fault in this attempt number or later, quarantine the file in "
                "failed/<stage>/ instead of asking for a retry (default: never)",
            )
        p.set_defaults(func=partial(run_step, step))
    p = sub.add_parser("run", help="validate, transform and load one file in this process")
    p.add_argument("key", help="object key, incoming/<dataset>/<file>")
    p.add_argument("--run-id", default=None, help="run id (default: random)")
    p.set_defaults(func=run_pipeline)
