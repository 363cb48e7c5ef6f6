"""Soak: concurrent workers, random SIGKILLs, a PostgreSQL restart, then a clean sweep.

Bounded (fixed seed, ~200 small files, a few minutes): sales and YouTube files with overlapping
keys, broken files, duplicates under other names, the same bytes again under the same name and
new versions under the same name. Three worker processes (tests/support/soak_worker.py) share the
keys; a worker is SIGKILLed at random moments and a new one takes its remaining keys (the key it was
on included, as a retry); PostgreSQL is restarted immediately once. Then every key is run once
more (the next DAG run), and:

- the invariant of tests/support/crash.py holds for every uploaded object version;
- warehouse.sales and warehouse.video_snapshots equal an expectation computed here from the
  uploaded rows alone (per key the newest version: latest sale_timestamp; most views for one
  video snapshot), not by the transform code.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.crash import CrashServers, State, World, assert_invariant
from tests.support.samples import SALES_HEADER, YOUTUBE_HEADER, sales_row, to_csv, youtube_row

pytestmark = pytest.mark.integration
SEED = 14
WORKERS = 3
KILLS = 6
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)


class Files:
    """The uploads of the soak and what the warehouse must hold afterwards."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tick = 0
        self.sales: dict[str, dict[str, Any]] = {}  # sale_id -> winning row
        self.snapshots: dict[tuple[str, str], int] = {}  # (video, date_updated) -> views
        self.uploads: dict[tuple[str, str], int] = {}

    def _next(self) -> int:
        self.tick += 1
        return self.tick

    def sales_file(self) -> tuple[bytes, list[dict[str, Any]]]:
        rows = []
        for i in self.rng.sample(range(1, 400), self.rng.randint(3, 12)):
            q = self.rng.randint(1, 6)
            ts = T0 + timedelta(seconds=self._next())  # unique: every version has its own
            rows.append(
                sales_row(
                    i,
                    quantity=q,
                    total_amount=q * 2.5,
                    sale_timestamp=ts.isoformat().replace("+00:00", "Z"),
                )
            )
        return to_csv(rows, SALES_HEADER), rows

    def youtube_file(self) -> tuple[bytes, list[dict[str, Any]]]:
        rows = []
        for v in self.rng.sample(range(1, 60), self.rng.randint(3, 10)):
            minute = self.rng.randint(0, 20)  # few instants: overlapping snapshot keys
            updated = (T0 + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")
            rows.append(
                youtube_row(
                    v,
                    channel_id=f"UCchannel{v % 5:04d}",
                    channel_name=f"Channel {v % 5}",
                    total_views=10_000 + self._next(),  # unique: decides between versions
                    date_updated=updated,
                )
            )
        return to_csv(rows, YOUTUBE_HEADER), rows

    def expect(self, dataset: str, rows: list[dict[str, Any]]) -> None:
        """Fold a loaded file's rows into the expectation (order-independent maxima)."""
        for row in rows:
            if dataset == "sales":
                old = self.sales.get(row["sale_id"])
                if old is None or row["sale_timestamp"] > old["sale_timestamp"]:
                    self.sales[row["sale_id"]] = row
            else:
                k = (row["video_id"], row["date_updated"])
                self.snapshots[k] = max(self.snapshots.get(k, 0), row["total_views"])

    def upload(self, world: World, key: str, data: bytes) -> None:
        version = (key, hashlib.sha256(data).hexdigest())
        self.uploads[version] = self.uploads.get(version, 0) + 1
        world.store.put_bytes(key, data, "text/csv")


BROKEN = [
    b"",
    b"\x00\x01\x02 not a csv at all",
    to_csv([sales_row(i, quantity=0) for i in range(1, 6)], SALES_HEADER),
]


def wave(files: Files, world: World, names: list[str], *, fresh: bool) -> list[str]:
    """Upload one file per name: mostly good, some broken, some duplicates of earlier files."""
    keys, good = [], []
    for n, name in enumerate(names):
        dataset = "sales" if n % 3 else "youtube"
        key = f"incoming/{dataset}/{name}"
        roll = files.rng.random()
        if roll < 0.08:
            data, rows = BROKEN[n % len(BROKEN)], []
            if dataset == "youtube":
                data = b"" if n % 2 else b"video_id\nonly a header and a value\n"
        elif roll < 0.16 and good and fresh:
            dup_key, data = files.rng.choice(good)  # same bytes, another name: a duplicate
            key, rows = f"{dup_key.rsplit('/', 1)[0]}/copy-{name}", []
        else:
            data, rows = files.sales_file() if dataset == "sales" else files.youtube_file()
            files.expect(dataset, rows)
            good.append((key, data))
        files.upload(world, key, data)
        keys.append(key)
    return keys


class Workers:
    """Worker processes sharing the keys; kill one and a new one takes over its keys."""

    def __init__(self, world: World, logs: Path) -> None:
        self.world = world
        self.logs = logs
        self.lock = threading.Lock()
        self.procs: dict[int, tuple[subprocess.Popen[str], list[str], set[str]]] = {}
        self.kills = 0

    def start(self, keys: list[str]) -> None:
        log = (self.logs / f"worker-{len(list(self.logs.iterdir()))}.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.soak_worker"],
            env=self.world.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert proc.stdin is not None
        proc.stdin.write("".join(k + "\n" for k in keys))
        proc.stdin.close()
        done: set[str] = set()
        self.procs[proc.pid] = (proc, keys, done)
        threading.Thread(target=self._read, args=(proc, done), daemon=True).start()

    @staticmethod
    def _read(proc: subprocess.Popen[str], done: set[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("done "):
                done.add(line.split(" ", 1)[1].strip())

    def kill_one(self, rng: random.Random) -> None:
        live = [p for p in self.procs.values() if p[0].poll() is None]
        if not live:
            return
        proc, keys, done = rng.choice(live)
        proc.kill()
        proc.wait()
        time.sleep(0.1)  # let the reader drain what the worker printed before it died
        self.kills += 1
        del self.procs[proc.pid]
        left = [k for k in keys if k not in done]
        if left:
            self.start(left)

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for proc, _, _ in list(self.procs.values()):
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            if proc.returncode != 0:
                tails = [p.read_text()[-3000:] for p in sorted(self.logs.iterdir())]
                raise AssertionError(f"a worker failed with exit {proc.returncode}: {tails}")


def _run_wave(
    world: World, keys: list[str], rng: random.Random, kills: int, restart, logs: Path
) -> int:
    workers = Workers(world, logs)
    share = [keys[i::WORKERS] for i in range(WORKERS)]
    for part in share:
        workers.start(part)
    for n in range(kills):
        time.sleep(rng.uniform(0.5, 2.5))
        if n == kills // 2 and restart is not None:
            restart()
        workers.kill_one(rng)
    workers.wait(timeout=300)
    return workers.kills


@pytest.fixture(scope="module")
def servers() -> Iterator[CrashServers]:
    with CrashServers.running() as s:
        yield s


@pytest.mark.timeout(900)  # minutes under a loaded machine; bounded by the plan
def test_soak(servers: CrashServers, tmp_path: Path) -> None:
    started = time.monotonic()
    rng = random.Random(SEED)
    world = servers.world()
    files = Files(rng)

    first = wave(files, world, [f"f{n:03d}.csv" for n in range(150)], fresh=True)
    kills = _run_wave(world, first, rng, KILLS, servers.pg.restart_immediately, tmp_path)
    # Second wave, same names: new versions, and some of the same bytes again (duplicates).
    again = [k for k in first if rng.random() < 0.3 and "/copy-" not in k]
    second = []
    for key in again:
        archived = _archived(world, key)
        if archived is not None and rng.random() < 0.25:
            files.upload(world, key, b"".join(world.store.stream(archived)))
        else:
            dataset = key.split("/")[1]
            data, rows = files.sales_file() if dataset == "sales" else files.youtube_file()
            files.expect(dataset, rows)
            files.upload(world, key, data)
        second.append(key)
    kills += _run_wave(world, second, rng, 2, None, tmp_path)

    for key in sorted(set(first + second)):  # the clean sweep: the next DAG run
        world.orchestrate(key)

    state = State.of(world)
    assert_invariant(state, files.uploads)
    with world.connect() as conn:
        sales = conn.execute(
            "SELECT sale_id, sale_timestamp, quantity, total_amount FROM warehouse.sales"
        ).fetchall()
        snapshots = conn.execute(
            "SELECT video_id, date_updated, total_views FROM warehouse.video_snapshots"
        ).fetchall()
    assert {(s, t.astimezone(UTC), q, float(a)) for s, t, q, a in sales} == {
        (r["sale_id"], _ts(r["sale_timestamp"]), r["quantity"], r["total_amount"])
        for r in files.sales.values()
    }
    assert {(v, t.astimezone(UTC), n) for v, t, n in snapshots} == {
        (v, _ts(t), n) for (v, t), n in files.snapshots.items()
    }
    statuses: dict[str, int] = {}
    for row in state.rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(
        f"soak: {sum(files.uploads.values())} uploads, {kills} workers killed, 1 PostgreSQL"
        f" restart, {statuses}, {len(sales)} sales rows, {len(snapshots)} snapshots,"
        f" {time.monotonic() - started:.0f}s"
    )
    assert statuses.get("loaded", 0) > 100 and statuses.get("duplicate", 0) > 5
    assert statuses.get("validation_failed", 0) > 5


def _archived(world: World, key: str) -> str | None:
    """Where the loaded version of ``key`` was archived, if one was loaded."""
    with world.connect() as conn:
        row = conn.execute(
            "SELECT final_key FROM audit.file_ingestion_log WHERE object_key = %s"
            " AND status = 'loaded' ORDER BY id DESC LIMIT 1",
            (key,),
        ).fetchone()
    return None if row is None else str(row[0])


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
