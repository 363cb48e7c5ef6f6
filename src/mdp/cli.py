"""The ``mdp`` command line: one subcommand per step, exit codes from ``mdp.exitcodes``.

Steps log progress to stderr and print one JSON line describing the result to stdout, so a person
reads the log and a program (the DAG, a test) parses the last line. Step modules are imported
inside their subcommand, so an image that installs only one step's extra can still run it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from mdp import crashpoints, exitcodes, timing
from mdp.errors import MdpError, Quarantined, exit_code, require

log = logging.getLogger("mdp")


def _emit(document: dict[str, Any]) -> None:
    print(json.dumps(document, default=str, sort_keys=True), flush=True)


def _emit_result(step: str, result: Any) -> None:
    """The result line of a step that returns a ``StepResult``, with its timings."""
    _emit(
        {
            "step": step,
            "outcome": result.outcome,
            "key": result.key,
            "audit_id": result.record_id,
            **result.detail,
            "timings": timing.take(),
        }
    )


def _started() -> None:
    """Record the start-up: process start until the step's work begins (see mdp.timing)."""
    startup = timing.since_process_start()
    if startup is not None:
        timing.record("startup", startup)


def _step_context(extra: str) -> tuple[Any, Any]:
    """(step settings, object store) from the environment, after checking the extra."""
    require("pyarrow", extra)
    require("psycopg", extra)
    from mdp.config import S3Settings, StepSettings
    from mdp.storage import ObjectStore

    return StepSettings(), ObjectStore.from_settings(S3Settings())


def _connect() -> Any:
    from mdp.config import PostgresSettings
    from mdp.db.connect import connect

    return connect(PostgresSettings())


def _exit_code(outcome: str) -> int:
    return exitcodes.REJECTED if outcome == "rejected" else exitcodes.OK


def _run_step(name: str, extra: str, args: argparse.Namespace) -> int:
    """Run one step on ``args.key`` with its settings, print its result line, map its outcome."""
    step, store = _step_context(extra)
    from mdp.audit import AuditLog

    kwargs: dict[str, Any] = {"scratch_dir": step.scratch_dir}
    func: Callable[..., Any]
    if name == "validate":
        from mdp.validate.step import validate_object

        func = validate_object
        kwargs |= {"batch_rows": step.batch_rows, "report_rows": step.report_row_numbers}
    elif name == "transform":  # each branch imports only its own step: one extra per image
        from mdp.transform.step import transform_object

        func = transform_object
    else:
        from mdp.load.step import load_object

        func = load_object
    if name != "validate":
        kwargs |= {"attempt": args.attempt, "max_attempts": args.max_attempts}
    with _connect() as conn:
        _started()
        result = func(args.key, args.run_id, store, AuditLog(conn), **kwargs)
    _emit_result(name, result)
    return _exit_code(result.outcome)


def _cmd_validate(args: argparse.Namespace) -> int:
    return _run_step("validate", "validator", args)


def _cmd_transform(args: argparse.Namespace) -> int:
    return _run_step("transform", "transformer", args)


def _cmd_load(args: argparse.Namespace) -> int:
    return _run_step("load", "loader", args)


def _cmd_run(args: argparse.Namespace) -> int:
    step, store = _step_context("loader")
    require("ijson", "validator")
    from mdp.audit import AuditLog
    from mdp.run import Pipeline

    with _connect() as conn:
        _started()
        pipeline = Pipeline(
            store, AuditLog(conn), scratch_dir=step.scratch_dir, batch_rows=step.batch_rows
        )
        summary = pipeline.run(args.key, args.run_id)
    _emit({"step": "run", **summary})
    return _exit_code(str(summary["outcome"]))


def _cmd_requeue(args: argparse.Namespace) -> int:
    _, store = _step_context("validator")
    from mdp.audit import AuditLog
    from mdp.reprocess import requeue_object

    with _connect() as conn:
        result = requeue_object(args.key, args.run_id, store, AuditLog(conn))
    _emit_result("requeue", result)
    return exitcodes.OK


def _cmd_summary(args: argparse.Namespace) -> int:
    require("psycopg", "loader")
    from mdp.audit.summary import summarise_run

    with _connect() as conn:
        summary = summarise_run(conn, args.run_id, args.expect)
    log.info("summary of %s\n%s", args.run_id, summary.render())
    _emit({"step": "summary", **summary.as_dict()})
    return exitcodes.OK


def _cmd_generate(args: argparse.Namespace) -> int:
    require("faker", "generator")
    from mdp.config import S3Settings, StepSettings
    from mdp.generate.step import generate, manifest_lines
    from mdp.storage import ObjectStore

    manifest = generate(
        ObjectStore.from_settings(S3Settings()),
        args.dataset,
        files=args.files,
        rows=args.rows,
        fmt=args.format,
        bad_fraction=args.bad_fraction,
        seed=args.seed,
        now=args.now,
        scratch_dir=StepSettings().scratch_dir,
    )
    for line in manifest_lines(manifest):
        _emit(line)
    return exitcodes.OK


