"""mdp_reprocess: send quarantined files from ``failed/<stage>/`` through the pipeline again.

Triggered by hand (UI "Trigger DAG w/ config", or ``airflow dags trigger mdp_reprocess --conf``)
with ``keys`` (a list of ``failed/<stage>/<dataset>/<file>`` keys) and/or ``prefix`` (everything
under e.g. ``failed/loading_failed/sales/``). Use it after fixing the cause: a corrected file
uploaded over the quarantined one, or a database problem solved.

Per file: ``requeue`` moves it back to ``incoming/<dataset>/<file>``, deletes the stale report and
records the request (with the status and error the file had) in ``audit.file_reprocessing``; then
the same validate -> transform -> load pods as ``mdp_ingest``; ``summary`` reports the outcome
and ``watcher`` fails the run if any task failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param, dag, task, task_group

from mdp_dags.config import PipelineConfig
from mdp_dags.objects import failed_files
from mdp_dags.platform import FAILED
from mdp_dags.shape import file_steps, step_pod, summary_pod
from mdp_dags.watch import watcher

CFG = PipelineConfig.from_env()


@dag(
    dag_id="mdp_reprocess",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["mini-data-platform", "reprocessing"],
    default_args={"owner": "mini-data-platform"},
    params={
        "keys": Param(
            [],
            type="array",
            items={"type": "string", "pattern": f"^{FAILED}/"},
            description="Quarantined files to re-process, e.g. "
            "failed/validation_failed/sales/2026-11-21.csv",
        ),
        "prefix": Param(
            "",
            type="string",
            pattern=f"^({FAILED}/.*)?$",
            description="Re-process every file under this prefix, e.g. failed/loading_failed/",
        ),
    },
)
def mdp_reprocess() -> None:
    @task(retries=0)
    def select(**context: Any) -> list[dict[str, str]]:
        params = context["params"]
        return failed_files(CFG, list(params["keys"]), str(params["prefix"]))

    @task_group(group_id="file")
    def reprocess(failed_key: str, key: str, dataset: str, label: str) -> None:
        requeue = step_pod(
            "requeue",
            CFG,
            arguments=["requeue", failed_key, "--run-id", "{{ run_id }}"],
            dataset=dataset,
            label=label,
            key=failed_key,
        )
        validate, _, _ = file_steps(CFG, key=key, dataset=dataset, label=label)
        requeue >> validate

    selected = select()
    chains = reprocess.expand_kwargs(selected)
    selected_keys = "(ti.xcom_pull(task_ids='select') or []) | map(attribute='key') | list"
    summary = summary_pod(CFG, expect="{{ " + selected_keys + " | tojson }}")
    chains >> summary
    [selected, chains, summary] >> watcher()


mdp_reprocess()
