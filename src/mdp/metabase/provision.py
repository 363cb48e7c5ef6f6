"""Bring a Metabase to the state the dashboards file describes, and change nothing if it is there.

Order of work, each step idempotent on its own:

1. Log in: on a fresh Metabase (``has-user-setup`` false) finish the first-time setup with the
   one-time setup token and the admin credentials from the Secret; afterwards log in with them.
2. The warehouse connection (found by name): created with the read-only login, updated only when
   its host, port, database or user differ, or TLS is required and off (Metabase never returns
   the password, so a rotated password is pushed with ``--update-connection``). Metabase tests a
   connection before storing it and, given ``ssl: false``, stores ``ssl: true`` when PostgreSQL
   accepts TLS: a connection we do not require TLS for is the same with either, and an update
   sends the ``ssl`` Metabase's own test (``POST /api/database/validate``) settles on, so it
   neither turns TLS off nor differs on the next run. Then a schema sync is requested, so views
   added by a new migration show up without waiting for Metabase's hourly sync. A failed
   connection test (400 on create/update, 422 on the sync) is retried with back-off, since on a
   first install the read-only login or PostgreSQL may not be ready yet; if it lasts, the run is
   a fault (``TransientError``, exit 1) that the Job retries, not a refusal.
3. Collections, questions, dashboards, in that order (each refers to ids of the one before),
   found by the key in their description (``content.mark``), created when missing, updated in
   place when any managed field differs, left alone otherwise.

A dashboard's cards are compared as (question, row, col, size) tuples. ``PUT /api/dashboard/:id``
replaces the whole card list and, with it, the whole tab list (a tab left out is deleted with its
cards). So an update sends every tab as it is and every card: ours, reusing the ids of cards that
stay (Metabase updates those) and negative ids for new ones (Metabase creates those), and
everyone else's unchanged. Ours are the cards of our questions on our tab (the only tab, or the
one holding most of them once someone added tabs in the UI); cards on other tabs, text cards and
cards of other questions are someone else's and are never moved or deleted.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mdp.errors import ConfigError, TerminalError, TransientError
from mdp.metabase.client import MetabaseClient, MetabaseError
from mdp.metabase.content import Content, Dashboard, key_of, mark

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECTION_TESTS = 5
"""How many times one run lets Metabase test the warehouse connection before giving up (with the
client's back-off: about 15 s at the default 1 s); the Job then retries the whole run."""


@dataclass(frozen=True)
class Admin:
    email: str
    password: str
    site_name: str = "Mini Data Platform"


@dataclass(frozen=True)
class WarehouseLogin:
    """The connection Metabase gets: the read-only role, never the owner or the pipeline."""

    host: str
    port: int
    dbname: str
    user: str
    password: str
    ssl: bool = False

    def visible_details(self) -> dict[str, Any]:
        """The fields Metabase returns (it hides the password), for comparing."""
        return {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "ssl": self.ssl,
        }

    def details(self) -> dict[str, Any]:
        """What Metabase is sent: the visible fields and the password."""
        return {**self.visible_details(), "password": self.password}

    def matches(self, shown: dict[str, Any]) -> bool:
        """Whether Metabase's stored connection (``shown``, from ``GET /api/database``) is this
        one. ``ssl`` is the only field Metabase changes by itself (to true, when PostgreSQL
        accepts TLS), so it differs only when we require TLS and it is off."""
        port = shown.get("port")
        now = {
            "host": shown.get("host"),
            "port": int(port) if port is not None else None,  # the UI saves it as text
            "dbname": shown.get("dbname"),
            "user": shown.get("user"),
        }
        want = {k: v for k, v in self.visible_details().items() if k != "ssl"}
        return now == want and (bool(shown.get("ssl")) or not self.ssl)


@dataclass
class Report:
    """What a run did, by kind of object: keys created and updated, count left unchanged."""

    setup_completed: bool = False
    database_id: int | None = None
    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    updated: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    unchanged: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def note(self, kind: str, key: str, action: str, object_id: int) -> None:
        if action == "unchanged":
            self.unchanged[kind] += 1
            log.debug("%s %s unchanged (id %s)", kind, key, object_id)
            return
        (self.created if action == "created" else self.updated)[kind].append(key)
        log.info("%s %s %s (id %s)", action, kind, key, object_id)

    def as_dict(self) -> dict[str, Any]:
        return {
            "setup_completed": self.setup_completed,
            "database_id": self.database_id,
            "created": dict(self.created),
            "updated": dict(self.updated),
            "unchanged": dict(self.unchanged),
        }


def native_query(sql: str, database_id: int) -> dict[str, Any]:
    """A native question's ``dataset_query`` in the form every Metabase version accepts."""
    return {
        "type": "native",
        "native": {"query": sql, "template-tags": {}},
        "database": database_id,
    }


def query_of(dataset_query: dict[str, Any] | None) -> tuple[str | None, int | None]:
    """(SQL, database id) of a stored card, in either of Metabase's formats: legacy MBQL 4
    (``native.query``) or MBQL 5, which v0.57+ returns (``stages[0].native``)."""
    if not dataset_query:
        return None, None
    database = dataset_query.get("database")
    native = dataset_query.get("native")
    if isinstance(native, dict):
        return native.get("query"), database
    stages = dataset_query.get("stages") or [{}]
    sql = stages[0].get("native")
    return (sql if isinstance(sql, str) else None), database


class _ConnectionTestError(Exception):
    """Metabase could not connect to the warehouse with the details it was given."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _failed_connection_test(e: MetabaseError) -> str | None:
    """Metabase's reason when ``e`` is a failed connection test, else None. ``POST`` and ``PUT
    /api/database`` answer 400 with the test's ``{message, errors}`` (a payload error has
    ``specific-errors`` instead); ``sync_schema`` answers 422 with the bare message."""
    if e.status == 422 and e.path.endswith("/sync_schema"):
        return e.detail
    if (
        e.status == 400
        and e.method in {"POST", "PUT"}
        and e.path.startswith("/api/database")
        and isinstance(e.body, dict)
        and "specific-errors" not in e.body
    ):
        return e.detail
    return None


def _password_refusal(e: MetabaseError) -> str | None:
    """Metabase's words when ``e`` is ``POST /api/setup`` refusing the admin password, else None.
    The password is a validated field (``ms/ValidPassword``): a 400 whose ``errors`` name it,
    under ``user`` (the nested body schema) or, in older versions, at the top."""
    errors = e.body.get("errors") if isinstance(e.body, dict) else None
    if e.status != 400 or not isinstance(errors, dict):
        return None
    user = errors.get("user")
    found = user.get("password") if isinstance(user, dict) else errors.get("password")
    return str(found) if found else None


_KEPT_DASHCARD_KEYS = (
    "id", "card_id", "action_id", "dashboard_tab_id", "row", "col", "size_x", "size_y",
    "parameter_mappings", "inline_parameters", "visualization_settings", "series",
)  # fmt: skip
"""What a dashcard that is not ours is sent back with, as ``GET /api/dashboard/:id`` gave them:
the fields Metabase reads from a dashcard in a ``PUT`` (the rest it ignores, or, for a new one,
fails to insert)."""


def _our_tab(
    tabs: list[dict[str, Any]], dashcards: list[dict[str, Any]], managed: set[int]
) -> int | None:
    """The tab our cards live on: None on a dashboard without tabs; else the one holding most of
    the cards of our questions (the first by position on a tie or when none does), which is
    where Metabase put the existing cards when someone added the second tab in the UI."""
    if not tabs:
        return None
    counts = Counter(d.get("dashboard_tab_id") for d in dashcards if d.get("card_id") in managed)
    return int(max(tabs, key=lambda t: counts[t["id"]])["id"])  # max keeps the first of equals


def _as_list(payload: Any) -> list[dict[str, Any]]:
    """List endpoints answer a bare list or, in newer versions, ``{"data": [...]}``."""
    if isinstance(payload, dict):
        return list(payload.get("data") or [])
    return list(payload or [])


def _parent_id(collection: dict[str, Any]) -> int | None:
    """A collection's parent from its ``location`` ("/" is the root, "/4/9/" means parent 9)."""
    ids = [p for p in str(collection.get("location") or "/").split("/") if p]
    return int(ids[-1]) if ids else None