def _cmd_db_migrate(args: argparse.Namespace) -> int:
    """The numbered SQL files, then every contract's table (mdp.db.migrate). A dry run does all
    of it inside one transaction that is rolled back, so the DDL it prints is exactly what a real
    run would execute against this database now."""
    require("psycopg", "setup")
    from contextlib import AbstractContextManager, nullcontext

    from mdp.config import PostgresSettings
    from mdp.contracts.registry import registry
    from mdp.db.connect import connect
    from mdp.db.migrate import migrate, migrate_contracts

    contracts = list(registry().active.values())  # invalid contracts fail before any change
    say = (lambda m: log.info("dry run, not applied: %s", m)) if args.dry_run else log.info
    with connect(PostgresSettings()) as conn:
        # A real run keeps migrate's own transactions (each file commits on its own); a dry run
        # nests them all in one that is rolled back.
        outer: AbstractContextManager[Any] = (
            conn.transaction(force_rollback=True) if args.dry_run else nullcontext()
        )
        with outer:
            applied = migrate(conn, args.sql_dir, log=say)
            ddl = migrate_contracts(conn, contracts, log=say)
    if args.dry_run:
        for name in applied:
            print(f"-- {name} (pending numbered migration)", flush=True)
        for statement in ddl:
            print(f"{statement};", flush=True)
        if not applied and not ddl:
            print("-- nothing to do", flush=True)
    log.info(
        "%d migration(s) and %d contract statement(s) %s",
        len(applied),
        len(ddl),
        "would be applied (dry run: nothing changed)" if args.dry_run else "applied",
    )
    _emit({"step": "db-migrate", "applied": applied, "contract_ddl": ddl, "dry_run": args.dry_run})
    return exitcodes.OK


def _cmd_contracts_check(args: argparse.Namespace) -> int:
    """Every file of DIR against the schema and the semantic rules; exit 2 on any problem."""
    from mdp.contracts.registry import load_directory

    reg = load_directory(args.directory)
    bad = {p.file for p in reg.problems}
    for versions in reg.versions.values():
        for v in versions:
            if str(v.path) not in bad:
                active = " (active)" if v is versions[-1] else ""
                print(f"OK {v.path}: {v.document.dataset} v{v.document.version}{active}")
    for problem in reg.problems:
        print(problem)
    if not reg.versions and not reg.problems:
        print(f"{args.directory}: (directory): no contract files (*.yaml)")
        return exitcodes.USAGE
    return exitcodes.USAGE if reg.problems else exitcodes.OK


def _cmd_contracts_show(args: argparse.Namespace) -> int:
    """The active contract of NAME as the steps see it (CONTRACTS__DIR or --dir)."""
    import yaml

    from mdp.contracts.registry import describe, load_directory, registry

    reg = load_directory(args.dir) if args.dir else registry()
    for problem in reg.problems:
        print(problem, file=sys.stderr)
    if args.name not in reg.versions:
        known = ", ".join(sorted(reg.versions))
        print(f"unknown dataset {args.name!r}; known: {known}", file=sys.stderr)
        return exitcodes.USAGE
    document = dict(describe(reg.versions[args.name][-1]))
    if args.format == "json":
        print(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        print(yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), end="")
    return exitcodes.OK


def _cmd_contracts_schema(args: argparse.Namespace) -> int:
    """The JSON Schema of contract files, as committed in contracts/contract.schema.json."""
    from mdp.contracts.model import json_schema_text

    if args.output is None:
        print(json_schema_text(), end="")
    else:
        args.output.write_text(json_schema_text(), encoding="utf-8")
    return exitcodes.OK


def _cmd_setup_storage(args: argparse.Namespace) -> int:
    """Bucket, prefixes, users and policies. Users come from SETUP__<ROLE>_ACCESS_KEY and
    SETUP__<ROLE>_SECRET_KEY (ROLE: PIPELINE, GENERATOR, READONLY), as the setup Job mounts
    them from their Secrets; S3__* holds the root credentials."""
    import os

    require("minio", "setup")
    from minio import MinioAdmin
    from minio.credentials.providers import StaticProvider

    from mdp.config import S3Settings
    from mdp.errors import ConfigError
    from mdp.setup.storage import User, setup_storage
    from mdp.storage import ObjectStore

    settings = S3Settings()
    users = []
    for role in ("pipeline", "generator", "readonly"):
        names = [f"SETUP__{role.upper()}_ACCESS_KEY", f"SETUP__{role.upper()}_SECRET_KEY"]
        missing = [n for n in names if not os.environ.get(n)]
        if missing:
            raise ConfigError(f"set {', '.join(missing)} (the {role} MinIO user's Secret)")
        users.append(User(os.environ[names[0]], os.environ[names[1]], f"mdp-{role}"))
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    admin = MinioAdmin(
        endpoint=settings.endpoint,
        credentials=StaticProvider(settings.access_key or "", secret),
        secure=settings.secure,
    )
    store = ObjectStore.from_settings(settings)
    if args.datasets is None:
        # Every dataset of the contracts (CONTRACTS__DIR, as the chart mounts them), so a dataset
        # added to the contracts gets its incoming/<dataset>/ prefix on the next `helm upgrade`.
        from mdp.contracts import known_datasets

        datasets = known_datasets()
    else:
        datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    _emit(
        {
            "step": "setup-storage",
            **setup_storage(store.client, admin, settings.bucket, datasets, users),
        }
    )
    return exitcodes.OK


