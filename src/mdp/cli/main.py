"""Run one ``mdp`` command and turn how it ended into an exit code (``mdp.errors.exit_code``).

A fault is logged as one line (the traceback only with ``-v``) and printed as the command's JSON
result line, ``{"error": {...}}``, which the DAGs read back into the failed task's message.
"""

from __future__ import annotations

import argparse
import logging
import sys
import uuid
from collections.abc import Callable, Sequence

from mdp import crashpoints, exitcodes
from mdp.cli.output import emit
from mdp.cli.parser import build_parser
from mdp.errors import MdpError, Quarantined, exit_code

log = logging.getLogger("mdp")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; with ``MDP__PROFILE=FILE`` under cProfile, its stats written to FILE
    (for ``python -m pstats FILE`` or ``make bench BENCH_ARGS=--profile DIR``)."""
    from mdp.config import ProfileSettings

    profile = ProfileSettings().profile
    if profile is None:
        return _main(argv)
    import cProfile

    profiler = cProfile.Profile()
    try:
        return int(profiler.runcall(_main, argv))
    finally:
        profiler.dump_stats(profile)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if getattr(args, "run_id", "unset") is None:
        args.run_id = f"manual-{uuid.uuid4()}"
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        crashpoints.check()
        return func(args)
    except Quarantined as e:
        log.error("%s", e.message)
        emit({"error": e.context()})
        return exit_code(e)
    except MdpError as e:
        log.error("%s", e.message)
        log.debug("details", exc_info=True)
        emit({"error": e.context()})
        return exit_code(e)
    except Exception as e:
        outage = _outage(e)
        if outage is not None:
            log.error("%s", outage)
            log.debug("details", exc_info=True)  # the traceback only with -v
            emit({"error": {"error": "Outage", "message": outage, "terminal": False}})
            return exitcodes.FAULT
        log.exception("unexpected fault")
        emit({"error": {"error": type(e).__name__, "message": str(e), "terminal": False}})
        return exit_code(e)


def _outage(error: BaseException) -> str | None:
    """The one-line description of an outage (mdp.outage), with where the servers were."""
    from mdp.config import PostgresSettings, S3Settings
    from mdp.outage import describe

    try:
        pg, s3 = PostgresSettings(), S3Settings()
        postgres, object_store = f"{pg.host}:{pg.port}", s3.endpoint
    except Exception:  # settings that do not parse cannot have been used: say so generically
        postgres = object_store = "(unknown)"
    return describe(error, postgres=postgres, object_store=object_store)
