"""Everything the DAGs need to know about their environment, from ``MDP_*`` environment variables.

One place: the Airflow values of the chart set these on the scheduler and workers (skaffold puts
the image tags it built into the ``MDP_IMAGE_*`` ones), and the defaults below are what a
``make cluster-up`` install uses. Reading the environment is all that happens at parse time: no
network, no files. The one thing read later, at each dispatch, is the list of datasets
(``PipelineConfig.current_datasets``): it comes from the mounted contracts, which ``helm upgrade``
changes while Airflow runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from mdp_dags.contracts import datasets_in

STEPS = ("validate", "transform", "load", "requeue", "summary")

# Which image runs which step: each image installs only its step's extra. requeue needs the object
# store and the audit log (validator has both); summary only reads the audit log.
STEP_IMAGE = {
    "validate": "validator",
    "transform": "transformer",
    "load": "loader",
    "requeue": "validator",
    "summary": "loader",
}

# Requests and limits per step, sized from the peak memory `make bench` measures (flat in the file
# size, docs/benchmark.md): a 1 GiB limit leaves room for Arrow's pools and the OS page cache of
# spooled files.
RESOURCES: dict[str, dict[str, dict[str, str]]] = {
    "validate": {"requests": {"cpu": "250m", "memory": "384Mi"}, "limits": {"memory": "1Gi"}},
    "transform": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
    "load": {"requests": {"cpu": "250m", "memory": "384Mi"}, "limits": {"memory": "1Gi"}},
    "requeue": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
    "summary": {"requests": {"cpu": "50m", "memory": "96Mi"}, "limits": {"memory": "256Mi"}},
}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ValueError(f"{name}={value} must be at least {minimum}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean: use true or false")


@dataclass(frozen=True)
class PipelineConfig:
    """Where and how the step pods run; docs/operations.md has the "DAG configuration" table."""

    namespace: str = "mdp"
    """Namespace of the step pods, and of the Secrets and ConfigMap they read."""
    images: dict[str, str] = field(default_factory=dict)
    """Image reference per image name (validator, transformer, loader)."""
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "mdp-pipeline"
    """The pods' ServiceAccount: no Kubernetes API rights, no token mounted."""
    configmap: str = "mdp-pipeline"
    """ConfigMap with the non-secret settings: S3__ENDPOINT, S3__BUCKET, PG__HOST, ..."""
    s3_secret: str = "mdp-minio-pipeline"  # noqa: S105 - the Secret's name, not a value
    """Secret with the pipeline's MinIO user: keys ``access-key`` and ``secret-key``."""
    pg_secret: str = "mdp-postgres-pipeline"  # noqa: S105 - the Secret's name
    """Secret with the pipeline's PostgreSQL login: keys ``username`` and ``password``."""
    kubernetes_conn_id: str = "kubernetes_default"
    s3_conn_id: str = "mdp_s3"
    """Airflow connection (type aws) the discovery task lists the bucket with."""
    bucket: str = "mdp"
    datasets: tuple[str, ...] = ("sales", "youtube")
    """The datasets when no contracts directory is set (``MDP_DATASETS``)."""
    contracts_dir: str = ""
    """Directory of the contract files (``MDP_CONTRACTS_DIR``, the chart's contracts ConfigMap
    mounted into Airflow): the datasets are their ``dataset:`` values, read at each dispatch.
    Empty: ``datasets``."""
    contracts_configmaps: tuple[str, ...] = ("mdp-contracts",)
    """ConfigMaps with the contract files, mounted read-only at ``platform.CONTRACTS_MOUNT`` in
    every step pod (``MDP_CONTRACTS_CONFIGMAP``, comma-separated: the chart's, then
    ``contracts.existingConfigMap``). Empty: no mount; the steps use the contracts in their
    image."""
    pool: str = "mdp_pipeline"
    """Airflow pool every step pod takes a slot of: bounds pods in flight across all runs."""
    max_active_files: int = 8
    """Files in flight at once: ``max_active_runs`` of the per-file DAG, and at most this many
    instances of each step task (per DAG, all runs)."""
    max_files_per_run: int = 1000
    """One sweep creates at most this many file runs; the rest are created by the next sweep."""
    sweep_schedule: str = "* * * * *"
    """Cron schedule of the sweep that lists ``incoming/`` for anything an event missed."""
    events: bool = True
    """Start files from MinIO bucket notifications (the triggerer listens); off: sweep only."""
    retries: int = 3
    retry_delay: timedelta = timedelta(seconds=30)
    max_retry_delay: timedelta = timedelta(minutes=10)
    startup_timeout: int = 300
    """Seconds a pod may stay Pending (image pull, scheduling) before the try fails."""
    step_timeout: timedelta = timedelta(hours=2)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PipelineConfig:
        env = os.environ if env is None else env
        repository = env.get("MDP_IMAGE_REPOSITORY", "mini-data-platform")
        tag = env.get("MDP_IMAGE_TAG", "dev")
        images = {
            name: env.get(f"MDP_IMAGE_{name.upper()}") or f"{repository}/{name}:{tag}"
            for name in ("validator", "transformer", "loader")
        }
        datasets = tuple(
            d.strip() for d in env.get("MDP_DATASETS", "sales,youtube").split(",") if d.strip()
        )
        if not datasets:
            raise ValueError("MDP_DATASETS is empty: name at least one dataset, e.g. sales")
        configmaps = env.get("MDP_CONTRACTS_CONFIGMAP", ",".join(cls.contracts_configmaps))
        return cls(
            namespace=env.get("MDP_NAMESPACE", cls.namespace),
            images=images,
            image_pull_policy=env.get("MDP_IMAGE_PULL_POLICY", cls.image_pull_policy),
            service_account=env.get("MDP_SERVICE_ACCOUNT", cls.service_account),
            configmap=env.get("MDP_PIPELINE_CONFIGMAP", cls.configmap),
            s3_secret=env.get("MDP_S3_SECRET", cls.s3_secret),
            pg_secret=env.get("MDP_PG_SECRET", cls.pg_secret),
            kubernetes_conn_id=env.get("MDP_KUBERNETES_CONN_ID", cls.kubernetes_conn_id),
            s3_conn_id=env.get("MDP_S3_CONN_ID", cls.s3_conn_id),
            bucket=env.get("MDP_BUCKET", cls.bucket),
            datasets=datasets,
            contracts_dir=env.get("MDP_CONTRACTS_DIR", cls.contracts_dir).strip(),
            contracts_configmaps=tuple(c.strip() for c in configmaps.split(",") if c.strip()),
            pool=env.get("MDP_POOL", cls.pool),
            max_active_files=_int(env, "MDP_MAX_ACTIVE_FILES", cls.max_active_files, 1),
            max_files_per_run=_int(env, "MDP_MAX_FILES_PER_RUN", cls.max_files_per_run, 1),
            sweep_schedule=env.get("MDP_SWEEP_SCHEDULE") or cls.sweep_schedule,
            events=_bool(env, "MDP_EVENTS", cls.events),
            retries=_int(env, "MDP_RETRIES", cls.retries),
            retry_delay=timedelta(seconds=_int(env, "MDP_RETRY_DELAY_SECONDS", 30)),
            max_retry_delay=timedelta(seconds=_int(env, "MDP_MAX_RETRY_DELAY_SECONDS", 600)),
            startup_timeout=_int(env, "MDP_POD_STARTUP_TIMEOUT_SECONDS", cls.startup_timeout, 1),
            step_timeout=timedelta(seconds=_int(env, "MDP_STEP_TIMEOUT_SECONDS", 7200, 60)),
        )

    def current_datasets(self) -> tuple[str, ...]:
        """The datasets to dispatch now: from the contract files when ``contracts_dir`` is set
        (read on every call, so a contract added by ``helm upgrade`` counts from the next
        dispatch on; a malformed file is logged and skipped), else ``datasets``."""
        if not self.contracts_dir:
            return self.datasets
        return datasets_in(Path(self.contracts_dir))

    def image_for(self, step: str) -> str:
        return self.images[STEP_IMAGE[step]]
