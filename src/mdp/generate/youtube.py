"""YouTube snapshots that evolve consistently between runs.

The generator keeps a small state document in the bucket (channels, videos, their counters and
the snapshot clock). Each run continues from it: counters only grow and the clock only moves
forward, so trend charts built from many runs make sense.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
from faker import Faker

from mdp.contracts import Contract
from mdp.generate.columns import shaped

STATE_VERSION = 1
COLUMNS = (
    "video_id",
    "channel_id",
    "channel_name",
    "channel_subscribers",
    "description",
    "total_views",
    "total_likes",
    "total_dislikes",
    "date_created",
    "date_updated",
)
"""The columns the generator writes (the built-in contract's); a newer contract's nullable
columns are left null (``mdp.generate.columns``)."""
SNAPSHOT_STEP_S = 10


def _video_id(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(alphabet[i] for i in rng.integers(len(alphabet), size=11))


def new_state(seed: int, now: datetime, channels: int = 12, videos: int = 60) -> dict[str, Any]:
    fake = Faker()
    fake.seed_instance(seed)
    rng = np.random.default_rng(seed)
    chans = [
        {
            "channel_id": "UC" + _video_id(rng) + _video_id(rng),
            "channel_name": fake.company(),
            "subscribers": int(rng.integers(1_000, 2_000_000)),
        }
        for _ in range(channels)
    ]
    state: dict[str, Any] = {
        "version": STATE_VERSION,
        "seed": seed,
        "runs": 0,
        "clock": (now - timedelta(hours=6)).isoformat(),
        "channels": chans,
        "videos": [],
    }
    for _ in range(videos):
        add_video(state, rng, fake, now - timedelta(days=int(rng.integers(1, 400))))
    return state


def add_video(
    state: dict[str, Any], rng: np.random.Generator, fake: Faker, created: datetime
) -> None:
    channel = state["channels"][int(rng.integers(len(state["channels"])))]
    state["videos"].append(
        {
            "video_id": _video_id(rng),
            "channel_id": channel["channel_id"],
            "description": fake.sentence(nb_words=12) if rng.random() < 0.8 else None,
            "views": int(rng.integers(0, 50_000)),
            "likes": int(rng.integers(0, 2_000)),
            "dislikes": int(rng.integers(0, 100)),
            "created": created.replace(microsecond=0).isoformat(),
        }
    )


def snapshot_batches(
    state: dict[str, Any],
    rng: np.random.Generator,
    rows: int,
    now: datetime,
    contract: Contract,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """``rows`` snapshots; mutates ``state`` (counters grow, clock advances, never past ``now``)."""
    clock = datetime.fromisoformat(state["clock"])
    step = timedelta(seconds=SNAPSHOT_STEP_S)
    channels = {c["channel_id"]: c for c in state["channels"]}
    videos = state["videos"]
    done = 0
    while done < rows:
        n = min(batch_rows, rows - done)
        out: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        picks = rng.integers(len(videos), size=n)
        grow = rng.integers(0, 500, size=(n, 4))
        for i in range(n):
            if done + i and (done + i) % len(videos) == 0:
                clock = min(clock + step, now)
            v = videos[int(picks[i])]
            ch = channels[v["channel_id"]]
            v["views"] += int(grow[i, 0])
            v["likes"] += int(grow[i, 1]) // 20
            v["dislikes"] += int(grow[i, 2]) // 200
            ch["subscribers"] += int(grow[i, 3]) // 50
            created = datetime.fromisoformat(v["created"])
            out["video_id"].append(v["video_id"])
            out["channel_id"].append(ch["channel_id"])
            out["channel_name"].append(ch["channel_name"])
            out["channel_subscribers"].append(ch["subscribers"])
            out["description"].append(v["description"])
            out["total_views"].append(v["views"])
            out["total_likes"].append(v["likes"])
            out["total_dislikes"].append(v["dislikes"])
            out["date_created"].append(created)
            out["date_updated"].append(max(clock, created))
        types = {c.name: c.type.arrow() for c in contract.columns}
        yield shaped(contract, {c: pa.array(v, types.get(c)) for c, v in out.items()}, n)
        done += n
    state["clock"] = min(clock + step, now).astimezone(UTC).isoformat()
