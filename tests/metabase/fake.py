"""TEST STAND-IN for Metabase: a fake of the endpoints the provisioner uses.

Metabase itself cannot run here (a JVM server with its own application database; no jar, no
image, no registry), so the provisioner is tested against this fake, served by
pytest-httpserver in the tests and baked into the local test cluster's Metabase image
(``tests/cluster/standins/metabase``). It keeps state like Metabase does (ids, collections,
cards, dashboards and their dashcards), answers in Metabase's shapes (``{"data": [...]}`` lists,
the root collection with id "root", MBQL 5 ``dataset_query`` as v0.57+ returns it, the password
hidden) and records every request so tests can assert the exact conversation.

Beyond accepting a request it does what the real server does where a real install would notice;
each rule cites the Metabase source it mirrors (metabase/metabase, read around the pinned v0.57,
namespaces ``metabase.warehouses.*``, ``metabase.setup.api``, ``metabase.queries.api.card``,
``metabase.dashboards.*``, and where they moved on master). It re-implements behaviour only;
none of Metabase's (AGPL) code is copied. Rules:

* setup token once, session header, required fields, dashcard shape, ``PUT`` replacing the card
  list;
* connection tests against ``warehouse`` (a model of the PostgreSQL behind the connection): on
  ``POST /api/database`` with opportunistic TLS (``ssl: false`` is tried with TLS first and
  stored as ``ssl: true`` when that works), on ``PUT`` when the details change (400), on
  ``sync_schema`` (422), and ``POST /api/database/validate``;
* the password policy of ``POST /api/setup`` (complexity level and common passwords, 400);
* card, dashboard, dashcard and tab bodies may hold only the keys Metabase reads (400 otherwise):
  stricter than the server on purpose, see ``DECLARED``;
* dashboard tabs: a ``PUT`` with dashcards replaces the tabs too (those it leaves out are deleted
  with their cards) and, on a dashboard with tabs, needs a tab on every card.

Payload rules follow the Metabase API documentation (``/api/docs/openapi.json``) and source.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response

HIDDEN_PASSWORD = "**MetabasePass**"
"""What Metabase shows instead of a password (``metabase.secrets`` protected-password); sent back
in a ``PUT``, it means "keep the stored one"."""


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    body: Any

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}" + (f"?{self.query}" if self.query else "")


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


COMMON_PASSWORDS = frozenset(
    {"123456", "password1", "passw0rd", "abc123", "qwerty123", "letmein1", "welcome1", "admin123"}
)
"""A sample of the list Metabase refuses (resources/common_passwords.txt, ~12k entries from
zxcvbn that pass its default complexity), compared in lower case: enough to show the rule."""

PASSWORD_COMPLEXITY = {
    "weak": {"total": 6},
    "normal": {"total": 6, "digit": 1},
    "strong": {"total": 8, "lower": 2, "upper": 2, "digit": 1, "special": 1},
}
"""Minimum counts per character class for each MB_PASSWORD_COMPLEXITY level (util/password.clj
``complexity->char-type->min``); "total" is the length."""


def _char_class(c: str) -> str:
    if c.islower():
        return "lower"
    if c.isupper():
        return "upper"
    return "digit" if c.isdigit() else "special"


def password_is_valid(password: str, complexity: str = "normal", length: int | None = None) -> bool:
    """Metabase's check of a new password (util/password.clj ``is-valid?``): the minimum counts of
    the configured level (MB_PASSWORD_COMPLEXITY, default "normal" in config.clj's app defaults;
    MB_PASSWORD_LENGTH overrides the length), and, unless the level is "weak", not on the common
    list. A character that is not a lower or upper case letter or a digit counts as special."""
    counts = {"total": len(password), "lower": 0, "upper": 0, "digit": 0, "special": 0}
    for c in password:
        counts[_char_class(c)] += 1
    minimum = {**PASSWORD_COMPLEXITY[complexity], **({"total": length} if length else {})}
    complex_enough = all(counts[kind] >= n for kind, n in minimum.items())
    return complex_enough and (complexity == "weak" or password.lower() not in COMMON_PASSWORDS)


DECLARED: dict[str, frozenset[str]] = {
    # queries/api/card.clj (queries_rest/api/card.clj on master): CardCreateSchema.
    "card": frozenset({
        "name", "type", "dataset_query", "entity_id", "parameters", "parameter_mappings",
        "description", "display", "visualization_settings", "collection_id",
        "collection_position", "result_metadata", "cache_ttl", "dashboard_id", "dashboard_tab_id",
    }),
    # Same files: CardUpdateSchema.
    "card update": frozenset({
        "name", "parameters", "parameter_mappings", "dataset_query", "type", "display",
        "description", "visualization_settings", "archived", "enable_embedding", "embedding_type",
        "embedding_params", "collection_id", "collection_position", "result_metadata",
        "cache_ttl", "collection_preview", "dashboard_id", "dashboard_tab_id",
    }),
    # dashboards/api.clj: POST "/".
    "dashboard": frozenset({
        "name", "parameters", "description", "cache_ttl", "collection_id", "collection_position",
    }),
    # dashboards/api.clj: DashUpdates, and auto_apply_filters, which update-dashboard reads too.
    "dashboard update": frozenset({
        "name", "description", "caveats", "points_of_interest", "show_in_getting_started",
        "enable_embedding", "embedding_params", "parameters", "position", "width", "archived",
        "collection_id", "collection_position", "cache_ttl", "auto_apply_filters", "dashcards",
        "tabs",
    }),
    # dashboards/api.clj UpdatedDashboardCard, and the keys models/dashboard_card.clj reads from a
    # dashcard (update-dashboard-card!'s update-ks; create-dashboard-cards! inserts the rest).
    "dashcard": frozenset({
        "id", "card_id", "action_id", "dashboard_tab_id", "row", "col", "size_x", "size_y",
        "parameter_mappings", "inline_parameters", "visualization_settings", "series",
    }),
    # dashboards/api.clj UpdatedDashboardTab (models/dashboard_tab.clj updates name, position).
    "tab": frozenset({"id", "name"}),
}  # fmt: skip
"""The keys each body may hold. Metabase's own schemas for these are open malli maps around
v0.57, whose handlers pick the keys they know and ignore the rest (a new dashcard's other keys
even reach the INSERT and fail there); master strips every undeclared key before validating
(api/macros.clj ``decode-transformer``, api/macros/defendpoint/closed_schemas.clj). Either way a
key Metabase does not read never takes effect, so a payload that drifted (a renamed or misspelt
field) would pass unnoticed in production: the fake refuses it, as a closed malli map would."""


def _declared(kind: str, body: dict[str, Any], where: str | None = None) -> None:
    extra = sorted(set(body) - DECLARED[kind])
    if extra:
        errors = dict.fromkeys(extra, "disallowed key")
        specific = {key: ["disallowed key"] for key in extra}
        if where is not None:  # a nested map: malli's errors nest like the body (list indexes cut)
            errors, specific = {where: errors}, {where: specific}
        raise ApiError(400, {"errors": errors, "specific-errors": specific})


def _need(body: dict[str, Any], *names: str) -> None:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise ApiError(400, {"errors": dict.fromkeys(missing, "value must be a non-blank string.")})


@dataclass
class Warehouse:
    """The PostgreSQL behind Metabase's warehouse connection, as Metabase's connection test sees
    it (the fake connects to nothing). The defaults let any login in without TLS: what the
    cluster stand-in needs, whose real PostgreSQL the fake cannot test."""

    reachable: bool = True
    tls: bool = False
    """Whether it accepts TLS connections (then Metabase upgrades ``ssl: false`` to true)."""
    logins: dict[str, str] | None = None
    """user -> password of the logins that may connect; None: any login."""

    def connection_error(self, details: dict[str, Any]) -> dict[str, Any] | None:
        """None when Metabase could connect with ``details``, else the error it answers.

        Mirrors ``test-database-connection`` (warehouses/util.clj; warehouses/api.clj in the
        v0.5x line): the driver's message humanized by the postgres driver
        (driver/postgres.clj ``humanize-connection-error-message``) into the ``{message,
        errors}`` maps of driver/util.clj ``connection-error-messages``."""
        if not self.reachable:
            return {
                "message": "Hmm, we couldn't connect to the database. "
                "Make sure your Host and Port settings are correct",
                "errors": {"host": "check your host settings", "port": "check your port settings"},
            }
        if details.get("ssl") is True and not self.tls:
            return {"message": "The server does not support SSL."}  # PgJDBC's own message
        if self.logins is not None:
            user = details.get("user")
            if user not in self.logins:  # FATAL: role "..." does not exist
                return {
                    "message": "Looks like your Username is incorrect.",
                    "errors": {"user": "check your username"},
                }
            if self.logins[user] != details.get("password"):  # password authentication failed
                return {
                    "message": "Looks like your Password is incorrect.",
                    "errors": {"password": "check your password"},
                }
        return None

    def tested_details(self, details: dict[str, Any]) -> dict[str, Any]:
        """What ``POST /api/database`` stores, or the error map with ``valid: false``.

        Mirrors ``test-connection-details`` (warehouses/util.clj; warehouses/api.clj in the v0.5x
        line): details whose ``ssl`` is not true are first tried with ``ssl: true`` and, when that
        connects, stored so (opportunistic TLS); otherwise tried as given."""
        if details.get("ssl") is not True:
            upgraded = {**details, "ssl": True}
            if self.connection_error(upgraded) is None:
                return upgraded
        error = self.connection_error(details)
        return details if error is None else {**error, "valid": False}


@dataclass
class FakeMetabase:
    unhealthy_checks: int = 0
    """How many /api/health calls answer 503 before Metabase is up."""
    setup_token: str = field(default_factory=lambda: str(uuid.uuid4()))
    users: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    password_complexity: str = "normal"
    """MB_PASSWORD_COMPLEXITY of this Metabase: weak, normal (Metabase's default) or strong."""
    password_length: int | None = None
    """MB_PASSWORD_LENGTH: overrides the level's minimum length."""
    warehouse: Warehouse = field(default_factory=Warehouse)
    """What Metabase's connection tests find (see ``Warehouse``)."""
    fail_next: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """'METHOD /path' -> (status, body) to answer once instead of handling."""
    sessions: set[str] = field(default_factory=set)
    databases: dict[int, dict[str, Any]] = field(default_factory=dict)
    collections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cards: dict[int, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[int, dict[str, Any]] = field(default_factory=dict)
    _next: int = 100
    _health_calls: int = 0

    def new_id(self) -> int:
        self._next += 1
        return self._next

    # --- plumbing ----------------------------------------------------------------------------

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.get_data()) if request.get_data() else None
        call = Call(request.method, request.path, request.query_string.decode(), body)
        self.calls.append(call)
        try:
            injected = self.fail_next.pop(f"{call.method} {call.path}", None)
            if injected:
                raise ApiError(*injected)
            result = self._route(call, request)
            status = 200
        except ApiError as e:
            result, status = e.body, e.status
        return Response(json.dumps(result), status=status, content_type="application/json")

    def _authenticated(self, request: Request) -> None:
        if request.headers.get("X-Metabase-Session") not in self.sessions:
            raise ApiError(401, "Unauthenticated")

    def _route(self, call: Call, request: Request) -> Any:
        public = {
            ("GET", "/api/health"): self.health,
            ("GET", "/api/session/properties"): self.properties,
            ("POST", "/api/setup"): self.setup,
            ("POST", "/api/session"): self.login,
        }
        if (call.method, call.path) in public:
            return public[(call.method, call.path)](call.body)
        self._authenticated(request)
        routes = [
            ("GET", r"/api/database", self.list_databases),
            ("POST", r"/api/database", self.create_database),
            ("POST", r"/api/database/validate", self.validate_database),
            ("PUT", r"/api/database/(\d+)", self.update_database),
            ("POST", r"/api/database/(\d+)/sync_schema", self.sync_schema),
            ("GET", r"/api/collection", self.list_collections),
            ("POST", r"/api/collection", self.create_collection),
            ("PUT", r"/api/collection/(\d+)", self.update_collection),
            ("GET", r"/api/collection/(\d+)/items", self.collection_items),
            ("GET", r"/api/card", self.list_cards),
            ("POST", r"/api/card", self.create_card),
            ("PUT", r"/api/card/(\d+)", self.update_card),
            ("POST", r"/api/dashboard", self.create_dashboard),
            ("GET", r"/api/dashboard/(\d+)", self.get_dashboard),
            ("PUT", r"/api/dashboard/(\d+)", self.update_dashboard),
        ]
        for method, pattern, handler in routes:
            m = re.fullmatch(pattern, call.path)
            if m and method == call.method:
                args = [int(g) for g in m.groups()]
                if handler == self.collection_items:
                    return handler(*args, request.args.getlist("models"))
                return handler(*args, call.body) if call.method != "GET" else handler(*args)
        raise ApiError(404, f"API endpoint does not exist: {call.method} {call.path}")

    # --- public endpoints --------------------------------------------------------------------

    def health(self, _: Any) -> Any:
        self._health_calls += 1
        if self._health_calls <= self.unhealthy_checks:
            raise ApiError(503, {"status": "initializing", "progress": 0.4})
        return {"status": "ok"}

    def properties(self, _: Any) -> Any:
        done = bool(self.users)
        return {
            "has-user-setup": done,
            "setup-token": None if done else self.setup_token,
            "version": {"tag": "v0.57.4"},
        }

    def setup(self, body: dict[str, Any]) -> Any:
        if self.users:
            raise ApiError(
                403, "The /api/setup route can only be used to create the first user, however a "
                "user currently exists."
            )  # fmt: skip
        if body.get("token") != self.setup_token:
            raise ApiError(400, {"errors": {"token": "Token does not match the setup token."}})
        user = body.get("user") or {}
        _need(user, "email", "password")
        _need(body.get("prefs") or {}, "site_name")
        if not password_is_valid(user["password"], self.password_complexity, self.password_length):
            # setup/api.clj POST "/": user.password is ms/ValidPassword (util/malli/schema.clj),
            # whose API error message is this whatever the reason; the errors nest like the body.
            raise ApiError(
                400,
                {
                    "errors": {"user": {"password": "password is too common."}},
                    "specific-errors": {"user": {"password": ["password is too common."]}},
                },
            )
        self.users[user["email"]] = user["password"]
        return self._session()

    def login(self, body: dict[str, Any]) -> Any:
        if self.users.get(body.get("username", "")) != body.get("password"):
            raise ApiError(401, {"errors": {"password": "did not match stored password"}})
        return self._session()

    def _session(self) -> Any:
        session = str(uuid.uuid4())
        self.sessions.add(session)
        return {"id": session}

    # --- databases ---------------------------------------------------------------------------

    def _shown_database(self, db: dict[str, Any]) -> dict[str, Any]:
        return {**db, "details": {**db["details"], "password": HIDDEN_PASSWORD}}

    def list_databases(self) -> Any:
        data = [self._shown_database(d) for d in self.databases.values()]
        return {"data": data, "total": len(data)}

    def create_database(self, body: dict[str, Any]) -> Any:
        """POST "/" of warehouses/api.clj (v0.5x; warehouses_rest/api.clj on master): the
        connection is tested, with opportunistic TLS; a failed test answers 400 with the error
        map and stores nothing."""
        _need(body, "name", "engine", "details")
        tested = self.warehouse.tested_details(body["details"])
        if tested.get("valid") is False:
            raise ApiError(400, {k: v for k, v in tested.items() if k != "valid"})
        db = {"id": self.new_id(), **body, "details": tested}
        self.databases[db["id"]] = db
        return self._shown_database(db)

    def validate_database(self, body: dict[str, Any]) -> Any:
        """POST "/validate" (same files): the same test as a create, answered 200 with the
        details that would be stored (``valid: true``) or the error map (``valid: false``)."""
        wrapped = body.get("details") or {}
        _need(wrapped, "engine", "details")
        tested = self.warehouse.tested_details(wrapped["details"])
        return {**tested, "valid": tested.get("valid") is not False}

    def update_database(self, db_id: int, body: dict[str, Any]) -> Any:
        """PUT "/:id" (same files): the details are merged into the stored ones (the hidden
        password meaning "keep it"), tested when they changed, without any TLS upgrade, and a
        failed test answers 400 and changes nothing."""
        db = self.databases[self._exists(self.databases, db_id)]
        if body.get("details") is not None:
            incoming = {
                k: db["details"].get(k) if k == "password" and v == HIDDEN_PASSWORD else v
                for k, v in body["details"].items()
            }
            details = {**db["details"], **incoming}
            if details != db["details"]:
                error = self.warehouse.connection_error(details)
                if error is not None:
                    raise ApiError(400, error)
            body = {**body, "details": details}
        db.update(body)
        return self._shown_database(db)

    def sync_schema(self, db_id: int, _: Any) -> Any:
        """POST "/:id/sync_schema" (same files): the stored details are tested first; a failure
        is thrown with status 422, so the body is the bare message."""
        db = self.databases[self._exists(self.databases, db_id)]
        error = self.warehouse.connection_error(db["details"])
        if error is not None:
            raise ApiError(422, error["message"])
        return {"status": "ok"}

    # --- collections -------------------------------------------------------------------------

    def _location(self, parent_id: int | None) -> str:
        if parent_id is None:
            return "/"
        parent = self.collections[self._exists(self.collections, parent_id)]
        return f"{parent['location']}{parent_id}/"

    def list_collections(self) -> Any:
        root = {"id": "root", "name": "Our analytics", "location": None, "can_write": True}
        return [root, *(c for c in self.collections.values() if not c["archived"])]

    def create_collection(self, body: dict[str, Any]) -> Any:
        _need(body, "name")
        coll = {
            "id": self.new_id(),
            "name": body["name"],
            "description": body.get("description"),
            "location": self._location(body.get("parent_id")),
            "archived": False,
            "personal_owner_id": None,
        }
        self.collections[coll["id"]] = coll
        return coll

    def update_collection(self, coll_id: int, body: dict[str, Any]) -> Any:
        coll = self.collections[self._exists(self.collections, coll_id)]
        coll.update({k: body[k] for k in ("name", "description") if k in body})
        if "parent_id" in body:
            coll["location"] = self._location(body["parent_id"])
        return coll

    def collection_items(self, coll_id: int, models: list[str]) -> Any:
        self._exists(self.collections, coll_id)
        data = []
        if not models or "dashboard" in models:
            data += [
                {"id": d["id"], "name": d["name"], "description": d["description"],
                 "model": "dashboard"}
                for d in self.dashboards.values()
                if d["collection_id"] == coll_id and not d["archived"]
            ]  # fmt: skip
        if not models or "card" in models:
            data += [
                {"id": c["id"], "name": c["name"], "description": c["description"], "model": "card"}
                for c in self.cards.values()
                if c["collection_id"] == coll_id and not c["archived"]
            ]
        return {"data": data, "total": len(data), "models": models}

    # --- cards -------------------------------------------------------------------------------

    def _stored_query(self, query: dict[str, Any]) -> dict[str, Any]:
        """Metabase v0.57+ stores and returns MBQL 5 whatever it was sent."""
        if query.get("type") != "native":
            raise ApiError(400, {"message": "the fake only knows native queries"})
        self._exists(self.databases, query.get("database"))
        return {
            "lib/type": "mbql/query",
            "database": query["database"],
            "stages": [
                {
                    "lib/type": "mbql.stage/native",
                    "native": query["native"]["query"],
                    "template-tags": query["native"].get("template-tags", {}),
                }
            ],
        }

    def list_cards(self) -> Any:
        return [c for c in self.cards.values() if not c["archived"]]

    def create_card(self, body: dict[str, Any]) -> Any:
        _declared("card", body)
        _need(body, "name", "display", "dataset_query")
        if not isinstance(body.get("visualization_settings"), dict):
            raise ApiError(400, {"errors": {"visualization_settings": "value must be a map."}})
        if body.get("collection_id") is not None:
            self._exists(self.collections, body["collection_id"])
        card = {
            "id": self.new_id(),
            "entity_id": uuid.uuid4().hex[:21],
            "archived": False,
            "type": body.get("type", "question"),
            "name": body["name"],
            "description": body.get("description"),
            "display": body["display"],
            "visualization_settings": body["visualization_settings"],
            "collection_id": body.get("collection_id"),
            "dataset_query": self._stored_query(body["dataset_query"]),
            "query_type": "native",
        }
        card["database_id"] = card["dataset_query"]["database"]
        self.cards[card["id"]] = card
        return card

    def update_card(self, card_id: int, body: dict[str, Any]) -> Any:
        _declared("card update", body)
        card = self.cards[self._exists(self.cards, card_id)]
        for k in ("name", "description", "display", "visualization_settings", "collection_id"):
            if k in body:
                card[k] = body[k]
        if "dataset_query" in body:
            card["dataset_query"] = self._stored_query(body["dataset_query"])
        return card

    # --- dashboards --------------------------------------------------------------------------

    def create_dashboard(self, body: dict[str, Any]) -> Any:
        _declared("dashboard", body)  # no dashcards: they come with a PUT
        _need(body, "name")
        if body.get("collection_id") is not None:
            self._exists(self.collections, body["collection_id"])
        dash = {
            "id": self.new_id(),
            "name": body["name"],
            "description": body.get("description"),
            "collection_id": body.get("collection_id"),
            "archived": False,
            "dashcards": [],
            "tabs": [],
            "parameters": [],
        }
        self.dashboards[dash["id"]] = dash
        return dash

    def get_dashboard(self, dash_id: int) -> Any:
        return self.dashboards[self._exists(self.dashboards, dash_id)]

    def update_dashboard(self, dash_id: int, body: dict[str, Any]) -> Any:
        _declared("dashboard update", body)
        for dashcard in body.get("dashcards") or []:
            _declared("dashcard", dashcard, "dashcards")
        for tab in body.get("tabs") or []:
            _declared("tab", tab, "tabs")
        dash = self.dashboards[self._exists(self.dashboards, dash_id)]
        # One transaction (t2/with-transaction in update-dashboard): a refusal changes nothing.
        if "dashcards" in body:
            tabs, dashcards = self._new_tabs_and_dashcards(
                dash, body["dashcards"], body.get("tabs") or []
            )
            dash.update(tabs=tabs, dashcards=dashcards)
        for k in ("name", "description", "collection_id"):
            if k in body:
                dash[k] = body[k]
        return dash

    def _new_tabs_and_dashcards(
        self, dash: dict[str, Any], dashcards: list[dict[str, Any]], tabs: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``update-dashboard`` of dashboards/api.clj when the body has ``dashcards``: the tabs
        sent are the whole list too (models/dashboard_tab.clj ``do-update-tabs!``, a row diff by
        id: negative ids are created, positions follow the order, and a tab left out is deleted
        with its cards, even when ``tabs`` is missing); on a dashboard that has tabs every card
        must name one (400). Then the card list is replaced: cards left out are deleted, negative
        ids created. Returns the new tabs and cards; the caller stores them."""
        if dash["tabs"] and any(d.get("dashboard_tab_id") is None for d in dashcards):
            raise ApiError(400, "This dashboard has tab, makes sure every card has a tab")
        for key, rows in (("dashcards", dashcards), ("tabs", tabs)):
            ids = [r.get("id") for r in rows]
            if len(set(ids)) != len(ids):
                raise ApiError(400, {"errors": {key: "ids must be unique"}})
            if not all(isinstance(i, int) for i in ids):
                raise ApiError(400, {"errors": {key: "id must be an integer"}})
        if any(not str(t.get("name") or "").strip() for t in tabs):
            raise ApiError(400, {"errors": {"tabs": {"name": "value must be a non-blank string."}}})
        current_tabs = {t["id"] for t in dash["tabs"]}
        for t in tabs:
            if t["id"] > 0 and t["id"] not in current_tabs:
                raise ApiError(404, f"tab {t['id']} is not on dashboard {dash['id']}")
        created_tabs = {t["id"]: self.new_id() for t in tabs if t["id"] < 0}
        deleted_tabs = current_tabs - {t["id"] for t in tabs}
        new_tabs = [
            {"id": created_tabs.get(t["id"], t["id"]), "dashboard_id": dash["id"],
             "name": t["name"], "position": position}
            for position, t in enumerate(tabs)
        ]  # fmt: skip
        tab_ids = {t["id"] for t in new_tabs}
        current = {d["id"] for d in dash["dashcards"] if d["dashboard_tab_id"] not in deleted_tabs}
        cards = []
        for d in dashcards:
            if d["size_x"] < 1 or d["size_y"] < 1 or d["row"] < 0 or d["col"] < 0:
                raise ApiError(400, {"errors": {"dashcards": "bad position or size"}})
            if d.get("card_id") is not None:  # None: a text or heading card
                self._exists(self.cards, d["card_id"])
            tab = created_tabs.get(d.get("dashboard_tab_id"), d.get("dashboard_tab_id"))
            if tab is not None and tab not in tab_ids:  # the application database's foreign key
                raise ApiError(500, {"message": f"no tab {tab} on dashboard {dash['id']}"})
            if d["id"] > 0 and d["id"] not in current:
                raise ApiError(404, f"dashcard {d['id']} is not on dashboard {dash['id']}")
            new_id = d["id"] if d["id"] > 0 else self.new_id()
            cards.append({**d, "id": new_id, "dashboard_id": dash["id"], "dashboard_tab_id": tab})
        return new_tabs, cards

    # --- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _exists(table: dict[int, Any], object_id: Any) -> int:
        if object_id not in table:
            raise ApiError(404, "Not found.")
        return int(object_id)

    # --- for assertions ----------------------------------------------------------------------

    def lines(self) -> list[str]:
        return [c.line for c in self.calls]

    def writes(self) -> list[str]:
        return [c.line for c in self.calls if c.method in {"POST", "PUT", "DELETE"}]

    def snapshot(self) -> str:
        """Every object Metabase holds, for "nothing changed" comparisons."""
        return json.dumps(
            [self.databases, self.collections, self.cards, self.dashboards],
            sort_keys=True,
            default=str,
        )
