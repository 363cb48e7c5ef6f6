"""From objects under ``incoming/`` to one ``mdp_ingest_file`` run per object version.

Identity: an object version is (key, ETag, LastModified as ListObjectsV2 reports it). Both paths
that find files - a MinIO event and the minute sweep - look the object up with the same list call,
so both derive the same run id, and Airflow refuses the second run with that id (HTTP 409). That
is the whole de-duplication: no state of our own, no race between an event and a sweep. A file
uploaded again under the same name is a new version (new LastModified), so it gets a new run.

How a task creates the runs: Airflow 3 tasks have no database access; they ask the API server
through the Task SDK's supervisor channel, the path ``TriggerDagRunOperator`` itself uses (it
raises an exception that the task runner turns into a ``TriggerDagRun`` message). One task sends
one message per file instead of one ``TriggerDagRunOperator`` task instance per file: a mapped
operator would start one worker process per file (seconds each), the loop costs one HTTP request
per file (milliseconds). The message type lives
in ``airflow.sdk.execution_time`` (pinned Airflow 3.3.2; the DAG tests exercise it).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mdp_dags.config import PipelineConfig
from mdp_dags.naming import file_label
from mdp_dags.platform import INCOMING

log = logging.getLogger(__name__)

FILE_DAG_ID = "mdp_ingest_file"


@dataclass(frozen=True)
class ObjectVersion:
    """One version of one object under ``incoming/<dataset>/``, as ListObjectsV2 reports it."""

    key: str
    dataset: str
    etag: str
    last_modified: datetime

    @property
    def run_id(self) -> str:
        """Deterministic: the same version always maps to the same run id (<= 250 characters,
        only the characters Airflow's ``allowed_run_id_pattern`` accepts)."""
        stamp = self.last_modified.isoformat()
        digest = hashlib.sha256(f"{self.key}\n{self.etag}\n{stamp}".encode()).hexdigest()[:16]
        return f"{self.dataset}__{file_label(self.key)}__{digest}"

    def conf(self, found_by: str) -> dict[str, str]:
        return {
            "found_by": found_by,
            "key": self.key,
            "dataset": self.dataset,
            "label": file_label(self.key),
            "etag": self.etag,
            "last_modified": self.last_modified.isoformat(),
        }


def dataset_of(
    key: str, cfg: PipelineConfig, datasets: Collection[str] | None = None
) -> str | None:
    """``incoming/<dataset>/<file>`` -> dataset, if it is one we process (``datasets``, by default
    ``cfg.current_datasets()``); else None."""
    known = cfg.current_datasets() if datasets is None else datasets
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != INCOMING or not parts[-1] or parts[1] not in known:
        return None
    return parts[1]


def _client(cfg: PipelineConfig) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=cfg.s3_conn_id).get_conn()


def _listed(
    client: Any, cfg: PipelineConfig, prefix: str, datasets: Collection[str]
) -> Iterator[ObjectVersion]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=cfg.bucket, Prefix=prefix)
    for page in pages:
        for obj in page.get("Contents") or []:
            dataset = dataset_of(obj["Key"], cfg, datasets)
            if dataset is not None:
                etag = str(obj.get("ETag", "")).strip('"')
                yield ObjectVersion(obj["Key"], dataset, etag, obj["LastModified"])


def sweep(cfg: PipelineConfig) -> list[ObjectVersion]:
    """Every object under ``incoming/<dataset>/`` (one paged list per dataset), oldest first.
    The datasets are read now (``current_datasets``), so a contract added since the last sweep
    counts."""
    datasets = cfg.current_datasets()
    client = _client(cfg)
    found = [v for d in datasets for v in _listed(client, cfg, f"{INCOMING}/{d}/", datasets)]
    return sorted(found, key=lambda v: (v.last_modified, v.key))


def lookup(cfg: PipelineConfig, keys: Iterable[str]) -> list[ObjectVersion]:
    """The current version of each key (objects already gone are simply not there), oldest first.

    One list call per key with the key as prefix, so an event is resolved by the same call the
    sweep makes and gives the same ``LastModified`` (a HEAD would round it to seconds).
    """
    datasets = cfg.current_datasets()
    client = _client(cfg)
    found: dict[str, ObjectVersion] = {}
    for key in dict.fromkeys(keys):
        if dataset_of(key, cfg, datasets) is None:
            log.info("ignoring %s: not under incoming/<dataset>/ of %s", key, datasets)
            continue
        for version in _listed(client, cfg, key, datasets):
            if version.key == key:
                found[key] = version
    return sorted(found.values(), key=lambda v: (v.last_modified, v.key))


@dataclass
class Dispatched:
    created: list[str]
    existing: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"created": len(self.created), "existing": len(self.existing)}


def create_runs(versions: Iterable[ObjectVersion], limit: int, found_by: str) -> Dispatched:
    """One ``mdp_ingest_file`` run per version (at most ``limit`` new ones); a run id that exists
    already is that version's run, started by an earlier event or sweep, and is left alone.
    ``found_by`` (event or sweep) goes into the run's conf, for the person reading it."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    result = Dispatched([], [])
    for version in versions:
        if len(result.created) >= limit:
            log.info("created %d runs, the limit of one dispatch; the next sweep goes on", limit)
            break
        response = SUPERVISOR_COMMS.send(
            TriggerDagRun(dag_id=FILE_DAG_ID, run_id=version.run_id, conf=version.conf(found_by))
        )
        if isinstance(response, ErrorResponse):
            if response.error == ErrorType.DAGRUN_ALREADY_EXISTS:
                result.existing.append(version.run_id)
                continue
            raise RuntimeError(
                f"could not create run {version.run_id} for {version.key}: {response.error.value} "
                f"{response.detail or ''}"
            )
        log.info("run %s: %s", version.run_id, version.key)
        result.created.append(version.run_id)
    return result


def event_keys(triggering_asset_events: Any) -> list[str]:
    """Object keys named by the MinIO events (asset events from ``MinioObjectCreatedTrigger``)
    that started this dispatcher run; empty for a scheduled (sweep) run."""
    keys: list[str] = []
    for events in (triggering_asset_events or {}).values():
        for event in events:
            payload = (getattr(event, "extra", None) or {}).get("payload") or {}
            if isinstance(payload, dict) and payload.get("key"):
                keys.append(str(payload["key"]))
    return keys