def _cmd_metabase_provision(args: argparse.Namespace) -> int:
    """Dashboards as code: Metabase's setup, warehouse connection and content (safe to repeat)."""
    require("httpx", "provisioner")
    require("yaml", "provisioner")
    from mdp.config import MetabaseSettings, PostgresSettings
    from mdp.errors import ConfigError
    from mdp.metabase.client import MetabaseClient
    from mdp.metabase.content import load_content
    from mdp.metabase.provision import Admin, WarehouseLogin, provision

    content = load_content(args.content)  # a broken file fails before any request
    mb, pg = MetabaseSettings(), PostgresSettings()
    if not mb.admin_email or mb.admin_password is None:
        raise ConfigError(
            "set METABASE__ADMIN_EMAIL and METABASE__ADMIN_PASSWORD (or ..._PASSWORD_FILE)"
        )
    if pg.password is None:
        raise ConfigError("set PG__PASSWORD (or PG__PASSWORD_FILE): the read-only login's password")
    admin = Admin(mb.admin_email, mb.admin_password.get_secret_value(), mb.site_name)
    warehouse = WarehouseLogin(
        host=pg.host,
        port=pg.port,
        dbname=pg.database,
        user=pg.user,
        password=pg.password.get_secret_value(),
        ssl=pg.sslmode in {"require", "verify-ca", "verify-full"},
    )
    with MetabaseClient(mb.url, timeout=mb.request_timeout, backoff=mb.retry_backoff) as client:
        report = provision(
            client,
            content,
            admin,
            warehouse,
            wait_seconds=mb.wait_timeout,
            update_connection=args.update_connection,
        )
    _emit({"step": "metabase-provision", **report.as_dict()})
    return exitcodes.OK


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _key_list(text: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise argparse.ArgumentTypeError('want a JSON list of keys, e.g. ["incoming/sales/a.csv"]')
    return value


def _timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


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


def _add_contracts_parser(sub: Any) -> None:
    from pathlib import Path

    contracts = sub.add_parser(
        "contracts", help="dataset contracts: check files, show the active one, the schema"
    ).add_subparsers(dest="contracts_command", required=True)
    p = contracts.add_parser(
        "check",
        help="check every *.yaml file of DIR (schema, semantics, safe evolution between "
        "versions); prints OK per good file, FILE: PATH: problem per problem; exit 2 on any",
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="directory of contract files")
    p.set_defaults(func=_cmd_contracts_check)
    p = contracts.add_parser("show", help="print the active contract of a dataset")
    p.add_argument("name", metavar="NAME", help="dataset name")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="contracts directory (default: CONTRACTS__DIR, else the built-ins)",
    )
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.set_defaults(func=_cmd_contracts_show)
    p = contracts.add_parser("schema", help="print the JSON Schema of contract files")
    p.add_argument("--output", type=Path, default=None, help="write to this file instead")
    p.set_defaults(func=_cmd_contracts_schema)


