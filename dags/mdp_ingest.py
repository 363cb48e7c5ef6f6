"""mdp_ingest: the dispatcher. Finds new files under ``incoming/<dataset>/`` and starts one
``mdp_ingest_file`` run per object version; it does no file work itself.

Two ways in, one task (``dispatch``):

- **Event** (seconds): the triggerer listens to MinIO's bucket notifications and lists
  ``incoming/`` every 5 s (``MinioObjectCreatedTrigger`` behind an ``AssetWatcher`` on the asset
  ``mdp_incoming``; mdp_dags/events.py says why both); each new object is an asset event, and
  asset events start a run of this DAG. Events that arrive while a
  run is busy are collected into the next run, so a burst costs few runs. The run looks up only
  the keys its events name.
- **Sweep** (every minute, ``MDP_SWEEP_SCHEDULE``): lists all of ``incoming/``, the safety net for
  anything an event missed (triggerer or MinIO restarted, stream broken). A manual trigger of this
  DAG is a sweep too.

Both derive the run id from the object version (mdp_dags/dispatch.py), so a file seen by an event
and by a sweep is started once: Airflow refuses a second run with the same id. Dispatch costs one
list call per event (or one paged list per dataset for a sweep) and one API request per new run,
never a task process per file. With ``MDP_EVENTS=false`` only the sweep runs.

This module imports neither the Kubernetes provider nor boto3: the dispatcher's task process
parses it in a fraction of a second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, dag, task

from mdp_dags.config import PipelineConfig
from mdp_dags.dispatch import create_runs, event_keys, lookup, sweep
from mdp_dags.events import MinioObjectCreatedTrigger

CFG = PipelineConfig.from_env()

INCOMING = Asset(
    name="mdp_incoming",
    uri=f"s3://{CFG.bucket}/incoming/",
    watchers=[
        AssetWatcher(
            name="mdp_minio_incoming",
            trigger=MinioObjectCreatedTrigger(conn_id=CFG.s3_conn_id, bucket=CFG.bucket),
        )
    ],
)
SWEEP = CronTriggerTimetable(CFG.sweep_schedule, timezone="UTC")


@dag(
    dag_id="mdp_ingest",
    schedule=AssetOrTimeSchedule(timetable=SWEEP, assets=[INCOMING]) if CFG.events else SWEEP,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["mini-data-platform", "ingestion"],
    default_args={"owner": "mini-data-platform"},
)
def mdp_ingest() -> None:
    @task(retries=2, retry_delay=timedelta(seconds=5), priority_weight=10, weight_rule="absolute")
    def dispatch(**context: Any) -> dict[str, Any]:
        keys = event_keys(context.get("triggering_asset_events"))
        versions = lookup(CFG, keys) if keys else sweep(CFG)
        source = "event" if keys else "sweep"
        done = create_runs(versions, CFG.max_files_per_run, found_by=source)
        print(
            f"{source}: {len(versions)} file(s) in incoming/, "
            f"{len(done.created)} run(s) created, {len(done.existing)} already had one"
        )
        return {"source": source, "found": len(versions)} | done.as_dict()

    dispatch()


mdp_ingest()
