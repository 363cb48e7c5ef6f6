"""The ``kubectl port-forward`` lines docs/kubernetes.md gives users: one source for the static
test that ``make port-forward`` and skaffold forward the same, and for the cluster test that runs
them as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- port-forwards: tests/cluster/test_user_journey.py runs these lines as written -->"


def documented_port_forwards() -> list[str]:
    """The command lines of the port-forward block, without their ``&`` and comments."""
    text = (ROOT / "docs" / "kubernetes.md").read_text()
    block = text.split(MARKER, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip().removesuffix("&").strip() for line in block.splitlines()]


def forwarded(line: str) -> tuple[str, int, int]:
    """(service, local port, service port) of one ``kubectl ... port-forward svc/S L:P`` line."""
    match = re.search(r"port-forward svc/(\S+) (\d+):(\d+)", line)
    if not match:
        raise ValueError(f"not a service port-forward: {line!r}")
    return match[1], int(match[2]), int(match[3])
