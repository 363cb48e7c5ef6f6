"""``mdp generate``: sample files into ``incoming/<dataset>/``."""

from __future__ import annotations

import argparse
from typing import Any

from mdp import exitcodes
from mdp.cli.arguments import fraction, positive, timestamp
from mdp.cli.output import emit
from mdp.errors import require
from mdp.generate import FORMATS


def generate_files(args: argparse.Namespace) -> int:
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
        emit(line)
    return exitcodes.OK


def register(sub: Any) -> None:
    p = sub.add_parser("generate", help="generate sample files into incoming/<dataset>/")
    p.add_argument(
        "--dataset",
        required=True,
        help="any dataset of the contracts (CONTRACTS__DIR); sales and youtube have generators "
        "of their own, others are sampled from their contract's columns",
    )
    p.add_argument("--files", type=positive, default=1, help="files to write (default 1)")
    p.add_argument("--rows", type=positive, default=1000, help="rows per file (default 1000)")
    p.add_argument("--format", choices=FORMATS, default="csv")
    p.add_argument(
        "--bad-fraction",
        type=fraction,
        default=0.0,
        help="share of files to break deliberately (default 0)",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the time)")
    p.add_argument(
        "--now",
        type=timestamp,
        default=None,
        help="reference time for timestamps, ISO 8601 with zone (default: now)",
    )
    p.set_defaults(func=generate_files)