def build_parser() -> argparse.ArgumentParser:
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="mdp",
        description="Mini Data Platform steps. Configuration comes from environment variables "
        "(S3__*, PG__*, MDP__*, CONTRACTS__*, METABASE__*); see the README.",
        epilog="Exit codes: 0 done, 1 fault (retry), 2 usage, 3 data rejected and quarantined, "
        "4 terminal fault (do not retry). Exit 3 also means retries ran out and the file was "
        "quarantined in failed/<stage>/.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate one incoming object against its contract")
    p.add_argument("key", help="object key, incoming/<dataset>/<file>")
    p.add_argument("--run-id", default=None, help="orchestrator run id (default: random)")
    p.set_defaults(func=_cmd_validate)

    for name, helptext, func in [
        (
            "transform",
            "deduplicate and derive warehouse tables for one validated file",
            _cmd_transform,
        ),
        ("load", "merge one transformed file into the warehouse and archive it", _cmd_load),
    ]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("key", help="object key, incoming/<dataset>/<file>")
        p.add_argument("--run-id", default=None, help="orchestrator run id (default: random)")
        p.add_argument(
            "--attempt",
            type=_positive,
            default=1,
            help="this attempt's number (the orchestrator's try number)",
        )
        p.add_argument(
            "--max-attempts",
            type=_positive,
            default=None,
            help="on a fault in this attempt number or later, quarantine the file in "
            "failed/<stage>/ instead of asking for a retry (default: never)",
        )
        p.set_defaults(func=func)

    p = sub.add_parser("run", help="validate, transform and load one file in this process")
    p.add_argument("key", help="object key, incoming/<dataset>/<file>")
    p.add_argument("--run-id", default=None, help="run id (default: random)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "requeue", help="move one quarantined file from failed/<stage>/ back to incoming/"
    )
    p.add_argument("key", help="object key, failed/<stage>/<dataset>/<file>")
    p.add_argument("--run-id", default=None, help="orchestrator run id (default: random)")
    p.set_defaults(func=_cmd_requeue)

    p = sub.add_parser("summary", help="what one run did: files by outcome, rows loaded")
    p.add_argument("--run-id", required=True, help="the orchestrator run id to summarise")
    p.add_argument(
        "--expect",
        type=_key_list,
        default=[],
        help="JSON list of the incoming keys the run was responsible for: any without an audit "
        "row of this run is counted as failed, with the reason",
    )
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("generate", help="generate sample files into incoming/<dataset>/")
    p.add_argument("--dataset", required=True, choices=["sales", "youtube"])
    p.add_argument("--files", type=_positive, default=1, help="files to write (default 1)")
    p.add_argument("--rows", type=_positive, default=1000, help="rows per file (default 1000)")
    p.add_argument("--format", choices=["csv", "json", "parquet"], default="csv")
    p.add_argument(
        "--bad-fraction",
        type=_fraction,
        default=0.0,
        help="share of files to break deliberately (default 0)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the time)")
    p.add_argument(
        "--now",
        type=_timestamp,
        default=None,
        help="reference time for timestamps, ISO 8601 with zone (default: now)",
    )
    p.set_defaults(func=_cmd_generate)

    db = sub.add_parser("db", help="database administration").add_subparsers(
        dest="db_command", required=True
    )
    setup = sub.add_parser("setup", help="platform set-up (the chart's setup Job)")
    p = setup.add_subparsers(dest="setup_command", required=True).add_parser(
        "storage", help="bucket, prefixes, MinIO users and policies (safe to repeat)"
    )
    p.add_argument(
        "--datasets",
        default=None,
        help="comma-separated datasets (default: every dataset of the contracts)",
    )
    p.set_defaults(func=_cmd_setup_storage)

    metabase = sub.add_parser("metabase", help="Metabase dashboards as code").add_subparsers(
        dest="metabase_command", required=True
    )
    p = metabase.add_parser(
        "provision",
        help="first-time setup, warehouse connection, collections, questions and dashboards "
        "from the dashboards file (safe to repeat: changes only what differs)",
    )
    p.add_argument(
        "--content",
        type=Path,
        default=None,
        help="dashboards file (default: the one shipped, metabase/dashboards.yaml)",
    )
    p.add_argument(
        "--update-connection",
        action="store_true",
        help="send the warehouse connection's details even if they look unchanged (Metabase "
        "never shows the password, so use this after rotating it)",
    )
    p.set_defaults(func=_cmd_metabase_provision)

    p = db.add_parser(
        "migrate",
        help="apply pending SQL migrations, then create or safely evolve the table of every "
        "contract (CONTRACTS__DIR); safe to repeat",
    )
    p.add_argument("--sql-dir", type=Path, default=None, help="migrations directory")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the pending migrations and the contract DDL, change nothing",
    )
    p.set_defaults(func=_cmd_db_migrate)

    _add_contracts_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; with ``MDP__PROFILE=FILE`` under cProfile, its stats written to FILE
    (for ``python -m pstats FILE`` or ``make bench BENCH_ARGS=--profile DIR``)."""
    profile = os.environ.get("MDP__PROFILE")
    if not profile:
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
        _emit({"error": e.context()})
        return exit_code(e)
    except MdpError as e:
        log.error("%s", e.message)
        log.debug("details", exc_info=True)
        _emit({"error": e.context()})
        return exit_code(e)
    except Exception as e:
        outage = _outage(e)
        if outage is not None:
            log.error("%s", outage)
            log.debug("details", exc_info=True)  # the traceback only with -v
            _emit({"error": {"error": "Outage", "message": outage, "terminal": False}})
            return exitcodes.FAULT
        log.exception("unexpected fault")
        _emit({"error": {"error": type(e).__name__, "message": str(e), "terminal": False}})
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
