"""Object versions -> run ids and confs, and asset events -> keys (mdp_dags/dispatch.py).

Creating the runs (the Task SDK message) is exercised by tests/e2e under dag.test() and the real
scheduler; these are the pure parts the de-duplication rests on.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.config import PipelineConfig  # noqa: E402
from mdp_dags.dispatch import ObjectVersion, dataset_of, event_keys  # noqa: E402

# Airflow's default [core] allowed_run_id_pattern.
RUN_ID = re.compile(r"^[A-Za-z0-9_.~:+-]+$")
T = datetime(2026, 11, 22, 7, 0, 0, 123000, tzinfo=UTC)


def test_the_same_version_always_gets_the_same_run_id_and_a_new_version_a_new_one() -> None:
    v = ObjectVersion("incoming/sales/day1.csv", "sales", "abc", T)
    assert v.run_id == ObjectVersion("incoming/sales/day1.csv", "sales", "abc", T).run_id
    assert v.run_id.startswith("sales__day1.csv__")
    reuploaded = ObjectVersion("incoming/sales/day1.csv", "sales", "abc", T.replace(second=1))
    assert reuploaded.run_id != v.run_id, "same bytes uploaded again: a new version"
    assert ObjectVersion("incoming/sales/day1.csv", "sales", "abd", T).run_id != v.run_id


def test_run_ids_are_valid_for_any_object_name() -> None:
    for name in ("Ümlaut and spaces (1).csv", "x" * 300 + ".csv", "{{ run_id }}.csv"):
        run_id = ObjectVersion(f"incoming/sales/{name}", "sales", "e", T).run_id
        assert RUN_ID.match(run_id), run_id
        assert len(run_id) <= 250


def test_conf_names_the_file_and_how_it_was_found() -> None:
    conf = ObjectVersion("incoming/youtube/a/b.jsonl", "youtube", "e", T).conf("event")
    assert conf == {
        "found_by": "event",
        "key": "incoming/youtube/a/b.jsonl",
        "dataset": "youtube",
        "label": "b.jsonl",
        "etag": "e",
        "last_modified": "2026-11-22T07:00:00.123000+00:00",
    }


def test_only_files_of_known_datasets_are_dispatched() -> None:
    cfg = PipelineConfig.from_env({"MDP_DATASETS": "sales"})
    assert dataset_of("incoming/sales/a.csv", cfg) == "sales"
    assert dataset_of("incoming/sales/sub/a.csv", cfg) == "sales"
    for key in ("incoming/youtube/a.json", "incoming/sales/", "incoming/a.csv", "archive/sales/a"):
        assert dataset_of(key, cfg) is None, key


@dataclass
class _Event:
    extra: dict[str, Any] = field(default_factory=dict)


def test_event_keys_come_from_the_trigger_payloads() -> None:
    events = {
        "mdp_incoming": [
            _Event({"from_trigger": True, "payload": {"key": "incoming/sales/a.csv"}}),
            _Event({"from_trigger": True, "payload": {"key": "incoming/sales/b.csv"}}),
            _Event({"something": "else"}),
        ]
    }
    assert event_keys(events) == ["incoming/sales/a.csv", "incoming/sales/b.csv"]
    assert event_keys(None) == []
    assert event_keys({}) == []
