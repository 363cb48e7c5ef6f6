"""mdp_ingest: every new file under ``incoming/<dataset>/`` goes validate -> transform -> load.

Runs every minute (one run at a time, so a file belongs to one run), which bounds the delay from
upload to start by a minute plus the time the previous run still needs. One run:

1. ``discover`` lists ``incoming/`` (cheap: one list call per dataset, in the worker);
2. ``any_files`` skips the rest of the run when there is nothing to do, so an idle platform starts
   no pods;
3. the ``file`` task group is mapped over the files: three pods per file, each step its own image,
   with the Airflow pool ``MDP_POOL`` and ``MDP_MAX_ACTIVE_FILES`` bounding how many run at once;
   every step also takes an exclusive claim on its file in the audit log, so a file sent back by
   ``mdp_reprocess`` at the same moment is still processed once;
4. ``summary`` prints the run's outcome from the audit log: files accepted, duplicate, rejected,
   failed, and rows loaded;
5. ``watcher`` fails the run when any task failed after its retries (rejections do not count).

Faults (exit 1, evicted pods) are retried with exponential back-off; rejected data (exit 3) is
already in ``failed/validation_failed/`` with its report and is not retried; on the last try a
transform or load fault moves the file to ``failed/processing_failed/`` or
``failed/loading_failed/``. Configuration: ``MDP_*`` environment variables (mdp_dags/config.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task, task_group

from mdp_dags.config import PipelineConfig
from mdp_dags.objects import incoming_files
from mdp_dags.pods import file_steps, summary_pod
from mdp_dags.watch import watcher

CFG = PipelineConfig.from_env()


@dag(
    dag_id="mdp_ingest",
    schedule="* * * * *",
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["mini-data-platform", "ingestion"],
    default_args={"owner": "mini-data-platform"},
)
def mdp_ingest() -> None:
    @task(retries=2)
    def discover() -> list[dict[str, str]]:
        return incoming_files(CFG)

    @task.short_circuit
    def any_files(files: list[dict[str, str]]) -> bool:
        return bool(files)

    @task_group(group_id="file")
    def process(key: str, dataset: str, label: str) -> None:
        file_steps(CFG, key=key, dataset=dataset, label=label)

    files = discover()
    chains = process.expand_kwargs(files)
    summary = summary_pod(CFG)
    any_files(files) >> chains >> summary  # type: ignore[arg-type]  # an XComArg, resolved at run
    [files, chains, summary] >> watcher()


mdp_ingest()
