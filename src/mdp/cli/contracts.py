"""``mdp contracts check|show|schema``: the contracts as files, and as the steps see them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mdp import exitcodes


def check(args: argparse.Namespace) -> int:
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


def show(args: argparse.Namespace) -> int:
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


def schema(args: argparse.Namespace) -> int:
    """The JSON Schema of contract files, as committed in contracts/contract.schema.json."""
    from mdp.contracts.model import json_schema_text

    if args.output is None:
        print(json_schema_text(), end="")
    else:
        args.output.write_text(json_schema_text(), encoding="utf-8")
    return exitcodes.OK


def register(sub: Any) -> None:
    contracts = sub.add_parser(
        "contracts", help="dataset contracts: check files, show the active one, the schema"
    ).add_subparsers(dest="contracts_command", required=True)
    p = contracts.add_parser(
        "check",
        help="check every *.yaml file of DIR (schema, semantics, safe evolution between "
        "versions); prints OK per good file, FILE: PATH: problem per problem; exit 2 on any",
    )
    p.add_argument("directory", type=Path, metavar="DIR", help="directory of contract files")
    p.set_defaults(func=check)
    p = contracts.add_parser("show", help="print the active contract of a dataset")
    p.add_argument("name", metavar="NAME", help="dataset name")
    p.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="contracts directory (default: CONTRACTS__DIR, else the built-ins)",
    )
    p.add_argument("--format", choices=["yaml", "json"], default="yaml")
    p.set_defaults(func=show)
    p = contracts.add_parser("schema", help="print the JSON Schema of contract files")
    p.add_argument("--output", type=Path, default=None, help="write to this file instead")
    p.set_defaults(func=schema)
