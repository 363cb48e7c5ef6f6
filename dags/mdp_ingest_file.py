"""mdp_ingest_file: one file's lifecycle, validate -> transform -> load -> summary.

Started only by the ``mdp_ingest`` dispatcher, one run per object version, with run id
``<dataset>__<file label>__<hash of key, ETag, LastModified>`` and the file in the run's conf
(``key``, ``dataset``, ``label``), so the Airflow UI lists one run per file and a run id names its
file. Concurrency: at most ``MDP_MAX_ACTIVE_FILES`` runs at once (``max_active_runs``), every step
pod takes a slot of the pool ``MDP_POOL``. Depth-first: the steps have absolute priority weights
(load > transform > validate), so when a slot frees, a started file's next step goes before
another file's validation, and the oldest run goes first among equals.

Faults (exit 1, evicted pods) are retried with exponential back-off; rejected data (exit 3) is
already in ``failed/validation_failed/`` with its report and is not retried; on the last try a
transform or load fault moves the file to ``failed/processing_failed/`` or
``failed/loading_failed/``. A failed step task's error starts with the step's own error line.
``summary`` reports the file's outcome from the audit log (also when it has no audit row) and
``watcher`` fails the run when a task failed after its retries. A failed run is retried by
clearing it in the UI (same run id); the dispatcher never starts a second run for that version.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag

from mdp_dags.config import PipelineConfig
from mdp_dags.dispatch import FILE_DAG_ID
from mdp_dags.platform import INCOMING
from mdp_dags.shape import file_steps, summary_pod
from mdp_dags.watch import watcher

CFG = PipelineConfig.from_env()


@dag(
    dag_id=FILE_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=CFG.max_active_files,
    doc_md=__doc__,
    tags=["mini-data-platform", "ingestion"],
    default_args={"owner": "mini-data-platform"},
    params={
        "key": Param(
            "",
            type="string",
            pattern=f"^{INCOMING}/[^/]+/.+",
            description="The object to process, e.g. incoming/sales/2026-11-21.csv",
        ),
        "dataset": Param("", type="string", description="Its dataset, e.g. sales"),
        "label": Param("", type="string", description="Its label-safe file name"),
    },
)
def mdp_ingest_file() -> None:
    steps = file_steps(
        CFG, key="{{ params.key }}", dataset="{{ params.dataset }}", label="{{ params.label }}"
    )
    summary = summary_pod(CFG, expect="{{ [params.key] | tojson }}")
    steps[-1] >> summary
    [*steps, summary] >> watcher()


mdp_ingest_file()
