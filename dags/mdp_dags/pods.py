"""The step pods: one function builds every ``KubernetesPodOperator`` the DAGs run.

Why one builder: every step pod must get the same hardening (non-root, read-only root
filesystem, no capabilities, no API token), the same credentials wiring (env from Secrets, never
values in the DAG) and the same retry policy; building them in one place makes that a property of
the code instead of a convention. The per-step differences are the image, the arguments, the
resources and the labels.

Exit codes of the step CLI decide what Airflow does:

- 0: done (also for duplicates and reruns of finished files);
- 1 (fault) or an evicted/killed pod: the try fails and Airflow retries with exponential back-off;
- 3 (rejected data, quarantined in ``failed/<stage>/``): the task is *skipped*, never retried, so
  the later steps of that file are skipped too;
- 4 (terminal fault, e.g. configuration): the task fails at once, without retries.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

from mdp_dags.config import RESOURCES, PipelineConfig
from mdp_dags.platform import CONTRACTS_ENV, CONTRACTS_MOUNT, EXIT_REJECTED, EXIT_TERMINAL, UID

PART_OF = "mini-data-platform"
ERROR_TAIL_LINES = 20  # the step prints its JSON result line last; stderr may follow it

# Depth-first across files: when a pool slot frees, the scheduler picks the queued task with the
# highest weight, so a file's next step wins over another file's first step ("absolute": the
# weight is the task's own, not summed over downstream tasks as Airflow's default does).
PRIORITY = {"validate": 1, "requeue": 1, "transform": 2, "load": 3, "summary": 4}


class StepPodOperator(KubernetesPodOperator):
    """A ``KubernetesPodOperator`` whose failure says what the step said, and whose terminal exit
    code means "fail, no retry".

    The provider's failure is "Pod ... returned a failure" plus the whole pod object; the cause
    (the step's JSON result line: error, rule, key) is somewhere above in the streamed log. Here the
    tail of the container log is read before the pod is deleted, and the exception raised starts
    with the step's own error line and exit code. Exit 3 (rejected) is already mapped to a skip by
    ``skip_on_exit_code``; the provider has no equivalent for "fail without retrying", so exit 4
    becomes ``AirflowFailException``.
    """

    def cleanup(self, pod: k8s.V1Pod, remote_pod: k8s.V1Pod, *args: Any, **kwargs: Any) -> None:
        code = _exit_code(remote_pod, self.base_container_name)
        cause = self._step_error(remote_pod) if code not in (None, 0, EXIT_REJECTED) else None
        try:
            super().cleanup(pod, remote_pod, *args, **kwargs)
        except AirflowSkipException:
            raise
        except AirflowException as e:
            step = (self.labels or {}).get("mdp.dev/step", self.task_id)
            why = cause or _termination_reason(remote_pod, self.base_container_name)
            line = f"{step} failed (exit {code}): {why or _first_line(e)}"
            self.log.error("%s", line)
            if code == EXIT_TERMINAL:
                raise AirflowFailException(f"{line} [terminal fault, not retried]") from None
            raise AirflowException(line) from None

    def _step_error(self, remote_pod: k8s.V1Pod | None) -> str | None:
        """The step's result line (``{"error": {...}}``) from the end of the container log."""
        if remote_pod is None or remote_pod.metadata is None:
            return None
        try:
            tail = self.client.read_namespaced_pod_log(
                name=remote_pod.metadata.name,
                namespace=remote_pod.metadata.namespace,
                container=self.base_container_name,
                tail_lines=ERROR_TAIL_LINES,
                _preload_content=False,  # the raw response: preloading returns repr(bytes)
            ).data.decode("utf-8", "replace")
        except Exception as e:  # the pod may be gone (evicted, node lost): say so, go on
            self.log.warning("could not read the step's last log lines: %s", e)
            return None
        return step_error_line(tail)


def step_error_line(log_tail: str) -> str | None:
    """``rule or error: message (key ...)`` from the last JSON error line of a step's output."""
    for raw in reversed(log_tail.splitlines()):
        text = raw.strip()
        if not text.startswith("{"):
            continue
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        error = doc.get("error") if isinstance(doc, dict) else None
        if isinstance(error, dict):
            what = error.get("rule") or error.get("error") or "error"
            where = f" ({error['key']})" if error.get("key") else ""
            return f"{what}: {error.get('message', '')}{where}".strip()
    return None


def _termination_reason(pod: k8s.V1Pod | None, container: str) -> str | None:
    """What Kubernetes says ended the container or pod (Evicted, OOMKilled, ...)."""
    if pod is None or pod.status is None:
        return None
    for status in pod.status.container_statuses or []:
        terminated = status.state.terminated if status.state else None
        if status.name == container and terminated and terminated.reason:
            detail = f": {terminated.message.strip()[:300]}" if terminated.message else ""
            return f"{terminated.reason}{detail}"
    if pod.status.reason:
        return f"{pod.status.reason}: {pod.status.message or ''}".strip(": ")
    return None


def _first_line(error: BaseException) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


def _exit_code(pod: k8s.V1Pod | None, container: str) -> int | None:
    statuses = (pod.status.container_statuses if pod and pod.status else None) or []
    for status in statuses:
        if status.name == container and status.state and status.state.terminated:
            return int(status.state.terminated.exit_code)
    return None


def _env(cfg: PipelineConfig) -> list[k8s.V1EnvVar]:
    """Credentials by reference to Secrets; the DAG never sees a value."""

    def secret(name: str, secret_name: str, key: str) -> k8s.V1EnvVar:
        return k8s.V1EnvVar(
            name=name,
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=key)
            ),
        )

    contracts = [k8s.V1EnvVar(name=CONTRACTS_ENV, value=CONTRACTS_MOUNT)]
    return [
        secret("S3__ACCESS_KEY", cfg.s3_secret, "access-key"),
        secret("S3__SECRET_KEY", cfg.s3_secret, "secret-key"),
        secret("PG__USER", cfg.pg_secret, "username"),
        secret("PG__PASSWORD", cfg.pg_secret, "password"),
    ] + (contracts if cfg.contracts_configmaps else [])


