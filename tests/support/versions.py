"""The pins of versions.env as a dict, for tests that compare installed or referenced versions."""

from __future__ import annotations

from pathlib import Path

VERSIONS: dict[str, str] = dict(
    line.split("=", 1)
    for line in (Path(__file__).resolve().parents[2] / "versions.env").read_text().splitlines()
    if line and not line.startswith("#")
)
