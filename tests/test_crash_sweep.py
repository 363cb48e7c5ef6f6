"""Every step killed at every crash point, then rerun as the orchestrator would: nothing lost,
nothing twice, nothing left behind. And the same with PostgreSQL restarted and MinIO stopped
at each point of a good file's journey.

Each case runs in a world of its own (bucket and database) on servers of its own
(tests/support/crash.py), is compared with a clean run of the same scenario (same objects, same
audit rows, same warehouse checksums), and must satisfy the invariant (``assert_invariant``). The
plan names, per scenario, the step killed and the points it is killed at; every planned point must
be reached (the process must die there) and the plan must cover every registered point, so a new
effect without a crash point, or a point no longer reached, fails this test.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mdp import layout
from mdp.crashpoints import POINTS
from tests.support.crash import STEPS, CrashServers, State, World, assert_invariant
from tests.support.samples import sales_rows, to_csv

pytestmark = pytest.mark.integration

ROWS = sales_rows(30)
ROWS[4]["quantity"] = 0  # one rejected row, so validate writes rejects.parquet too
GOOD = to_csv(ROWS)
# Same name, new content: sale ids 21-30 again with new values, 31-40 new (overlapping keys).
GOOD2 = to_csv(sales_rows(40, quantity=4, total_amount=10.0)[20:])
BROKEN = b""
VALIDATE_GOOD = [
    "validate.after_received",
    "validate.after_rejects_put",
    "validate.after_data_put",
    "validate.after_validated",
]
DUPLICATE = [
    "validate.after_received",
    "validate.duplicate.after_intent",
    "store.after_copy",
    "validate.duplicate.after_move",
]
FAULT = [
    "fault.after_error_recorded",
    "quarantine.after_intent",
    "store.after_report",
    "store.after_copy",
    "quarantine.after_move",
]


def _break_before(step: str, prefix: Callable[[str], str]) -> Callable[[World, str, str], None]:
    """A hook that deletes the file's derived objects before every run of ``step``: the step
    faults on every attempt, the same way in the clean run and after a kill."""

    def hook(world: World, name: str, key: str) -> None:
        if name != step:
            return
        with world.connect() as conn:
            row = conn.execute(
                "SELECT sha256 FROM audit.file_ingestion_log WHERE object_key = %s"
                " ORDER BY id DESC LIMIT 1",
                (key,),
            ).fetchone()
        if row is not None:
            world.store.delete_prefix(prefix(layout.file_id(row[0])))

    return hook


@dataclass(frozen=True)
class Scenario:
    name: str
    key: str
    data: bytes
    plan: dict[str, list[str]]
    """Step killed -> the points it is killed at."""
    before: list[tuple[str, bytes]] = field(default_factory=list)
    """Files uploaded and run to the end first (key, bytes)."""
    hook: Callable[[World, str, str], None] | None = None
    max_attempts: int = 2

    def prepare(self, world: World) -> dict[tuple[str, str], int]:
        """Upload and finish the earlier files, upload this one; the uploads per version."""
        import hashlib

        uploads: dict[tuple[str, str], int] = {}
        for key, data in [*self.before, (self.key, self.data)]:
            version = (key, hashlib.sha256(data).hexdigest())
            uploads[version] = uploads.get(version, 0) + 1
        for key, data in self.before:
            world.store.put_bytes(key, data, "text/csv")
            world.orchestrate(key)
        world.store.put_bytes(self.key, self.data, "text/csv")
        world.arrivals.clear()  # count the arrivals of the file under test only
        world.hook = self.hook
        return uploads


SCENARIOS = [
    Scenario(
        "good",
        "incoming/sales/good.csv",
        GOOD,
        {
            "validate": VALIDATE_GOOD,
            "transform": [
                "transform.after_first_put",
                "transform.after_puts",
                "transform.after_transformed",
            ],
            "load": [
                "load.before_commit",
                "load.after_commit",
                "load.after_intent",
                "store.after_copy",
                "load.after_move",
                "load.after_archived",
                "retention.after_first_delete",
            ],
        },
    ),
    Scenario(
        "broken",
        "incoming/sales/broken.csv",
        BROKEN,
        {
            "validate": [
                "validate.after_received",
                "validate.reject.after_intent",
                "store.after_report",
                "store.after_copy",
                "validate.reject.after_move",
            ]
        },
    ),
    Scenario(
        "duplicate",
        "incoming/sales/copy.csv",
        GOOD,
        {"validate": DUPLICATE},
        before=[("incoming/sales/first.csv", GOOD)],
    ),
    Scenario(
        "same-bytes-again",
        "incoming/sales/good.csv",
        GOOD,
        {"validate": DUPLICATE},
        before=[("incoming/sales/good.csv", GOOD)],
    ),
    Scenario(
        "new-version-same-name",
        "incoming/sales/good.csv",
        GOOD2,
        {
            "validate": ["validate.after_received", "validate.after_data_put"],
            "load": ["load.before_commit", "load.after_commit", "store.after_copy"],
        },
        before=[("incoming/sales/good.csv", GOOD)],
    ),
    Scenario(
        "transform-fault",
        "incoming/sales/tfault.csv",
        GOOD,
        {"transform": FAULT},
        hook=_break_before("transform", lambda fid: layout.staging_prefix("sales", fid)),
    ),
    Scenario(
        "load-fault",
        "incoming/sales/lfault.csv",
        GOOD,
        {"load": FAULT},
        hook=_break_before("load", lambda fid: layout.transformed_prefix("sales", fid)),
    ),
]


@pytest.fixture(scope="module")
def servers() -> Iterator[CrashServers]:
    with CrashServers.running() as s:
        yield s


class CleanRuns:
    """The state a scenario ends in without any crash, computed once per scenario."""

    def __init__(self, servers: CrashServers) -> None:
        self.servers = servers
        self.cache: dict[str, State] = {}
        self.lock = threading.Lock()

    def __call__(self, scenario: Scenario) -> State:
        with self.lock:
            if scenario.name not in self.cache:
                world = self.servers.world()
                uploads = scenario.prepare(world)
                world.orchestrate(scenario.key, max_attempts=scenario.max_attempts)
                state = State.of(world)
                assert_invariant(state, uploads)
                self.cache[scenario.name] = state
            return self.cache[scenario.name]


def _attempt(scenario: Scenario, point: str) -> int:
    """A fault retried (not last attempt) for the retry point, the last attempt otherwise in a
    fault scenario, so the quarantine points are reached; attempt 1 elsewhere."""
    if scenario.hook is None or point == "fault.after_error_recorded":
        return 1
    return scenario.max_attempts


def _run_to(world: World, scenario: Scenario, step: str) -> None:
    """Run the steps before ``step`` in this process."""
    for earlier in STEPS[: STEPS.index(step)]:
        assert world.step(earlier, scenario.key, 1, scenario.max_attempts) == "next"


def _compare(state: State, clean: State, uploads: dict[tuple[str, str], int]) -> None:
    assert_invariant(state, uploads)
    assert state.objects == clean.objects
    assert state.without_attempts() == clean.without_attempts()
    assert state.warehouse == clean.warehouse


def _kill_case(servers: CrashServers, clean: CleanRuns, scenario: Scenario, step: str, point: str):
    world = servers.world()
    uploads = scenario.prepare(world)
    _run_to(world, scenario, step)
    attempt = _attempt(scenario, point)
    if world.hook is not None:
        world.hook(world, step, scenario.key)
    proc = world.mdp(
        step, scenario.key, crash_at=point, attempt=attempt, max_attempts=scenario.max_attempts
    )
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, f"{point} not reached: {err[-2000:]}"
    if attempt < scenario.max_attempts:
        world.orchestrate(scenario.key, step, attempt + 1, scenario.max_attempts)
    else:  # no attempt left: the next DAG run picks the file up again
        world.orchestrate(scenario.key, max_attempts=scenario.max_attempts)
    state = State.of(world)
    _compare(state, clean(scenario), uploads)
    # Attempts counted: one per validate run that found the object in incoming/.
    last = [r for r in state.rows if r["object_key"] == scenario.key][-1]
    assert last["attempts"] == world.arrivals[scenario.key], (last, world.arrivals)


CASES = [
    (scenario, step, point)
    for scenario in SCENARIOS
    for step, points in scenario.plan.items()
    for point in points
]


def test_the_plan_covers_every_crash_point() -> None:
    planned = {point for _, _, point in CASES}
    assert planned == set(POINTS), set(POINTS) ^ planned


@pytest.mark.timeout(900)  # minutes under a loaded machine; bounded by the plan
def test_killed_at_every_point_then_rerun(servers: CrashServers) -> None:
    clean = CleanRuns(servers)
    failures: list[str] = []
    started = time.monotonic()

    def case(args: tuple[Scenario, str, str]) -> None:
        scenario, step, point = args
        try:
            _kill_case(servers, clean, scenario, step, point)
        except Exception as e:  # collect all, report all
            failures.append(f"{scenario.name} / {step} killed at {point}: {e!r}"[:1500])

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(case, CASES))
    print(f"{len(CASES)} kill cases in {time.monotonic() - started:.0f}s")
    assert not failures, "\n".join(failures)


def _stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "T"


OUTAGE_CASES = [(step, point) for step, points in SCENARIOS[0].plan.items() for point in points]


@pytest.mark.timeout(900)  # minutes under a loaded machine; bounded by the plan
@pytest.mark.parametrize("outage", ["postgres-restart", "minio-stop"])
def test_outage_at_every_point_of_a_good_file(servers: CrashServers, outage: str) -> None:
    """Pause the step at each point, restart PostgreSQL immediately (or stop MinIO), let it go
    on: it either finishes or exits 1 with one log line and no traceback; the rerun completes."""
    scenario = SCENARIOS[0]
    clean = CleanRuns(servers)
    noticed = 0
    for step, point in OUTAGE_CASES:
        world = servers.world()
        uploads = scenario.prepare(world)
        _run_to(world, scenario, step)
        proc = world.mdp(step, scenario.key, crash_at=f"{point}:pause")
        deadline = time.monotonic() + 60
        while not _stopped(proc.pid):
            assert proc.poll() is None, f"{point} not reached: {proc.communicate()[1][-2000:]}"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        if outage == "postgres-restart":
            servers.pg.restart_immediately()
        else:
            servers.minio.halt()
        proc.send_signal(signal.SIGCONT)
        _, err = proc.communicate(timeout=120)
        if outage == "minio-stop":
            servers.minio.resume()
        assert proc.returncode in (0, 1), f"{point}: exit {proc.returncode}: {err[-2000:]}"
        if proc.returncode == 1:
            noticed += 1
            assert "Traceback" not in err, f"{point}: {err[-3000:]}"
            errors = [line for line in err.splitlines() if " ERROR " in line]
            assert len(errors) == 1, f"{point}: {err[-3000:]}"
            assert "retrying is safe" in errors[0], errors[0]
            world.orchestrate(scenario.key, step, 2)
        else:
            following = STEPS.index(step) + 1
            if following < len(STEPS):
                world.orchestrate(scenario.key, STEPS[following])
        _compare(State.of(world), clean(scenario), uploads)
    assert noticed > 0
    print(f"{outage}: {len(OUTAGE_CASES)} points, {noticed} noticed as an outage (exit 1)")
