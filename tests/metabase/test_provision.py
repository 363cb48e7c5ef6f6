"""The provisioner against the fake Metabase (tests/metabase/fake.py): the exact requests of a
first run, of a second run (nothing new), and of runs after the file changed; errors and retries.

Metabase itself cannot run in CI; the fake keeps Metabase's state and answer shapes so these
tests show what the provisioner sends and that repeating it converges."""

from __future__ import annotations

import json
from dataclasses import astuple
from typing import Any

import pytest

from mdp.errors import ConfigError, TransientError
from mdp.metabase.client import MetabaseClient, MetabaseError
from mdp.metabase.content import Card, Content, load_content, mark
from mdp.metabase.provision import Admin, Report, WarehouseLogin, provision
from tests.metabase.fake import HIDDEN_PASSWORD, FakeMetabase

ADMIN = Admin("admin@mdp.local", "s3cret-Admin-pw", "Mini Data Platform")
WAREHOUSE = WarehouseLogin("mdp-postgresql", 5432, "warehouse", "mdp_readonly", "reader-pw")
CONTENT = load_content()


def run(client: MetabaseClient, content: Content = CONTENT, **kwargs: Any) -> Report:
    return provision(client, content, ADMIN, WAREHOUSE, wait_seconds=60, **kwargs)


def body_of(fake: FakeMetabase, line: str) -> Any:
    (call,) = [c for c in fake.calls if c.line == line]
    return call.body


def reads_of_a_provisioned_metabase(fake: FakeMetabase) -> list[str]:
    """The requests of a run that finds everything in place."""
    db_id = next(iter(fake.databases))
    collections = {c["name"]: c["id"] for c in fake.collections.values()}
    dashboards = {d["name"]: d["id"] for d in fake.dashboards.values()}
    out = [
        "GET /api/health",
        "GET /api/session/properties",
        "POST /api/session",
        "GET /api/database",
        f"POST /api/database/{db_id}/sync_schema",
        "GET /api/collection",
        "GET /api/card",
    ]
    for collection, dashboard in [("Sales", "Sales"), ("YouTube", "YouTube"),
                                  ("Pipeline health", "Pipeline health")]:  # fmt: skip
        out += [
            f"GET /api/collection/{collections[collection]}/items?models=dashboard",
            f"GET /api/dashboard/{dashboards[dashboard]}",
        ]
    return out


