"""The README and docs/ point at things that exist, and the architecture diagram is current.

Every relative link must name a file of the repository (and a heading of it, for a ``#anchor``),
every ``make <target>`` written in a command must be a target of the Makefile, and
docs/architecture.svg must be what ``make diagram`` renders from docs/architecture.dot.
"""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
TARGET = re.compile(r"^([a-zA-Z][a-zA-Z0-9_-]*):", re.MULTILINE)
# `make X` in an inline code span or at the start of a command line in a code block.
MAKE_INLINE = re.compile(r"`(?:[A-Z_]+=\S+ )*make ([a-z][a-z0-9-]*)[^`]*`")
MAKE_BLOCK = re.compile(r"^\s*(?:\$ )?(?:[A-Z_]+=\S+ )*make ([a-z][a-z0-9-]*)", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*\*", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


def make_targets(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    blocks = "\n".join(FENCE.findall(text))
    return set(MAKE_INLINE.findall(FENCE.sub("", text))) | set(MAKE_BLOCK.findall(blocks))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_exists(page: Path) -> None:
    broken = []
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            broken.append(f"{link}: no heading #{anchor} in {target.name}")
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_make_target_named_exists(page: Path) -> None:
    defined = set(TARGET.findall((ROOT / "Makefile").read_text(encoding="utf-8")))
    assert make_targets(page) - defined == set()


def test_the_checks_find_what_is_broken(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## A `b` section\n")
    page.write_text(
        "# Page\n\nSee [x](other.md#a-b-section), [y](missing.md), [z](other.md#nope),\n"
        "[web](https://example.com), `make dev`, `FORCE=1 make cluster-up`, make no sense.\n\n"
        "```bash\nmake test PYTEST_ARGS=-x\n$ make lint\n# [not](a-link.md)\n```\n"
    )
    assert links(page) == ["other.md#a-b-section", "missing.md", "other.md#nope"]
    assert anchors(tmp_path / "other.md") == {"other", "a-b-section"}
    assert make_targets(page) == {"dev", "cluster-up", "test", "lint"}


def test_the_committed_diagram_is_the_rendering_of_its_source() -> None:
    """CI renders with Debian's graphviz (`.ci/run`); `make diagram` writes the file."""
    render = runpy.run_path(str(ROOT / "scripts" / "render-diagram.py"))["render"]
    committed = (ROOT / "docs" / "architecture.svg").read_text(encoding="utf-8")
    assert render(ROOT / "docs" / "architecture.dot") == committed, (
        "docs/architecture.svg is stale: run `make diagram` and commit it"
    )