def _by_key(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Managed, not archived objects by their key; the oldest wins if a key was duplicated."""
    found: dict[str, dict[str, Any]] = {}
    for obj in sorted(objects, key=lambda o: o["id"] if isinstance(o.get("id"), int) else 0):
        key = key_of(obj.get("description"))
        if key and not obj.get("archived") and key not in found:
            found[key] = obj
    return found


class Provisioner:
    def __init__(
        self,
        client: MetabaseClient,
        content: Content,
        admin: Admin,
        warehouse: WarehouseLogin,
        *,
        update_connection: bool = False,
        connection_tests: int = CONNECTION_TESTS,
    ) -> None:
        self.client = client
        self.content = content
        self.admin = admin
        self.warehouse = warehouse
        self.update_connection = update_connection
        self.connection_tests = connection_tests
        self.report = Report()

    def run(self) -> Report:
        self.log_in()
        database_id = self.ensure_database()
        self._tested(lambda: self.client.post(f"/api/database/{database_id}/sync_schema"))
        collections = self.ensure_collections()
        questions = self.ensure_questions(database_id, collections)
        for dashboard in self.content.dashboards:
            self.ensure_dashboard(dashboard, collections, questions)
        return self.report

    # --- 1. session --------------------------------------------------------------------------

    def log_in(self) -> None:
        properties = self.client.get("/api/session/properties")
        if not properties.get("has-user-setup"):
            token = properties.get("setup-token")
            if not token:
                raise TerminalError("Metabase is not set up yet but offers no setup token")
            log.info("first start: completing Metabase's setup as %s", self.admin.email)
            try:
                session = self.client.post(
                    "/api/setup",
                    {
                        "token": token,
                        "user": {
                            "email": self.admin.email,
                            "password": self.admin.password,
                            "first_name": "Platform",
                            "last_name": "Admin",
                        },
                        "prefs": {"site_name": self.admin.site_name, "allow_tracking": False},
                    },
                )
            except MetabaseError as e:
                refusal = _password_refusal(e)
                if refusal is not None:
                    raise ConfigError(
                        f"Metabase refused the admin password of {self.admin.email} "
                        f"({refusal!r}): it fails Metabase's password policy "
                        "(MB_PASSWORD_COMPLEXITY, by default normal: at least 6 characters with a"
                        " digit, and not one of its common passwords); put a stronger password "
                        "in the metabaseAdmin Secret (secrets.existing.metabaseAdmin, key "
                        "password; METABASE__ADMIN_PASSWORD outside Kubernetes) and provision "
                        "again (make deploy)"
                    ) from e
                raise
            self.report.setup_completed = True
        else:
            try:
                session = self.client.post(
                    "/api/session",
                    {"username": self.admin.email, "password": self.admin.password},
                )
            except MetabaseError as e:
                if e.status in (400, 401):
                    raise ConfigError(
                        f"Metabase is already set up and refused the admin login {self.admin.email}"
                        " from the Secret (was the admin password changed in Metabase, or the"
                        " Secret replaced?): " + e.message
                    ) from e
                raise
        self.client.login(session["id"])

    # --- 2. warehouse connection ------------------------------------------------------------

    def ensure_database(self) -> int:
        name = self.content.database.name
        found = [
            d
            for d in _as_list(self.client.get("/api/database"))
            if d.get("name") == name and d.get("engine") == "postgres"
        ]
        if not found:
            created = self._tested(
                lambda: self.client.post(
                    "/api/database",
                    {
                        "engine": "postgres",
                        "name": name,
                        "details": self.warehouse.details(),
                        "is_full_sync": True,
                        "is_on_demand": False,
                        "auto_run_queries": True,
                    },
                )
            )
            self.report.note("database", name, "created", created["id"])
            self.report.database_id = int(created["id"])
            return self.report.database_id
        current = min(found, key=lambda d: d["id"])
        if self.update_connection or not self.warehouse.matches(current.get("details") or {}):
            self._tested(
                lambda: self.client.put(
                    f"/api/database/{current['id']}",
                    {"engine": "postgres", "name": name, "details": self._details_to_store()},
                )
            )
            self.report.note("database", name, "updated", current["id"])
        else:
            self.report.note("database", name, "unchanged", current["id"])
        self.report.database_id = int(current["id"])
        return self.report.database_id

    def _details_to_store(self) -> dict[str, Any]:
        """Our details with the ``ssl`` Metabase would store for them on a create: an update is
        stored as sent (no TLS upgrade), so sending ``ssl: false`` would turn off the TLS
        Metabase found when it created the connection."""
        details = self.warehouse.details()
        answer = self.client.post(
            "/api/database/validate", {"details": {"engine": "postgres", "details": details}}
        )
        if answer.get("valid") is False:
            raise _ConnectionTestError(str(answer.get("message") or answer))
        details["ssl"] = bool(answer.get("ssl", details["ssl"]))
        return details

    def _tested(self, call: Callable[[], T]) -> T:
        """Run ``call``, a request on which Metabase tests the warehouse connection, again with
        back-off while that test fails, up to ``connection_tests`` times; then a fault
        (``TransientError``): the login may just not exist yet, so the Job should try again."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return call()
            except MetabaseError as e:
                reason = _failed_connection_test(e)
                if reason is None:
                    raise
            except _ConnectionTestError as e:
                reason = e.reason
            reason = reason.rstrip(".")
            w = self.warehouse
            if attempt >= self.connection_tests:
                raise TransientError(
                    f"Metabase could not connect to the warehouse as {w.user} at "
                    f"{w.host}:{w.port}/{w.dbname} ({attempt} connection tests): {reason}. The "
                    "read-only login or PostgreSQL may not be ready yet, so this is a fault the "
                    "Job retries; if it lasts, check PG__HOST, PG__PORT, PG__DATABASE and the "
                    "login PG__USER/PG__PASSWORD (on Kubernetes the postgresReader Secret)."
                )
            delay = self.client.back_off(attempt)
            log.warning(
                "Metabase could not connect to the warehouse (%s); test %d of %d, next in %.0f s",
                reason,
                attempt,
                self.connection_tests,
                delay,
            )

    # --- 3. content ---------------------------------------------------------------------------

    def _upsert(
        self,
        kind: str,
        key: str,
        path: str,
        desired: dict[str, Any],
        current: dict[str, Any] | None,
        same: Callable[[dict[str, Any]], bool],
    ) -> int:
        """Create the object when missing, PUT all of ``desired`` when ``same`` says it differs,
        note what happened; returns its id."""
        if current is None:
            object_id = int(self.client.post(path, desired)["id"])
            self.report.note(kind, key, "created", object_id)
            return object_id
        object_id = int(current["id"])
        unchanged = same(current)
        if not unchanged:
            self.client.put(f"{path}/{object_id}", desired)
        self.report.note(kind, key, "unchanged" if unchanged else "updated", object_id)
        return object_id

    def ensure_collections(self) -> dict[str, int]:
        existing = _by_key(_as_list(self.client.get("/api/collection")))
        ids: dict[str, int] = {}
        for spec in self.content.collections:
            desired = {
                "name": spec.name,
                "description": mark(spec.description, spec.key),
                "parent_id": ids[spec.parent] if spec.parent else None,
            }

            def same(c: dict[str, Any], desired: dict[str, Any] = desired) -> bool:
                now = (c.get("name"), c.get("description"), _parent_id(c))
                return now == (desired["name"], desired["description"], desired["parent_id"])

            ids[spec.key] = self._upsert(
                "collection", spec.key, "/api/collection", desired, existing.get(spec.key), same
            )
        return ids

    def ensure_questions(self, database_id: int, collections: dict[str, int]) -> dict[str, int]:
        existing = _by_key(_as_list(self.client.get("/api/card")))
        ids: dict[str, int] = {}
        for q in self.content.questions:
            desired = {
                "name": q.name,
                "description": mark(q.description, q.key),
                "display": q.display,
                "visualization_settings": q.visualization_settings,
                "collection_id": collections[q.collection],
                "type": "question",
                "dataset_query": native_query(q.sql, database_id),
            }

            def same(
                c: dict[str, Any], desired: dict[str, Any] = desired, sql: str = q.sql
            ) -> bool:
                return (
                    all(c.get(k) == desired[k] for k in ("name", "description", "display"))
                    and (c.get("visualization_settings") or {}) == desired["visualization_settings"]
                    and c.get("collection_id") == desired["collection_id"]
                    and c.get("type", "question") == "question"
                    and query_of(c.get("dataset_query")) == (sql, database_id)
                )

            ids[q.key] = self._upsert(
                "question", q.key, "/api/card", desired, existing.get(q.key), same
            )
        return ids

    def ensure_dashboard(
        self, spec: Dashboard, collections: dict[str, int], questions: dict[str, int]
    ) -> None:
        collection_id = collections[spec.collection]
        meta = {
            "name": spec.name,
            "description": mark(spec.description, spec.key),
            "collection_id": collection_id,
        }
        items = _as_list(
            self.client.get(f"/api/collection/{collection_id}/items", models="dashboard")
        )
        found = _by_key([i for i in items if i.get("model", "dashboard") == "dashboard"])
        listed = found.get(spec.key)
        wanted = sorted(
            (questions[c.question], c.row, c.col, c.size_x, c.size_y) for c in spec.cards
        )
        if listed is None:
            dashboard_id = self.client.post("/api/dashboard", meta)["id"]
            current: dict[str, Any] = {"dashcards": [], "tabs": []}
        else:
            dashboard_id = listed["id"]
            current = self.client.get(f"/api/dashboard/{dashboard_id}")
        tabs = sorted(current.get("tabs") or [], key=lambda t: t.get("position") or 0)
        dashcards = current.get("dashcards") or []
        managed = set(questions.values())
        tab = _our_tab(tabs, dashcards, managed)
        ours = [
            d for d in dashcards if d.get("card_id") in managed and d.get("dashboard_tab_id") == tab
        ]
        theirs = [d for d in dashcards if d not in ours]  # dashcard ids are unique
        if listed is None:
            action = "created"
        else:
            have = sorted(
                (d.get("card_id"), d.get("row"), d.get("col"), d.get("size_x"), d.get("size_y"))
                for d in ours
            )
            same_meta = all(current.get(k) == v for k, v in meta.items())
            action = "unchanged" if same_meta and have == wanted else "updated"
        if action != "unchanged":
            body = {
                **meta,
                "dashcards": [
                    *self._dashcards(spec, ours, questions, tab),
                    *({k: d[k] for k in _KEPT_DASHCARD_KEYS if k in d} for d in theirs),
                ],
                "tabs": [{"id": t["id"], "name": t["name"]} for t in tabs],
            }
            self.client.put(f"/api/dashboard/{dashboard_id}", body)
        self.report.note("dashboard", spec.key, action, dashboard_id)

    @staticmethod
    def _dashcards(
        spec: Dashboard, existing: list[dict[str, Any]], questions: dict[str, int], tab: int | None
    ) -> list[dict[str, Any]]:
        """Our cards of the dashboard, on our tab: existing dashcards of the same question keep
        their id, new ones get -1, -2, ...; ours the file no longer places are left out, so the
        PUT deletes them."""
        reusable: dict[Any, list[int]] = defaultdict(list)
        for d in sorted(existing, key=lambda d: d["id"]):
            reusable[d.get("card_id")].append(d["id"])
        cards: list[dict[str, Any]] = []
        new_id = 0
        for c in spec.cards:
            card_id = questions[c.question]
            if reusable[card_id]:
                dashcard_id = reusable[card_id].pop(0)
            else:
                new_id -= 1
                dashcard_id = new_id
            cards.append(
                {
                    "id": dashcard_id,
                    "card_id": card_id,
                    "dashboard_tab_id": tab,
                    "row": c.row,
                    "col": c.col,
                    "size_x": c.size_x,
                    "size_y": c.size_y,
                    "parameter_mappings": [],
                    "series": [],
                    "visualization_settings": {},
                }
            )
        return cards


def provision(
    client: MetabaseClient,
    content: Content,
    admin: Admin,
    warehouse: WarehouseLogin,
    *,
    wait_seconds: float,
    update_connection: bool = False,
    connection_tests: int = CONNECTION_TESTS,
) -> Report:
    """Wait for Metabase to be healthy, then provision it; see the module docstring."""
    client.wait_until_healthy(wait_seconds)
    return Provisioner(
        client,
        content,
        admin,
        warehouse,
        update_connection=update_connection,
        connection_tests=connection_tests,
    ).run()