def test_first_run_sets_up_metabase_and_creates_everything(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    report = run(client)

    n_questions = len(CONTENT.questions)
    lines = fake.lines()
    assert lines[:5] == [
        "GET /api/health",
        "GET /api/session/properties",
        "POST /api/setup",
        "GET /api/database",
        "POST /api/database",
    ]
    db_id = next(iter(fake.databases))
    assert lines[5:8] == [
        f"POST /api/database/{db_id}/sync_schema",
        "GET /api/collection",
        "POST /api/collection",
    ]
    assert lines.count("POST /api/collection") == 4
    assert lines.count("POST /api/card") == n_questions
    assert lines.count("POST /api/dashboard") == 3
    assert len([w for w in fake.writes() if w.startswith("PUT /api/dashboard/")]) == 3
    assert not [w for w in fake.writes() if w.startswith("PUT /api/card")]
    assert len(lines) == 8 + 3 + 1 + n_questions + 3 * 3  # + collections, cards list, 3 × dash

    setup = body_of(fake, "POST /api/setup")
    assert setup == {
        "token": fake.setup_token,
        "user": {
            "email": "admin@mdp.local",
            "password": "s3cret-Admin-pw",
            "first_name": "Platform",
            "last_name": "Admin",
        },
        "prefs": {"site_name": "Mini Data Platform", "allow_tracking": False},
    }
    assert body_of(fake, "POST /api/database") == {
        "engine": "postgres",
        "name": "Warehouse",
        "details": {
            "host": "mdp-postgresql",
            "port": 5432,
            "dbname": "warehouse",
            "user": "mdp_readonly",  # the read-only login, never the owner
            "password": "reader-pw",
            "ssl": False,
        },
        "is_full_sync": True,
        "is_on_demand": False,
        "auto_run_queries": True,
    }

    # Collections: the tree of the file, each with its key.
    by_name = {c["name"]: c for c in fake.collections.values()}
    root = by_name["Mini Data Platform"]
    assert root["location"] == "/"
    for name in ("Sales", "YouTube", "Pipeline health"):
        assert by_name[name]["location"] == f"/{root['id']}/"
    assert by_name["Sales"]["description"] == mark(CONTENT.collections[1].description, "sales")

    # Questions: SQL, display, settings and collection as in the file.
    cards = {c["name"]: c for c in fake.cards.values()}
    assert len(cards) == n_questions
    for q in CONTENT.questions:
        card = cards[q.name]
        assert card["dataset_query"]["stages"][0]["native"] == q.sql
        assert card["dataset_query"]["database"] == db_id
        assert card["display"] == q.display
        assert card["visualization_settings"] == q.visualization_settings
        assert (
            fake.collections[card["collection_id"]]["name"]
            == by_name[
                {"sales": "Sales", "youtube": "YouTube", "pipeline": "Pipeline health"}[
                    q.collection
                ]
            ]["name"]
        )
        assert card["description"].endswith(f"mdp-key: {q.key}")

    # Dashboards: every card at its place.
    card_ids = {q.key: cards[q.name]["id"] for q in CONTENT.questions}
    for spec in CONTENT.dashboards:
        (dash,) = [d for d in fake.dashboards.values() if d["name"] == spec.name]
        got = sorted((d["card_id"], d["row"], d["col"], d["size_x"], d["size_y"])
                     for d in dash["dashcards"])  # fmt: skip
        want = sorted((card_ids[c.question], c.row, c.col, c.size_x, c.size_y) for c in spec.cards)
        assert got == want
    # New dashcards are sent with negative ids, as the API asks.
    first_put = next(c for c in fake.calls if c.line.startswith("PUT /api/dashboard/"))
    assert [d["id"] for d in first_put.body["dashcards"]] == list(
        range(-1, -len(first_put.body["dashcards"]) - 1, -1)
    )

    assert report.setup_completed
    assert {k: len(v) for k, v in report.created.items()} == {
        "database": 1,
        "collection": 4,
        "question": n_questions,
        "dashboard": 3,
    }


def test_second_run_changes_nothing(fake: FakeMetabase, client: MetabaseClient) -> None:
    run(client)
    before = fake.snapshot()
    fake.calls.clear()

    report = run(client)

    assert fake.lines() == reads_of_a_provisioned_metabase(fake)
    assert fake.writes() == [
        "POST /api/session",
        f"POST /api/database/{next(iter(fake.databases))}/sync_schema",
    ]
    assert fake.snapshot() == before
    assert not report.setup_completed
    assert report.created == {}
    assert report.updated == {}
    assert report.unchanged == {
        "database": 1,
        "collection": 4,
        "question": len(CONTENT.questions),
        "dashboard": 3,
    }


def test_changed_sql_updates_the_question_in_place(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (card,) = [c for c in fake.cards.values() if c["name"] == "Daily revenue"]
    cards_before = len(fake.cards)
    dashboards_before = json.dumps(fake.dashboards, sort_keys=True)
    fake.calls.clear()
    new_sql = "SELECT day, currency, revenue FROM analytics.sales_daily WHERE revenue > 0"
    content = CONTENT.model_copy(
        update={
            "questions": [
                q.model_copy(update={"sql": new_sql}) if q.key == "sales.revenue_daily" else q
                for q in CONTENT.questions
            ]
        }
    )

    report = run(client, content)

    db_id = next(iter(fake.databases))
    reads = reads_of_a_provisioned_metabase(fake)
    assert fake.lines() == [*reads[:7], f"PUT /api/card/{card['id']}", *reads[7:]]
    put = body_of(fake, f"PUT /api/card/{card['id']}")
    assert put["dataset_query"] == {
        "type": "native",
        "native": {"query": new_sql, "template-tags": {}},
        "database": db_id,
    }
    assert fake.cards[card["id"]]["dataset_query"]["stages"][0]["native"] == new_sql
    assert len(fake.cards) == cards_before  # updated, not created
    assert json.dumps(fake.dashboards, sort_keys=True) == dashboards_before
    assert report.updated == {"question": ["sales.revenue_daily"]}

    fake.calls.clear()
    run(client, content)  # and converged
    assert fake.writes() == ["POST /api/session", f"POST /api/database/{db_id}/sync_schema"]


def test_moved_card_rewrites_the_whole_card_list_keeping_ids(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (dash,) = [d for d in fake.dashboards.values() if d["name"] == "Sales"]
    dashcard_ids = sorted(d["id"] for d in dash["dashcards"])
    spec = next(d for d in CONTENT.dashboards if d.key == "sales")
    last = spec.cards[-1]
    moved = spec.model_copy(
        update={"cards": [*spec.cards[:-1], last.model_copy(update={"row": last.row + 10})]}
    )
    content = CONTENT.model_copy(
        update={"dashboards": [moved if d.key == "sales" else d for d in CONTENT.dashboards]}
    )
    fake.calls.clear()

    run(client, content)

    assert [w for w in fake.writes() if w.startswith("PUT")] == [f"PUT /api/dashboard/{dash['id']}"]
    put = body_of(fake, f"PUT /api/dashboard/{dash['id']}")
    assert len(put["dashcards"]) == len(spec.cards)  # every card, not just the moved one
    assert sorted(d["id"] for d in put["dashcards"]) == dashcard_ids  # the same dashcards
    assert sorted(d["id"] for d in fake.dashboards[dash["id"]]["dashcards"]) == dashcard_ids
    assert max(d["row"] for d in fake.dashboards[dash["id"]]["dashcards"]) == last.row + 10


def test_a_new_card_on_a_dashboard_gets_a_negative_id(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    spec = next(d for d in CONTENT.dashboards if d.key == "pipeline")
    extra = Card(question="sales.orders_latest_day", row=30, col=0, size_x=6, size_y=4)
    content = CONTENT.model_copy(
        update={
            "dashboards": [
                d.model_copy(update={"cards": [*d.cards, extra]}) if d.key == "pipeline" else d
                for d in CONTENT.dashboards
            ]
        }
    )
    (dash,) = [d for d in fake.dashboards.values() if d["name"] == "Pipeline health"]
    fake.calls.clear()

    run(client, content)

    put = body_of(fake, f"PUT /api/dashboard/{dash['id']}")
    assert [d["id"] for d in put["dashcards"] if d["id"] < 0] == [-1]
    assert len(fake.dashboards[dash["id"]]["dashcards"]) == len(spec.cards) + 1


def content_with_moved_card(dashboard_key: str, rows_down: int = 10) -> Content:
    """The file with the last card of one dashboard moved down: an update is due."""
    spec = next(d for d in CONTENT.dashboards if d.key == dashboard_key)
    last = spec.cards[-1]
    moved = spec.model_copy(
        update={"cards": [*spec.cards[:-1], last.model_copy(update={"row": last.row + rows_down})]}
    )
    return CONTENT.model_copy(
        update={"dashboards": [moved if d.key == dashboard_key else d for d in CONTENT.dashboards]}
    )


DASHCARD_FIELDS = (
    *("id", "card_id", "dashboard_tab_id", "row", "col", "size_x", "size_y"),
    *("parameter_mappings", "series", "visualization_settings"),
)


def edit_in_the_ui(
    client: MetabaseClient, dash_id: int, tabs: list[dict[str, Any]], added: list[dict[str, Any]]
) -> dict[str, Any]:
    """What Metabase's dashboard editor sends when someone saves: every tab, the existing cards
    (all onto the first tab when tabs were just made, as the UI does) and the cards added."""
    current = client.get(f"/api/dashboard/{dash_id}")
    first_tab = tabs[0]["id"] if tabs else None
    kept = [{k: d[k] for k in DASHCARD_FIELDS if k in d} for d in current["dashcards"]]
    for d in kept:
        d["dashboard_tab_id"] = d["dashboard_tab_id"] or first_tab
    edited: dict[str, Any] = client.put(
        f"/api/dashboard/{dash_id}", {"tabs": tabs, "dashcards": [*kept, *added]}
    )
    return edited


def own_question(db_id: int) -> dict[str, Any]:
    """A question someone made in Metabase (no key in its description)."""
    return {
        "name": "My numbers",
        "display": "table",
        "visualization_settings": {},
        "dataset_query": {"type": "native", "native": {"query": "SELECT 1"}, "database": db_id},
    }


def placed(
    dashcard_id: int, card_id: int | None, tab: int | None, row: int, **extra: Any
) -> dict[str, Any]:
    """A dashcard as the dashboard editor sends a new one (card_id None: a text card)."""
    return {
        "id": dashcard_id,
        "card_id": card_id,
        "dashboard_tab_id": tab,
        "row": row,
        "col": 0,
        **{"size_x": 6, "size_y": 4, **extra},
    }


def on_tab(dashboard: dict[str, Any], tab_id: int) -> list[str]:
    return sorted(
        json.dumps(d, sort_keys=True)
        for d in dashboard["dashcards"]
        if d["dashboard_tab_id"] == tab_id
    )


def test_tabs_and_cards_someone_added_in_the_ui_are_kept(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (dash,) = [d for d in fake.dashboards.values() if d["name"] == "Sales"]
    own = fake.create_card(own_question(next(iter(fake.databases))))
    ours = next(c for c in fake.cards.values() if c["name"] == "Daily revenue")
    note = {"text": "ask Ann before changing", "virtual_card": {"display": "text"}}
    edited = edit_in_the_ui(
        client,
        dash["id"],
        tabs=[{"id": -1, "name": "Overview"}, {"id": -2, "name": "Notes"}],
        added=[
            placed(-1, None, tab=-2, row=0, visualization_settings=note),
            placed(-2, own["id"], tab=-2, row=4),
            placed(-3, ours["id"], tab=-2, row=8),  # a copy of one of our questions, on their tab
        ],
    )
    overview, notes = edited["tabs"]
    theirs = on_tab(edited, notes["id"])
    assert len(theirs) == 3
    fake.calls.clear()

    report = run(client, content_with_moved_card("sales"))

    assert report.updated == {"dashboard": ["sales"]}
    put = body_of(fake, f"PUT /api/dashboard/{dash['id']}")
    tabs = [{"id": overview["id"], "name": "Overview"}, {"id": notes["id"], "name": "Notes"}]
    assert put["tabs"] == tabs
    after = fake.dashboards[dash["id"]]
    assert [{"id": t["id"], "name": t["name"]} for t in after["tabs"]] == tabs
    assert on_tab(after, notes["id"]) == theirs  # their tab exactly as it was
    spec = next(d for d in CONTENT.dashboards if d.key == "sales")
    on_overview = [d for d in after["dashcards"] if d["dashboard_tab_id"] == overview["id"]]
    assert len(on_overview) == len(spec.cards)
    assert max(d["row"] for d in on_overview) == spec.cards[-1].row + 10
    fake.calls.clear()
    run(client, content_with_moved_card("sales"))
    assert f"PUT /api/dashboard/{dash['id']}" not in fake.writes()  # converged, tabs and all


def test_a_card_someone_added_to_our_dashboard_is_kept(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (dash,) = [d for d in fake.dashboards.values() if d["name"] == "YouTube"]
    heading = {"text": "Q3", "virtual_card": {"display": "heading"}}
    text = placed(-1, None, tab=None, row=40, size_x=24, size_y=1, visualization_settings=heading)
    edit_in_the_ui(client, dash["id"], tabs=[], added=[text])
    fake.calls.clear()

    run(client, content_with_moved_card("youtube"))

    assert len(fake.writes()) == 3  # session, sync, and the dashboard's update
    texts = [d for d in fake.dashboards[dash["id"]]["dashcards"] if d["card_id"] is None]
    assert [d["visualization_settings"]["text"] for d in texts] == ["Q3"]
    fake.calls.clear()
    run(client, content_with_moved_card("youtube"))
    assert f"PUT /api/dashboard/{dash['id']}" not in fake.writes()


def test_a_card_the_file_no_longer_places_is_taken_off(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    spec = next(d for d in CONTENT.dashboards if d.key == "pipeline")
    fewer = CONTENT.model_copy(
        update={
            "dashboards": [
                d.model_copy(update={"cards": d.cards[:-1]}) if d.key == "pipeline" else d
                for d in CONTENT.dashboards
            ]
        }
    )
    (dash,) = [d for d in fake.dashboards.values() if d["name"] == "Pipeline health"]

    run(client, fewer)

    assert len(fake.dashboards[dash["id"]]["dashcards"]) == len(spec.cards) - 1


def test_objects_not_managed_by_the_file_are_left_alone(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    sales = next(c for c in fake.collections.values() if c["name"] == "Sales")
    db_id = next(iter(fake.databases))
    # Someone's own question and dashboard in our collection, and a look-alike by name.
    own = fake.create_card(
        {
            "name": "Daily revenue",
            "description": "my copy",
            "display": "table",
            "visualization_settings": {},
            "collection_id": sales["id"],
            "dataset_query": {"type": "native", "native": {"query": "SELECT 1"}, "database": db_id},
        }
    )
    fake.create_dashboard({"name": "Sales", "collection_id": sales["id"]})
    before = fake.snapshot()
    fake.calls.clear()

    run(client)

    assert fake.snapshot() == before
    assert fake.cards[own["id"]]["description"] == "my copy"


def test_edits_made_in_metabase_are_put_back(fake: FakeMetabase, client: MetabaseClient) -> None:
    run(client)
    card = next(c for c in fake.cards.values() if c["name"] == "Top 10 customers by revenue")
    card["display"] = "bar"
    coll = next(c for c in fake.collections.values() if c["name"] == "YouTube")
    coll["name"] = "Videos"
    fake.calls.clear()

    report = run(client)

    assert report.updated == {"collection": ["youtube"], "question": ["sales.top_customers"]}
    assert fake.cards[card["id"]]["display"] == "table"
    assert fake.collections[coll["id"]]["name"] == "YouTube"


def test_a_changed_connection_is_updated_and_the_password_sent_on_request(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (db_id,) = fake.databases
    assert fake.list_databases()["data"][0]["details"]["password"] == HIDDEN_PASSWORD
    moved = WarehouseLogin("pg.other", 5433, "warehouse", "mdp_readonly", "reader-pw")
    fake.calls.clear()

    provision(client, CONTENT, ADMIN, moved, wait_seconds=5)

    assert body_of(fake, f"PUT /api/database/{db_id}")["details"]["host"] == "pg.other"
    fake.calls.clear()
    provision(client, CONTENT, ADMIN, moved, wait_seconds=5)
    assert f"PUT /api/database/{db_id}" not in fake.writes()
    provision(client, CONTENT, ADMIN, moved, wait_seconds=5, update_connection=True)
    assert body_of(fake, f"PUT /api/database/{db_id}")["details"]["password"] == "reader-pw"


def test_a_connection_metabase_upgraded_to_tls_is_not_put_back(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    fake.warehouse.tls = True  # PostgreSQL accepts TLS: Metabase stores ssl: true
    run(client)
    (db_id,) = fake.databases
    assert body_of(fake, "POST /api/database")["details"]["ssl"] is False  # TLS not required
    assert fake.databases[db_id]["details"]["ssl"] is True
    fake.calls.clear()

    report = run(client)

    assert fake.writes() == ["POST /api/session", f"POST /api/database/{db_id}/sync_schema"]
    assert report.unchanged["database"] == 1
    assert fake.databases[db_id]["details"]["ssl"] is True


def test_an_update_keeps_the_tls_metabase_found(fake: FakeMetabase, client: MetabaseClient) -> None:
    fake.warehouse.tls = True
    run(client)
    (db_id,) = fake.databases
    moved = WarehouseLogin("pg.other", 5432, "warehouse", "mdp_readonly", "reader-pw")

    provision(client, CONTENT, ADMIN, moved, wait_seconds=5)

    put = body_of(fake, f"PUT /api/database/{db_id}")
    assert put["details"]["host"] == "pg.other"
    assert put["details"]["ssl"] is True  # what a create would store, not ssl: false
    assert fake.databases[db_id]["details"]["ssl"] is True
    fake.calls.clear()
    provision(client, CONTENT, ADMIN, moved, wait_seconds=5, update_connection=True)
    assert body_of(fake, f"PUT /api/database/{db_id}")["details"]["ssl"] is True  # a rotation too
    fake.calls.clear()
    provision(client, CONTENT, ADMIN, moved, wait_seconds=5)
    assert f"PUT /api/database/{db_id}" not in fake.writes()


def test_required_tls_that_is_off_is_turned_on(fake: FakeMetabase, client: MetabaseClient) -> None:
    run(client)  # no TLS required, none offered: stored ssl: false
    (db_id,) = fake.databases
    fake.warehouse.tls = True
    required = WarehouseLogin(*astuple(WAREHOUSE)[:5], ssl=True)
    fake.calls.clear()

    provision(client, CONTENT, ADMIN, required, wait_seconds=5)

    assert body_of(fake, f"PUT /api/database/{db_id}")["details"]["ssl"] is True
    fake.calls.clear()
    provision(client, CONTENT, ADMIN, required, wait_seconds=5)
    assert f"PUT /api/database/{db_id}" not in fake.writes()


def test_a_connection_test_failing_until_the_login_exists_is_retried(
    fake: FakeMetabase, httpserver: Any
) -> None:
    fake.warehouse.logins = {}  # first install: the setup Job has not created mdp_readonly yet
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 2:  # meanwhile the login appears
            fake.warehouse.logins = {"mdp_readonly": "reader-pw"}

    with MetabaseClient(httpserver.url_for("/"), sleep=sleep) as client:
        report = run(client)

    assert fake.lines().count("POST /api/database") == 3
    assert sleeps == [1.0, 2.0]
    assert report.created["database"] == ["Warehouse"]
    assert len(fake.dashboards) == 3


def test_a_connection_test_that_keeps_failing_is_a_fault_not_a_refusal(
    fake: FakeMetabase, client: MetabaseClient, sleeps: list[float]
) -> None:
    fake.warehouse.logins = {"mdp_readonly": "another-pw"}

    with pytest.raises(TransientError, match=r"Password is incorrect") as e:
        run(client)

    assert not e.value.terminal  # exit 1: the Job tries again, bounded by its backoffLimit
    assert "as mdp_readonly at mdp-postgresql:5432/warehouse (5 connection tests)" in str(e.value)
    assert "PG__PASSWORD" in str(e.value)
    assert fake.lines().count("POST /api/database") == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert fake.databases == {}


def test_a_failing_update_or_sync_is_a_fault_too(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    (db_id,) = fake.databases
    fake.warehouse.reachable = False
    moved = WarehouseLogin("pg.other", 5432, "warehouse", "mdp_readonly", "reader-pw")

    with pytest.raises(TransientError, match="couldn't connect to the database"):
        provision(client, CONTENT, ADMIN, moved, wait_seconds=5, connection_tests=2)
    assert fake.lines().count("POST /api/database/validate") == 2
    assert fake.databases[db_id]["details"]["host"] == "mdp-postgresql"
    fake.calls.clear()
    with pytest.raises(TransientError, match="couldn't connect to the database"):
        provision(client, CONTENT, ADMIN, WAREHOUSE, wait_seconds=5, connection_tests=2)
    assert fake.lines().count(f"POST /api/database/{db_id}/sync_schema") == 2  # the 422


def test_a_payload_metabase_refuses_on_the_connection_stays_terminal(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    fake.fail_next["POST /api/database"] = (
        400,
        {"errors": {"name": "value must be a non-blank string."},
         "specific-errors": {"name": ["should be a string"]}},
    )  # fmt: skip

    with pytest.raises(MetabaseError, match=r"POST /api/database: HTTP 400") as e:
        run(client)

    assert e.value.terminal
    assert fake.lines().count("POST /api/database") == 1


def test_waits_for_metabase_to_become_healthy(
    fake: FakeMetabase, client: MetabaseClient, sleeps: list[float]
) -> None:
    fake.unhealthy_checks = 4

    run(client)

    assert fake.lines()[:5] == ["GET /api/health"] * 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]  # doubling (up to 15 s)


def test_gives_up_when_metabase_stays_unhealthy(httpserver: Any, fake: FakeMetabase) -> None:
    fake.unhealthy_checks = 10**6
    with (
        MetabaseClient(httpserver.url_for("/"), backoff=0.05) as client,
        pytest.raises(TransientError, match=r"not healthy after .*HTTP 503.*initializing"),
    ):
        provision(client, CONTENT, ADMIN, WAREHOUSE, wait_seconds=0.3)
    assert "POST /api/setup" not in fake.lines()


def test_metabase_unreachable_is_transient() -> None:
    with (
        MetabaseClient("http://127.0.0.1:9", backoff=0.01) as client,  # discard port: refused
        pytest.raises(TransientError, match="ConnectError"),
    ):
        provision(client, CONTENT, ADMIN, WAREHOUSE, wait_seconds=0.05)


def test_a_503_during_provisioning_is_retried(
    fake: FakeMetabase, client: MetabaseClient, sleeps: list[float]
) -> None:
    fake.fail_next["GET /api/card"] = (503, {"message": "busy"})

    run(client)

    assert fake.lines().count("GET /api/card") == 2
    assert sleeps == [1.0]


def test_wrong_admin_password_is_a_clear_terminal_error(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    run(client)
    wrong = Admin("admin@mdp.local", "not-the-password")
    with pytest.raises(ConfigError, match=r"refused the admin login admin@mdp\.local") as e:
        provision(client, CONTENT, wrong, WAREHOUSE, wait_seconds=5)
    assert e.value.terminal


def test_a_weak_admin_password_is_explained_in_one_line(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    weak = Admin("admin@mdp.local", "password1")  # long enough, has a digit, but common

    with pytest.raises(ConfigError) as e:
        provision(client, CONTENT, weak, WAREHOUSE, wait_seconds=5)

    message = e.value.message
    assert e.value.terminal  # retrying with the same Secret cannot help
    assert "\n" not in message
    assert "refused the admin password of admin@mdp.local ('password is too common.')" in message
    assert "MB_PASSWORD_COMPLEXITY" in message  # which policy
    assert "metabaseAdmin Secret" in message  # what to change
    assert "password1" not in message
    assert fake.users == {}
    run(client)  # a stronger password in the Secret: the setup completes on the next run
    assert fake.users == {"admin@mdp.local": ADMIN.password}


def test_metabase_refusing_a_payload_names_the_request_and_the_reason(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    fake.fail_next["POST /api/card"] = (400, {"errors": {"display": "value must be a string"}})
    with pytest.raises(MetabaseError, match=r"POST /api/card: HTTP 400: .*display") as e:
        run(client)
    assert e.value.terminal
    assert fake.lines().count("POST /api/card") == 1  # not retried


def test_an_interrupted_first_run_completes_on_the_next(
    fake: FakeMetabase, client: MetabaseClient
) -> None:
    fake.fail_next["POST /api/dashboard"] = (400, {"message": "boom"})
    with pytest.raises(MetabaseError):
        run(client)
    cards = len(fake.cards)

    run(client)

    assert len(fake.cards) == cards == len(CONTENT.questions)  # found again, not duplicated
    assert len(fake.dashboards) == 3
    assert len(fake.collections) == 4
