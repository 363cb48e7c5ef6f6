"""The fake Metabase (tests/metabase/fake.py) keeps the rules of the real server it stands in for.

The provisioner's tests are only as good as the fake: each rule a real install would trip over
(connection tests, opportunistic TLS, ...) is shown here through HTTP, the way the provisioner
meets it, so a fake that lost a rule fails here and not in production."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer

from tests.metabase.fake import HIDDEN_PASSWORD, FakeMetabase, password_is_valid

DETAILS = {
    "host": "mdp-postgresql",
    "port": 5432,
    "dbname": "warehouse",
    "user": "mdp_readonly",
    "password": "reader-pw",
    "ssl": False,
}


@pytest.fixture
def api(fake: FakeMetabase, httpserver: HTTPServer) -> Iterator[httpx.Client]:
    """An admin session on the fake, as the provisioner has after logging in."""
    with httpx.Client(base_url=httpserver.url_for("/"), timeout=5) as client:
        token = client.get("/api/session/properties").json()["setup-token"]
        session = client.post(
            "/api/setup",
            json={
                "token": token,
                "user": {"email": "admin@mdp.local", "password": "s3cret-Admin-pw"},
                "prefs": {"site_name": "Mini Data Platform"},
            },
        )
        session.raise_for_status()
        client.headers["X-Metabase-Session"] = session.json()["id"]
        yield client


def create_database(api: httpx.Client, **details: Any) -> httpx.Response:
    return api.post(
        "/api/database",
        json={"engine": "postgres", "name": "Warehouse", "details": {**DETAILS, **details}},
    )


# --- connection tests: opportunistic TLS, 400 on create/update, 422 on sync ----------------


def test_a_new_connection_is_upgraded_to_tls_when_postgresql_speaks_it(
    fake: FakeMetabase, api: httpx.Client
) -> None:
    fake.warehouse.tls = True

    created = create_database(api, ssl=False)

    assert created.status_code == 200
    assert created.json()["details"]["ssl"] is True  # stored as it connected, not as sent
    assert created.json()["details"]["password"] == HIDDEN_PASSWORD


def test_without_tls_the_connection_is_stored_as_sent(
    fake: FakeMetabase, api: httpx.Client
) -> None:
    created = create_database(api, ssl=False)

    assert created.json()["details"]["ssl"] is False


def test_an_update_is_tested_but_never_upgraded(fake: FakeMetabase, api: httpx.Client) -> None:
    fake.warehouse.tls = True
    db_id = create_database(api).json()["id"]

    updated = api.put(
        f"/api/database/{db_id}",
        json={"details": {**DETAILS, "ssl": False, "password": HIDDEN_PASSWORD}},
    )

    assert updated.status_code == 200
    assert updated.json()["details"]["ssl"] is False  # a PUT stores what it was sent
    assert fake.databases[db_id]["details"]["password"] == "reader-pw"  # the hidden one kept


def test_validate_answers_what_a_create_would_store(fake: FakeMetabase, api: httpx.Client) -> None:
    fake.warehouse.tls = True

    answer = api.post(
        "/api/database/validate", json={"details": {"engine": "postgres", "details": DETAILS}}
    )

    assert answer.status_code == 200
    assert answer.json() == {**DETAILS, "ssl": True, "valid": True}
    assert fake.databases == {}


@pytest.mark.parametrize(
    ("warehouse", "message"),
    [
        ({"logins": {}}, "Looks like your Username is incorrect."),
        ({"logins": {"mdp_readonly": "old-pw"}}, "Looks like your Password is incorrect."),
        ({"reachable": False}, "Hmm, we couldn't connect to the database."),
    ],
)
def test_a_failed_connection_test_refuses_the_create(
    fake: FakeMetabase, api: httpx.Client, warehouse: dict[str, Any], message: str
) -> None:
    for name, value in warehouse.items():
        setattr(fake.warehouse, name, value)

    refused = create_database(api)

    assert refused.status_code == 400
    assert refused.json()["message"].startswith(message)
    assert "specific-errors" not in refused.json()  # not a payload error: a connection test
    assert fake.databases == {}
    validated = api.post(
        "/api/database/validate", json={"details": {"engine": "postgres", "details": DETAILS}}
    )
    assert validated.status_code == 200
    assert validated.json()["valid"] is False


def test_a_failed_connection_test_refuses_a_changed_update_only(
    fake: FakeMetabase, api: httpx.Client
) -> None:
    db_id = create_database(api).json()["id"]
    fake.warehouse.logins = {"mdp_readonly": "new-pw"}

    same = api.put(f"/api/database/{db_id}", json={"name": "Warehouse", "details": DETAILS})
    changed = api.put(f"/api/database/{db_id}", json={"details": {**DETAILS, "port": 5433}})

    assert same.status_code == 200  # unchanged details are not tested again
    assert changed.status_code == 400
    assert changed.json()["message"] == "Looks like your Password is incorrect."
    assert fake.databases[db_id]["details"]["port"] == 5432


def test_sync_schema_tests_the_stored_connection_and_answers_422(
    fake: FakeMetabase, api: httpx.Client
) -> None:
    db_id = create_database(api).json()["id"]
    assert api.post(f"/api/database/{db_id}/sync_schema").json() == {"status": "ok"}
    fake.warehouse.reachable = False

    refused = api.post(f"/api/database/{db_id}/sync_schema")

    assert refused.status_code == 422
    assert refused.json().startswith("Hmm, we couldn't connect to the database.")


# --- the password policy of the first-time setup ----------------------------------------------


@pytest.mark.parametrize(
    ("password", "complexity", "valid"),
    [
        ("s3cret-Admin-pw", "normal", True),
        ("abc12", "normal", False),  # 5 characters, 6 needed
        ("abcdefgh", "normal", False),  # no digit
        ("Password1", "normal", False),  # a common password, whatever its case
        ("password1", "weak", True),  # "weak" skips the common list
        ("s3cret-admin-pw", "strong", False),  # strong: 2 upper case letters
        ("S3cret-Admin-pw", "strong", True),
        ("Zz9-" * 2, "strong", True),  # 8 characters, 2 upper, 2 lower, a digit, a symbol
    ],
)
def test_passwords_are_checked_like_metabase_does(
    password: str, complexity: str, valid: bool
) -> None:
    assert password_is_valid(password, complexity) is valid


def test_a_longer_minimum_length_overrides_the_level() -> None:
    assert password_is_valid("s3cret-Admin-pw", "normal", length=16) is False


def test_setup_refuses_a_weak_admin_password_and_stays_open(
    fake: FakeMetabase, httpserver: HTTPServer
) -> None:
    with httpx.Client(base_url=httpserver.url_for("/"), timeout=5) as client:
        token = client.get("/api/session/properties").json()["setup-token"]
        body = {
            "token": token,
            "user": {"email": "admin@mdp.local", "password": "password1"},
            "prefs": {"site_name": "Mini Data Platform"},
        }
        refused = client.post("/api/setup", json=body)
        assert refused.status_code == 400
        assert refused.json()["errors"] == {"user": {"password": "password is too common."}}
        assert fake.users == {}
        body["user"]["password"] = "s3cret-Admin-pw"
        assert client.post("/api/setup", json=body).status_code == 200  # the token still works


# --- bodies hold only the keys Metabase reads ---------------------------------------------------


def native_card(db_id: int) -> dict[str, Any]:
    return {
        "name": "Daily revenue",
        "display": "line",
        "visualization_settings": {},
        "dataset_query": {"type": "native", "native": {"query": "SELECT 1"}, "database": db_id},
    }


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("card", "visualisation_settings"),  # misspelt: Metabase would drop it silently
        ("card update", "query"),
        ("dashboard", "dashcards"),  # cards come with a PUT
        ("dashboard update", "cards"),  # the deprecated PUT /:id/cards name
        ("dashcard", "tab_id"),
        ("tab", "position"),  # Metabase numbers tabs by their order itself
    ],
)
def test_a_key_metabase_does_not_read_is_refused(
    fake: FakeMetabase, api: httpx.Client, kind: str, key: str
) -> None:
    new_card = native_card(create_database(api).json()["id"])
    card = api.post("/api/card", json=new_card).json()
    dash = api.post("/api/dashboard", json={"name": "Sales"}).json()
    dashcard = {"id": -1, "card_id": card["id"], "row": 0, "col": 0, "size_x": 4, "size_y": 3}
    path, body = {
        "card": ("/api/card", new_card),
        "card update": (f"/api/card/{card['id']}", {"name": "y"}),
        "dashboard": ("/api/dashboard", {"name": "Other"}),
        "dashboard update": (f"/api/dashboard/{dash['id']}", {"name": "Sales"}),
        "dashcard": (f"/api/dashboard/{dash['id']}", {"dashcards": [dashcard]}),
        "tab": (f"/api/dashboard/{dash['id']}",
                {"dashcards": [{**dashcard, "dashboard_tab_id": -1}],
                 "tabs": [{"id": -1, "name": "One"}]}),
    }[kind]  # fmt: skip
    method = api.post if path in {"/api/card", "/api/dashboard"} else api.put
    assert method(path, json=body).status_code == 200  # the same body without it is fine
    before = fake.snapshot()
    if kind in {"dashcard", "tab"}:
        nested = "dashcards" if kind == "dashcard" else "tabs"
        body[nested][0][key] = 1
    else:
        body[key] = 1

    refused = method(path, json=body)

    assert refused.status_code == 400
    errors = refused.json()["errors"]
    if kind in {"dashcard", "tab"}:
        errors = errors["dashcards" if kind == "dashcard" else "tabs"]
    assert errors == {key: "disallowed key"}
    assert fake.snapshot() == before


# --- dashboard tabs ---------------------------------------------------------------------------


@pytest.fixture
def tabbed(fake: FakeMetabase, api: httpx.Client) -> dict[str, Any]:
    """A dashboard on which someone made two tabs in the UI, a card on each."""
    card = api.post("/api/card", json=native_card(create_database(api).json()["id"])).json()
    dash = api.post("/api/dashboard", json={"name": "Sales"}).json()
    place = {"card_id": card["id"], "row": 0, "col": 0, "size_x": 4, "size_y": 3}
    made = api.put(
        f"/api/dashboard/{dash['id']}",
        json={
            "tabs": [{"id": -1, "name": "Overview"}, {"id": -2, "name": "Mine"}],
            "dashcards": [
                {"id": -1, "dashboard_tab_id": -1, **place},
                {"id": -2, "dashboard_tab_id": -2, **place},
            ],
        },
    )
    assert made.status_code == 200
    return dict(made.json())


def test_tabs_are_created_and_cards_placed_on_them(tabbed: dict[str, Any]) -> None:
    overview, mine = tabbed["tabs"]
    assert (overview["name"], overview["position"], mine["name"], mine["position"]) == (
        "Overview", 0, "Mine", 1,
    )  # fmt: skip
    assert sorted(d["dashboard_tab_id"] for d in tabbed["dashcards"]) == sorted(
        [overview["id"], mine["id"]]
    )


def test_on_a_dashboard_with_tabs_every_card_needs_one(
    fake: FakeMetabase, api: httpx.Client, tabbed: dict[str, Any]
) -> None:
    before = fake.snapshot()
    first = tabbed["dashcards"][0]
    untabbed = {k: first[k] for k in ("id", "card_id", "row", "col", "size_x", "size_y")}

    refused = api.put(f"/api/dashboard/{tabbed['id']}", json={"dashcards": [untabbed]})

    assert refused.status_code == 400
    assert refused.json() == "This dashboard has tab, makes sure every card has a tab"
    assert fake.snapshot() == before


def test_a_tab_left_out_is_deleted_with_its_cards(
    fake: FakeMetabase, api: httpx.Client, tabbed: dict[str, Any]
) -> None:
    overview = tabbed["tabs"][0]
    keep = next(d for d in tabbed["dashcards"] if d["dashboard_tab_id"] == overview["id"])
    fields = ("id", "card_id", "dashboard_tab_id", "row", "col", "size_x", "size_y")

    done = api.put(
        f"/api/dashboard/{tabbed['id']}",
        json={
            "tabs": [{"id": overview["id"], "name": overview["name"]}],
            "dashcards": [{k: keep[k] for k in fields}],
        },
    )

    assert done.status_code == 200
    assert [t["name"] for t in fake.dashboards[tabbed["id"]]["tabs"]] == ["Overview"]
    assert [d["id"] for d in fake.dashboards[tabbed["id"]]["dashcards"]] == [keep["id"]]


def test_cards_on_tabs_without_the_tabs_fail_and_change_nothing(
    fake: FakeMetabase, api: httpx.Client, tabbed: dict[str, Any]
) -> None:
    before = fake.snapshot()
    fields = ("id", "card_id", "dashboard_tab_id", "row", "col", "size_x", "size_y")

    failed = api.put(
        f"/api/dashboard/{tabbed['id']}",
        json={
            "name": "Renamed",
            "dashcards": [{k: d[k] for k in fields} for d in tabbed["dashcards"]],
        },
    )

    assert failed.status_code == 500  # the tabs went, their cards' foreign keys fail: rolled back
    assert fake.snapshot() == before
