"""The dashboards file (``metabase/dashboards.yaml``): what Metabase should hold, checked up front.

Every collection, question and dashboard has a ``key`` of our own. Metabase gives objects numeric
ids that differ between installs, so the provisioner finds "its" objects by this key instead: it
writes the key into the object's description (see ``mark``/``key_of``) and looks for it on the next
run. Renaming an object in the file therefore updates it in place; changing its key makes a new one.

The whole file is validated before any request is sent: unique keys, references that resolve,
parents before children, cards inside the 24-column dashboard grid and not overlapping, so a typo
fails the Job with a message instead of leaving Metabase half provisioned.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

GRID_WIDTH = 24
"""Columns of Metabase's dashboard grid (since v0.46)."""

Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254)]

Display = Literal[
    "table", "scalar", "smartscalar", "line", "bar", "area", "row", "combo", "pie", "funnel",
    "progress", "gauge", "map", "pivot", "waterfall", "scatter",
]  # fmt: skip
"""Metabase visualization types a native question can use."""

_MARKER = "mdp-key: "
_NOTE = "Managed as code (metabase/dashboards.yaml): changes made here are overwritten."
_KEY_LINE = re.compile(rf"^{_MARKER}(\S+)\s*$", re.MULTILINE)


def mark(description: str, key: str) -> str:
    """The description Metabase stores: the file's text, a note, and the key on its own line."""
    text = description.strip()
    return f"{text}\n\n{_NOTE}\n{_MARKER}{key}" if text else f"{_NOTE}\n{_MARKER}{key}"


def key_of(description: str | None) -> str | None:
    """The key an object's description carries (the last one), or None for unmanaged objects."""
    if not description:
        return None
    found = _KEY_LINE.findall(description)
    return found[-1] if found else None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Collection(_Strict):
    key: Key
    name: Name
    description: str = ""
    parent: Key | None = None
    """Key of the parent collection (declared earlier in the file); None: the root collection."""


class Question(_Strict):
    key: Key
    collection: Key
    name: Name
    description: str = ""
    display: Display
    sql: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    """Native SQL against the warehouse (the analytics views), run as the read-only role."""
    visualization_settings: dict[str, Any] = Field(default_factory=dict)
    """Metabase's settings as its API takes them, e.g. graph.dimensions, graph.metrics."""

    @model_validator(mode="after")
    def _no_trailing_semicolon(self) -> Self:
        if self.sql.endswith(";"):
            raise ValueError(
                f"question {self.key}: drop the trailing ';' (Metabase runs one query)"
            )
        return self


class Card(_Strict):
    """A question placed on a dashboard: grid position and size, in grid cells."""

    question: Key
    row: int = Field(ge=0)
    col: int = Field(ge=0)
    size_x: int = Field(ge=1, le=GRID_WIDTH)
    size_y: int = Field(ge=1)

    def cells(self) -> set[tuple[int, int]]:
        return {
            (r, c)
            for r in range(self.row, self.row + self.size_y)
            for c in range(self.col, self.col + self.size_x)
        }


class Dashboard(_Strict):
    key: Key
    collection: Key
    name: Name
    description: str = ""
    cards: list[Card] = Field(min_length=1)

    @model_validator(mode="after")
    def _cards_fit_the_grid(self) -> Self:
        taken: dict[tuple[int, int], str] = {}
        for card in self.cards:
            if card.col + card.size_x > GRID_WIDTH:
                raise ValueError(
                    f"dashboard {self.key}: card {card.question} ends at column "
                    f"{card.col + card.size_x}, the grid has {GRID_WIDTH}"
                )
            for cell in card.cells():
                if cell in taken:
                    raise ValueError(
                        f"dashboard {self.key}: cards {taken[cell]} and {card.question} "
                        f"overlap at row {cell[0]}, column {cell[1]}"
                    )
                taken[cell] = card.question
        return self


class WarehouseConnection(_Strict):
    name: Name = "Warehouse"
    """The database's name in Metabase: the key the provisioner finds it by."""


class Content(_Strict):
    database: WarehouseConnection = WarehouseConnection()
    collections: list[Collection]
    questions: list[Question]
    dashboards: list[Dashboard]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        for kind, items in (
            ("collection", self.collections),
            ("question", self.questions),
            ("dashboard", self.dashboards),
        ):
            keys = [i.key for i in items]
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            if dupes:
                raise ValueError(f"duplicate {kind} keys: {', '.join(dupes)}")
        seen: set[str] = set()
        for c in self.collections:
            if c.parent is not None and c.parent not in seen:
                raise ValueError(
                    f"collection {c.key}: parent {c.parent} must be declared before it"
                )
            seen.add(c.key)
        questions = {q.key for q in self.questions}
        placed: list[Question | Dashboard] = [*self.questions, *self.dashboards]
        for item in placed:
            if item.collection not in seen:
                raise ValueError(f"{item.key}: unknown collection {item.collection}")
        for d in self.dashboards:
            for card in d.cards:
                if card.question not in questions:
                    raise ValueError(f"dashboard {d.key}: unknown question {card.question}")
        return self

    def question(self, key: str) -> Question:
        return next(q for q in self.questions if q.key == key)


def default_content_path() -> Path:
    """The dashboards file shipped in the package (installed) or at the repository root (dev)."""
    packaged = resources.files("mdp") / "metabase" / "dashboards.yaml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "metabase" / "dashboards.yaml"


def load_content(path: Path | None = None) -> Content:
    """Read and validate the dashboards file; errors name the file and the offending entry."""
    import yaml

    from mdp.errors import ConfigError

    source = path or default_content_path()
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
        return Content.model_validate(document)
    except (OSError, yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"{source}: {e}") from e
