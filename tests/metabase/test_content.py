"""The dashboards file: the shipped one is valid and every question runs on the real warehouse as
the read-only role; broken files are refused with a message before anything is sent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from mdp.errors import ConfigError
from mdp.metabase.content import default_content_path, key_of, load_content, mark
from tests.db.sample_warehouse import insert_sample

CONTENT = load_content()
CHARTS = {"line", "bar", "area", "row", "combo"}


def test_the_shipped_file_has_the_three_dashboards() -> None:
    assert [d.name for d in CONTENT.dashboards] == ["Sales", "YouTube", "Pipeline health"]
    assert [c.key for c in CONTENT.collections] == ["mdp", "sales", "youtube", "pipeline"]
    placed = {c.question for d in CONTENT.dashboards for c in d.cards}
    assert placed == {q.key for q in CONTENT.questions}  # no question left off a dashboard
    for d in CONTENT.dashboards:
        assert {CONTENT.question(c.question).collection for c in d.cards} == {d.collection}


def test_questions_read_only_the_analytics_views() -> None:
    for q in CONTENT.questions:
        relations = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+\.[a-z_0-9]+)", q.sql, re.I))
        assert relations, q.key
        assert {r.split(".")[0] for r in relations} == {"analytics"}, q.key


@pytest.mark.integration
@pytest.mark.parametrize("question", CONTENT.questions, ids=lambda q: q.key)
def test_every_question_runs_as_the_reader_and_has_its_chart_columns(
    conn: psycopg.Connection, question: Any
) -> None:
    insert_sample(conn)
    conn.execute("SET ROLE mdp_reader")
    cur = conn.execute(question.sql)
    columns = [d.name for d in cur.description or []]
    rows = cur.fetchall()
    if "now()" not in question.sql:  # "today", "last 30 days": the sample is from March 2026
        assert rows, f"{question.key} returns nothing on the sample warehouse"
    settings = question.visualization_settings
    if question.display in CHARTS:
        wanted = [*settings["graph.dimensions"], *settings["graph.metrics"]]
        assert set(wanted) <= set(columns), (question.key, columns)
    if question.display == "scalar":
        assert len(columns) == 1 and len(rows) == 1, question.key


def test_marked_descriptions_carry_the_key() -> None:
    text = mark("Revenue per day.", "sales.revenue_daily")
    assert text.startswith("Revenue per day.\n\n")
    assert key_of(text) == "sales.revenue_daily"
    assert key_of(mark("", "sales")) == "sales"
    assert key_of("A question someone made by hand") is None
    assert key_of(None) is None


def _broken(tmp_path: Path, change: Any) -> Path:
    document = yaml.safe_load(default_content_path().read_text())
    change(document)
    path = tmp_path / "dashboards.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _card(document: dict[str, Any], dashboard: int, index: int) -> dict[str, Any]:
    card: dict[str, Any] = document["dashboards"][dashboard]["cards"][index]
    return card


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["questions"].append(dict(d["questions"][0])),
            "duplicate question keys: sales.orders_latest_day",
        ),
        (
            lambda d: d["questions"][0].update(collection="finance"),
            "sales.orders_latest_day: unknown collection finance",
        ),
        (
            lambda d: _card(d, 0, 0).update(question="sales.nope"),
            "dashboard sales: unknown question sales.nope",
        ),
        (
            lambda d: d["collections"].reverse(),
            "collection pipeline: parent mdp must be declared before it",
        ),
        (
            lambda d: _card(d, 0, 1).update(col=3),
            "dashboard sales: cards sales.orders_latest_day and sales.revenue_latest_day overlap",
        ),
        (
            lambda d: _card(d, 0, 1).update(size_x=19),
            "card sales.revenue_latest_day ends at column 25, the grid has 24",
        ),
        (
            lambda d: d["questions"][0].update(sql="SELECT 1;"),
            "drop the trailing ';'",
        ),
        (lambda d: d["questions"][0].update(display="sparkline"), "display"),
        (lambda d: d["questions"][0].update(colour="red"), "colour"),
        (lambda d: d["dashboards"][0].update(cards=[]), "cards"),
        (lambda d: d["collections"][0].update(key="Sales Team"), "key"),
    ],
)
def test_broken_files_are_refused_with_the_reason(
    tmp_path: Path, change: Any, message: str
) -> None:
    path = _broken(tmp_path, change)
    with pytest.raises(ConfigError, match=re.escape(message)) as e:
        load_content(path)
    assert str(path) in e.value.message


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        load_content(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("collections: [\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml"):
        load_content(bad)
