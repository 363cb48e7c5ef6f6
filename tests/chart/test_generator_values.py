"""The generator CronJob's values agree with the command it runs."""

from __future__ import annotations

import json
from pathlib import Path

from mdp.generate import FORMATS

CHART = Path(__file__).resolve().parents[2] / "charts" / "mini-data-platform"


def test_the_generator_formats_are_mdp_generates() -> None:
    """A format the chart allows is one `mdp generate --format` takes, and every one it takes
    can be chosen in the chart."""
    schema = json.loads((CHART / "values.schema.json").read_text())
    allowed = schema["properties"]["generator"]["properties"]["format"]["enum"]
    assert tuple(allowed) == FORMATS
