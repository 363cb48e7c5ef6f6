"""The operator that runs a step's pod, and what Airflow does with the step's exit code.

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

from mdp_dags.platform import EXIT_REJECTED, EXIT_TERMINAL
from mdp_dags.podspec import StepPodSpec

ERROR_TAIL_LINES = 20  # the step prints its JSON result line last; stderr may follow it


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


def operator_for(spec: StepPodSpec, *, task_id: str, **task_kwargs: Any) -> StepPodOperator:
    """The operator running ``spec``; ``task_kwargs`` are Airflow's (retries, pool, ...)."""
    return StepPodOperator(
        task_id=task_id,
        name=spec.name,
        random_name_suffix=True,
        namespace=spec.namespace,
        image=spec.image,
        image_pull_policy=spec.image_pull_policy,
        cmds=spec.command,
        arguments=spec.arguments,
        env_vars=spec.env,
        env_from=spec.env_from,
        container_resources=spec.resources,
        labels=spec.labels,
        annotations=spec.annotations,
        service_account_name=spec.service_account_name,
        automount_service_account_token=spec.automount_service_account_token,
        security_context=spec.security_context,
        container_security_context=spec.container_security_context,
        volumes=spec.volumes,
        volume_mounts=spec.volume_mounts,
        termination_message_policy=spec.termination_message_policy,
        get_logs=True,
        log_events_on_failure=True,
        log_pod_spec_on_failure=False,  # the pod dump buried the cause; the spec is in the UI
        do_xcom_push=False,
        on_finish_action="delete_pod",
        # How often the task asks whether its pod has left Pending. The provider's 5 s leaves a
        # started pod unwatched for up to 5 s while it holds a pool slot; a step pod starts in
        # one or two, so every step would wait ~3 s for nothing. One GET a second per starting pod.
        startup_check_interval_seconds=1,
        skip_on_exit_code=EXIT_REJECTED,
        **task_kwargs,
    )


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
