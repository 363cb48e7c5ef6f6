"""Argument types shared by the command groups: each refuses a bad value with a usage error."""

from __future__ import annotations

import argparse
import json
from datetime import datetime


def fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def key_list(text: str) -> list[str]:
    try:
        value = json.loads(text or "[]")
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise argparse.ArgumentTypeError('want a JSON list of keys, e.g. ["incoming/sales/a.csv"]')
    return value


def timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone, e.g. 2026-01-01T00:00:00Z")
    return value


def add_key(parser: argparse.ArgumentParser, what: str = "incoming/<dataset>/<file>") -> None:
    """The object key a step works on, and the orchestrator's run id."""
    parser.add_argument("key", help=f"object key, {what}")
    parser.add_argument("--run-id", default=None, help="orchestrator run id (default: random)")
