"""The shape of the DAGs: which step tasks a file gets, in which order, with which task policy.

Every step task has the same policy (retries with exponential back-off, the pool, a per-step
priority); transform and load also learn from Airflow which try they are, so the last one
quarantines the file instead of leaving it in ``incoming/``.
"""

from __future__ import annotations

from typing import Any

from mdp_dags.config import PipelineConfig
from mdp_dags.operator import StepPodOperator, operator_for
from mdp_dags.podspec import step_pod_spec

# Depth-first across files: when a pool slot frees, the scheduler picks the queued task with the
# highest weight, so a file's next step wins over another file's first step ("absolute": the
# weight is the task's own, not summed over downstream tasks as Airflow's default does).
PRIORITY = {"validate": 1, "requeue": 1, "transform": 2, "load": 3, "summary": 4}


def step_pod(
    step: str,
    cfg: PipelineConfig,
    *,
    arguments: list[Any],
    task_id: str | None = None,
    dataset: Any = None,
    label: Any = None,
    key: Any = None,
    **operator_kwargs: Any,
) -> StepPodOperator:
    """The task running ``mdp <arguments>`` for ``step`` in its own hardened pod
    (``mdp_dags.podspec``); ``operator_kwargs`` override the task policy."""
    spec = step_pod_spec(step, cfg, arguments=arguments, dataset=dataset, label=label, key=key)
    policy: dict[str, Any] = {
        "retries": cfg.retries,
        "retry_delay": cfg.retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": cfg.max_retry_delay,
        "execution_timeout": cfg.step_timeout,
        "pool": cfg.pool,
        "max_active_tis_per_dag": cfg.max_active_files,
        "priority_weight": PRIORITY[step],
        "weight_rule": "absolute",
        "kubernetes_conn_id": cfg.kubernetes_conn_id,
        "startup_timeout_seconds": cfg.startup_timeout,
    } | operator_kwargs
    return operator_for(spec, task_id=task_id or step, **policy)


def file_steps(
    cfg: PipelineConfig, *, key: Any, dataset: Any, label: Any
) -> tuple[StepPodOperator, StepPodOperator, StepPodOperator]:
    """validate -> transform -> load for one file (inside a mapped task group).

    Transform and load get ``--attempt``/``--max-attempts`` from the try number, so on the last
    try a fault quarantines the file in ``failed/<stage>/`` (exit 3) instead of leaving it behind.
    """
    retry_flags = ["--attempt", "{{ ti.try_number }}", "--max-attempts", "{{ task.retries + 1 }}"]
    common = {"dataset": dataset, "label": label, "key": key}
    validate = step_pod(
        "validate", cfg, arguments=["validate", key, "--run-id", "{{ run_id }}"], **common
    )
    transform = step_pod(
        "transform",
        cfg,
        arguments=["transform", key, "--run-id", "{{ run_id }}", *retry_flags],
        **common,
    )
    load = step_pod(
        "load", cfg, arguments=["load", key, "--run-id", "{{ run_id }}", *retry_flags], **common
    )
    validate >> transform >> load
    return validate, transform, load


def summary_pod(cfg: PipelineConfig, expect: str) -> StepPodOperator:
    """Prints what the run did (files by outcome, rows loaded) into the task log.

    ``expect`` (templated: a JSON list of incoming keys) names every file the run was responsible
    for, so a file that failed before the audit log knew it is still counted, with its reason.
    """
    return step_pod(
        "summary",
        cfg,
        arguments=["summary", "--run-id", "{{ run_id }}", "--expect", expect],
        trigger_rule="all_done",
        retries=2,
    )
