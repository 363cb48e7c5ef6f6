"""The step pods as the pure builder makes them (dags/mdp_dags/podspec.py): every hardening
field, the credentials wiring and the volumes, checked on the Kubernetes models directly. The
operator that runs them and the DAGs around it are checked in tests/dags and tests/e2e."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient

from tests.chart.conftest import KUBE_VERSION
from tests.chart.pod_security import restricted_violations

DAGS = Path(__file__).resolve().parents[2] / "dags"
sys.path.insert(0, str(DAGS))

from mdp_dags.config import RESOURCES, PipelineConfig  # noqa: E402
from mdp_dags.platform import CONTRACTS_MOUNT, UID  # noqa: E402
from mdp_dags.podspec import step_pod_spec  # noqa: E402

STEPS = ("validate", "transform", "load", "requeue", "summary")


def pod(step: str, env: dict[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    """The step's pod as a manifest dict (what the API server would be sent)."""
    spec = step_pod_spec(step, PipelineConfig.from_env(env or {}), arguments=[step], **kwargs)
    manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(spec.pod())
    return manifest


@pytest.mark.parametrize("step", STEPS)
def test_the_pod_is_a_valid_kubernetes_pod_admitted_as_restricted(step: str) -> None:
    manifest = pod(step, dataset="sales", label="a.csv", key="incoming/sales/a.csv")
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
    assert restricted_violations(manifest["spec"]) == []


@pytest.mark.parametrize("step", STEPS)
def test_the_pod_runs_as_the_images_user_without_privileges(step: str) -> None:
    spec = pod(step)["spec"]
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": UID,
        "runAsGroup": UID,
        "fsGroup": UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    (container,) = spec["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


@pytest.mark.parametrize("step", STEPS)
def test_the_pod_has_no_api_token_and_kubernetes_never_restarts_it(step: str) -> None:
    spec = pod(step)["spec"]
    assert spec["serviceAccountName"] == "mdp-pipeline"
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"  # retries belong to Airflow


@pytest.mark.parametrize("step", STEPS)
def test_credentials_come_from_secrets_never_as_values(step: str) -> None:
    (container,) = pod(step)["spec"]["containers"]
    secrets = {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container["env"]
        if "valueFrom" in e
    }
    assert secrets == {
        "S3__ACCESS_KEY": ("mdp-minio-pipeline", "access-key"),
        "S3__SECRET_KEY": ("mdp-minio-pipeline", "secret-key"),
        "PG__USER": ("mdp-postgres-pipeline", "username"),
        "PG__PASSWORD": ("mdp-postgres-pipeline", "password"),
    }
    values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert values == {"CONTRACTS__DIR": CONTRACTS_MOUNT}
    assert container["envFrom"] == [{"configMapRef": {"name": "mdp-pipeline"}}]


@pytest.mark.parametrize("step", STEPS)
def test_resources_are_the_steps_and_memory_is_limited(step: str) -> None:
    (container,) = pod(step)["spec"]["containers"]
    assert container["resources"] == RESOURCES[step]
    assert "memory" in container["resources"]["limits"]


def test_scratch_is_a_bounded_empty_dir_on_tmp() -> None:
    spec = pod("transform")["spec"]
    (container,) = spec["containers"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "8Gi"}} in spec["volumes"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_image_command_and_failure_message() -> None:
    env = {"MDP_IMAGE_TAG": "1.2", "MDP_IMAGE_PULL_POLICY": "Always"}
    (container,) = pod("load", env)["spec"]["containers"]
    assert (container["image"], container["imagePullPolicy"]) == (
        "mini-data-platform/loader:1.2",
        "Always",
    )
    assert (container["command"], container["args"]) == (["mdp"], ["load"])
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_labels_and_annotation_name_the_step_and_the_file() -> None:
    meta = pod("validate", dataset="sales", label="a.csv", key="incoming/sales/a.csv")["metadata"]
    assert meta["labels"] == {
        "app.kubernetes.io/name": "mdp-step",
        "app.kubernetes.io/part-of": "mini-data-platform",
        "app.kubernetes.io/component": "validate",
        "mdp.dev/step": "validate",
        "mdp.dev/dataset": "sales",
        "mdp.dev/file": "a.csv",
    }
    assert meta["annotations"] == {"mdp.dev/object-key": "incoming/sales/a.csv"}
    assert "annotations" not in pod("summary")["metadata"]  # a summary has no one file
    assert meta["namespace"] == "mdp"


def test_the_builder_needs_no_airflow() -> None:
    """Pure: importing it and building a pod loads neither Airflow nor the provider."""
    code = (
        "import sys; from mdp_dags.config import PipelineConfig;"
        "from mdp_dags.podspec import step_pod_spec;"
        "step_pod_spec('load', PipelineConfig.from_env({}), arguments=['load', 'k']).pod();"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'mdp'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(DAGS), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stdout.strip() == "[]"