def _volumes(cfg: PipelineConfig) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """``/tmp`` (the root filesystem is read-only: spooled downloads and Parquet spills go there)
    and the contracts: the chart's ConfigMap(s) projected into one read-only directory, the same
    files the setup Job created the tables from, so a dataset added by ``helm upgrade`` is known
    to the next step pod without a new image."""
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit="8Gi"))]
    mounts = [k8s.V1VolumeMount(name="tmp", mount_path="/tmp")]  # noqa: S108
    if cfg.contracts_configmaps:
        sources = [
            k8s.V1VolumeProjection(config_map=k8s.V1ConfigMapProjection(name=name))
            for name in cfg.contracts_configmaps
        ]
        volumes.append(
            k8s.V1Volume(
                name="contracts",
                projected=k8s.V1ProjectedVolumeSource(sources=sources, default_mode=0o444),
            )
        )
        mounts.append(
            k8s.V1VolumeMount(name="contracts", mount_path=CONTRACTS_MOUNT, read_only=True)
        )
    return volumes, mounts


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
    """The operator running ``mdp <arguments>`` for ``step`` in its own hardened pod.

    ``dataset``, ``label`` and ``key`` may be mapped arguments of a mapped task group; they end
    up in the pod's labels and annotation, so ``kubectl get pods -l mdp.dev/file=...`` finds the
    pod of a file.
    """
    labels: dict[str, Any] = {
        "app.kubernetes.io/name": "mdp-step",
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": step,
        "mdp.dev/step": step,
    }
    if dataset is not None:
        labels["mdp.dev/dataset"] = dataset
    if label is not None:
        labels["mdp.dev/file"] = label
    annotations = {"mdp.dev/object-key": key} if key is not None else {}
    resources = RESOURCES[step]
    volumes, volume_mounts = _volumes(cfg)
    kwargs: dict[str, Any] = {
        "retries": cfg.retries,
        "retry_delay": cfg.retry_delay,
        "retry_exponential_backoff": True,
        "max_retry_delay": cfg.max_retry_delay,
        "execution_timeout": cfg.step_timeout,
        "pool": cfg.pool,
        "max_active_tis_per_dag": cfg.max_active_files,
        "priority_weight": PRIORITY[step],
        "weight_rule": "absolute",
    } | operator_kwargs
    return StepPodOperator(
        task_id=task_id or step,
        name=f"mdp-{step}",
        random_name_suffix=True,
        namespace=cfg.namespace,
        kubernetes_conn_id=cfg.kubernetes_conn_id,
        image=cfg.image_for(step),
        image_pull_policy=cfg.image_pull_policy,
        cmds=["mdp"],
        arguments=arguments,
        env_vars=_env(cfg),
        env_from=[k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=cfg.configmap))],
        container_resources=k8s.V1ResourceRequirements(
            requests=resources["requests"], limits=resources["limits"]
        ),
        labels=labels,
        annotations=annotations,
        service_account_name=cfg.service_account,
        automount_service_account_token=False,
        security_context=k8s.V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=UID,
            run_as_group=UID,
            fs_group=UID,
            seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
        ),
        container_security_context=k8s.V1SecurityContext(
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=k8s.V1Capabilities(drop=["ALL"]),
        ),
        volumes=volumes,
        volume_mounts=volume_mounts,
        startup_timeout_seconds=cfg.startup_timeout,
        get_logs=True,
        log_events_on_failure=True,
        log_pod_spec_on_failure=False,  # the pod dump buried the cause; the spec is in the UI
        # On a real kubelet a failed container's log tail becomes its termination message.
        termination_message_policy="FallbackToLogsOnError",
        do_xcom_push=False,
        on_finish_action="delete_pod",
        skip_on_exit_code=EXIT_REJECTED,
        **kwargs,
    )


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
