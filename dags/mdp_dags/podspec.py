"""The pod of one step, built by one pure function: no Airflow, no cluster, only Kubernetes models.

Why one builder: every step pod must get the same hardening (non-root, read-only root
filesystem, no capabilities, no API token), the same credentials wiring (env from Secrets, never
values in the DAG) and the same volumes; building them in one place makes that a property of the
code instead of a convention, and a pure function is unit-tested as it is (``tests/dags``). The
per-step differences are the image, the arguments, the resources and the labels.
``mdp_dags.operator`` hands the result to the ``KubernetesPodOperator``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes.client import models as k8s

from mdp_dags.config import RESOURCES, PipelineConfig
from mdp_dags.platform import CONTRACTS_ENV, CONTRACTS_MOUNT, UID

PART_OF = "mini-data-platform"
CONTAINER = "base"
"""The container's name: the one the operator reads exit codes and logs of."""
TMP_SIZE = "8Gi"
"""Scratch for spooled downloads and Parquet spills (``MDP__SCRATCH_DIR`` defaults to /tmp)."""


@dataclass(frozen=True)
class StepPodSpec:
    """Everything of one step's pod that the DAGs decide, as Kubernetes models.

    Values may be Jinja templates (arguments, labels, the annotation): the operator renders
    them per task instance."""

    step: str
    name: str
    namespace: str
    image: str
    image_pull_policy: str
    command: list[str]
    arguments: list[Any]
    env: list[k8s.V1EnvVar]
    env_from: list[k8s.V1EnvFromSource]
    resources: k8s.V1ResourceRequirements
    labels: dict[str, Any]
    annotations: dict[str, Any]
    service_account_name: str
    automount_service_account_token: bool
    security_context: k8s.V1PodSecurityContext
    container_security_context: k8s.V1SecurityContext
    volumes: list[k8s.V1Volume]
    volume_mounts: list[k8s.V1VolumeMount]
    termination_message_policy: str
    """On a real kubelet a failed container's log tail becomes its termination message."""

    def pod(self) -> k8s.V1Pod:
        """The pod as the API server would receive it (before the operator adds its own labels
        and a random name suffix)."""
        container = k8s.V1Container(
            name=CONTAINER,
            image=self.image,
            image_pull_policy=self.image_pull_policy,
            command=self.command,
            args=self.arguments,
            env=self.env,
            env_from=self.env_from,
            resources=self.resources,
            security_context=self.container_security_context,
            volume_mounts=self.volume_mounts,
            termination_message_policy=self.termination_message_policy,
        )
        return k8s.V1Pod(
            api_version="v1",
            kind="Pod",
            metadata=k8s.V1ObjectMeta(
                name=self.name,
                namespace=self.namespace,
                labels=self.labels,
                annotations=self.annotations or None,
            ),
            spec=k8s.V1PodSpec(
                containers=[container],
                restart_policy="Never",  # retries are Airflow's; the operator sets the same
                service_account_name=self.service_account_name,
                automount_service_account_token=self.automount_service_account_token,
                security_context=self.security_context,
                volumes=self.volumes,
            ),
        )


def _secret(name: str, secret_name: str, key: str) -> k8s.V1EnvVar:
    return k8s.V1EnvVar(
        name=name,
        value_from=k8s.V1EnvVarSource(
            secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=key)
        ),
    )


def step_env(cfg: PipelineConfig) -> list[k8s.V1EnvVar]:
    """Credentials by reference to Secrets (the DAG never sees a value), and where the mounted
    contracts are."""
    contracts = [k8s.V1EnvVar(name=CONTRACTS_ENV, value=CONTRACTS_MOUNT)]
    return [
        _secret("S3__ACCESS_KEY", cfg.s3_secret, "access-key"),
        _secret("S3__SECRET_KEY", cfg.s3_secret, "secret-key"),
        _secret("PG__USER", cfg.pg_secret, "username"),
        _secret("PG__PASSWORD", cfg.pg_secret, "password"),
    ] + (contracts if cfg.contracts_configmaps else [])


def step_volumes(cfg: PipelineConfig) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """``/tmp`` (the root filesystem is read-only: spooled downloads and Parquet spills go there)
    and the contracts: the chart's ConfigMap(s) projected into one read-only directory, the same
    files the setup Job created the tables from, so a dataset added by ``helm upgrade`` is known
    to the next step pod without a new image."""
    volumes = [k8s.V1Volume(name="tmp", empty_dir=k8s.V1EmptyDirVolumeSource(size_limit=TMP_SIZE))]
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


def step_pod_spec(
    step: str,
    cfg: PipelineConfig,
    *,
    arguments: list[Any],
    dataset: Any = None,
    label: Any = None,
    key: Any = None,
) -> StepPodSpec:
    """The pod running ``mdp <arguments>`` for ``step``.

    ``dataset``, ``label`` and ``key`` may be templates or mapped arguments; they end up in the
    pod's labels and annotation, so ``kubectl get pods -l mdp.dev/file=...`` finds a file's pod.
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
    resources = RESOURCES[step]
    volumes, mounts = step_volumes(cfg)
    return StepPodSpec(
        step=step,
        name=f"mdp-{step}",
        namespace=cfg.namespace,
        image=cfg.image_for(step),
        image_pull_policy=cfg.image_pull_policy,
        command=["mdp"],
        arguments=arguments,
        env=step_env(cfg),
        env_from=[k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=cfg.configmap))],
        resources=k8s.V1ResourceRequirements(
            requests=resources["requests"], limits=resources["limits"]
        ),
        labels=labels,
        annotations={"mdp.dev/object-key": key} if key is not None else {},
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
        volume_mounts=mounts,
        termination_message_policy="FallbackToLogsOnError",
    )
