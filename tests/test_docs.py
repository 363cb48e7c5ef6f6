"""The architecture diagram is current: docs/architecture.svg is what ``make diagram`` renders
from docs/architecture.dot.
"""

from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_diagram_is_the_rendering_of_its_source() -> None:
    """CI renders with Debian's graphviz (`.ci/run`); `make diagram` writes the file."""
    render = runpy.run_path(str(ROOT / "scripts" / "render-diagram.py"))["render"]
    committed = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    assert render(ROOT / "docs" / "architecture.dot") == committed, (
        "docs/architecture.svg is stale: run `make diagram` and commit it"
    )
