"""Chart tests in the style of the official Airflow chart's: render, then assert on manifests."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import jmespath
import pytest

from mdp import exitcodes
from tests.chart.conftest import (
    CHART,
    KUBE_VERSION,
    VALUE_SETS,
    RenderError,
    by_kind,
    pod_specs,
    render_chart,
    run_helm,
)
from tests.kubeapi.server import KubeApiServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", VALUE_SETS)
def test_helm_lint(name: str) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", KUBE_VERSION]
    if VALUE_SETS[name]:
        args += ["--values", str(VALUE_SETS[name])]
    done = run_helm(*args)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", VALUE_SETS)
def test_every_manifest_is_valid_kubernetes(name: str) -> None:
    docs = render_chart(values_file=VALUE_SETS[name])  # validates each document (strict)
    assert docs


def test_default_values_render_exactly_these_objects() -> None:
    docs = render_chart()
    got = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    secrets = [
        "airflow-connections", "airflow-keys", "airflow-metadata", "metabase-admin",
        "minio-generator", "minio-metrics", "minio-pipeline", "minio-readonly", "minio-root",
        "postgres-admin", "postgres-airflow", "postgres-metabase", "postgres-metrics",
        "postgres-owner", "postgres-pipeline", "postgres-reader",
    ]  # fmt: skip
    expected = sorted(
        [("Secret", f"mdp-{s}") for s in secrets]
        + [
            ("ConfigMap", "mdp-contracts"),
            ("ConfigMap", "mdp-contracts-next"),
            ("ConfigMap", "mdp-dashboards"),
            ("ConfigMap", "mdp-pipeline"),
            ("ConfigMap", "mdp-postgresql-init"),
            ("CronJob", "mdp-generator-sales"),
            ("CronJob", "mdp-generator-youtube"),
            ("Deployment", "mdp-metabase"),
            ("Deployment", "mdp-metrics"),
            ("Job", "mdp-contracts-check"),
            ("Job", "mdp-metabase-provision"),
            ("Job", "mdp-setup"),
            ("Role", "mdp-pod-launcher"),
            ("RoleBinding", "mdp-pod-launcher"),
            ("Service", "mdp-metabase"),
            ("Service", "mdp-metrics"),
            ("Service", "mdp-minio"),
            ("Service", "mdp-minio-console"),
            ("Service", "mdp-minio-headless"),
            ("Service", "mdp-postgresql"),
            ("Service", "mdp-postgresql-headless"),
            ("ServiceAccount", "mdp-pipeline"),
            ("StatefulSet", "mdp-minio"),
            ("StatefulSet", "mdp-postgresql"),
        ]
        + [
            ("NetworkPolicy", f"mdp-{n}")
            for n in (
                "default-deny",
                "allow-dns",
                "minio",
                "postgresql",
                "clients-egress",
                "metabase",
                "metabase-provision",
                "airflow",
                "metrics",
            )
        ]
    )
    assert got == expected


@pytest.mark.parametrize("name", VALUE_SETS)
class TestPodSecurity:
    def test_pods_are_non_root_with_seccomp_and_no_token(self, name: str) -> None:
        for obj, spec in pod_specs(render_chart(values_file=VALUE_SETS[name])):
            sc = spec["securityContext"]
            assert sc["runAsNonRoot"] is True, obj
            assert sc["runAsUser"] > 0, obj
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, obj
            assert spec["automountServiceAccountToken"] is False, obj

    def test_containers_are_locked_down_and_sized(self, name: str) -> None:
        for obj, spec in pod_specs(render_chart(values_file=VALUE_SETS[name])):
            for c in spec.get("initContainers", []) + spec["containers"]:
                sc = c["securityContext"]
                assert sc["readOnlyRootFilesystem"] is True, (obj, c["name"])
                assert sc["allowPrivilegeEscalation"] is False, (obj, c["name"])
                assert sc["capabilities"]["drop"] == ["ALL"], (obj, c["name"])
                assert c["resources"]["requests"]["cpu"], (obj, c["name"])
                assert c["resources"]["requests"]["memory"], (obj, c["name"])
                assert c["resources"]["limits"]["memory"], (obj, c["name"])

    def test_long_running_containers_have_probes(self, name: str) -> None:
        docs = render_chart(values_file=VALUE_SETS[name])
        for d in by_kind(docs, "StatefulSet") + by_kind(docs, "Deployment"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                assert "readinessProbe" in c, d["metadata"]["name"]
                assert "livenessProbe" in c, d["metadata"]["name"]


def test_metabase_readiness_is_its_health_endpoint() -> None:
    docs = render_chart(show_only=["templates/metabase/metabase-deployment.yaml"])
    probe = jmespath.search("spec.template.spec.containers[0].readinessProbe", docs[0])
    assert probe["httpGet"]["path"] == "/api/health"
    env = jmespath.search(
        "spec.template.spec.containers[0].env[?name=='MB_DB_TYPE'].value", docs[0]
    )
    assert env == ["postgres"]


class TestMetabaseProvisioning:
    """The Job that runs `mdp metabase provision` (dashboards as code) after install/upgrade."""

    @staticmethod
    def _job(docs: list[dict[str, Any]]) -> dict[str, Any]:
        return next(d for d in by_kind(docs, "Job") if d["metadata"]["name"].endswith("provision"))

    def test_is_a_hook_after_the_migrations(self) -> None:
        docs = render_chart()
        job, setup = self._job(docs), next(d for d in docs if d["metadata"]["name"] == "mdp-setup")
        hooks = job["metadata"]["annotations"]
        assert hooks["helm.sh/hook"] == "post-install,post-upgrade"
        assert int(hooks["helm.sh/hook-weight"]) > int(
            setup["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert "before-hook-creation" in hooks["helm.sh/hook-delete-policy"]
        assert job["spec"]["backoffLimit"] >= 3  # exit 1 while Metabase starts: tried again

    def test_retries_faults_and_fails_at_once_on_refusals(self) -> None:
        job = self._job(render_chart())
        (container,) = job["spec"]["template"]["spec"]["containers"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"  # needed for the policy
        assert job["spec"]["podFailurePolicy"]["rules"] == [
            {
                "action": "FailJob",
                "onExitCodes": {
                    "containerName": container["name"],
                    "operator": "In",
                    "values": [exitcodes.USAGE, exitcodes.TERMINAL],
                },
            }
        ]  # exit 1 (FAULT) is not among them: it counts against backoffLimit, tried again

    def test_runs_the_provisioner_image_against_the_metabase_service(self) -> None:
        docs = render_chart(values={"images": {"steps": {"tag": "abc123"}}})
        (container,) = self._job(docs)["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "mini-data-platform/provisioner:abc123"
        assert [*container["command"], *container["args"]] == ["mdp", "metabase", "provision"]
        env = {e["name"]: e for e in container["env"]}
        service = next(
            d for d in by_kind(docs, "Service") if d["metadata"]["name"] == "mdp-metabase"
        )
        assert env["METABASE__URL"]["value"] == "http://mdp-metabase:3000"
        assert 3000 in [p["port"] for p in service["spec"]["ports"]]
        assert env["METABASE__WAIT_TIMEOUT"]["value"] == "900"

    def test_gets_the_admin_and_the_read_only_login_only(self) -> None:
        docs = render_chart()
        (container,) = self._job(docs)["spec"]["template"]["spec"]["containers"]
        refs = {
            e["name"]: (
                e["valueFrom"]["secretKeyRef"]["name"],
                e["valueFrom"]["secretKeyRef"]["key"],
            )
            for e in container["env"]
            if "valueFrom" in e
        }
        assert refs == {
            "METABASE__ADMIN_EMAIL": ("mdp-metabase-admin", "email"),
            "METABASE__ADMIN_PASSWORD": ("mdp-metabase-admin", "password"),
            "PG__USER": ("mdp-postgres-reader", "username"),
            "PG__PASSWORD": ("mdp-postgres-reader", "password"),
        }
        reader = next(
            d for d in by_kind(docs, "Secret") if d["metadata"]["name"] == "mdp-postgres-reader"
        )
        assert base64.b64decode(reader["data"]["username"]).decode() == "mdp_readonly"
        (cm,) = jmespath.search("spec.template.spec.containers[0].envFrom[].configMapRef.name",
                                self._job(docs)) or [None]  # fmt: skip
        config = next(d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == cm)
        assert {"PG__HOST", "PG__PORT", "PG__DATABASE"} <= set(config["data"])

    def test_admin_password_meets_metabase_complexity(self) -> None:
        docs = render_chart()
        secret = next(d for d in docs if d["metadata"]["name"] == "mdp-metabase-admin")
        password = base64.b64decode(secret["data"]["password"]).decode()
        assert len(password) >= 8
        assert re.search(r"[A-Z].*[A-Z]", password) and re.search(r"[a-z].*[a-z]", password)
        assert re.search(r"\d", password) and re.search(r"[^A-Za-z0-9]", password)

    def test_may_talk_to_metabase_and_nothing_else(self) -> None:
        policies = by_kind(render_chart(), "NetworkPolicy")
        own = next(p for p in policies if p["metadata"]["name"] == "mdp-metabase-provision")
        assert own["spec"]["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": "metabase-provision"
        }
        assert own["spec"]["egress"] == [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "metabase"}}}],
                "ports": [{"protocol": "TCP", "port": 3000}],
            }
        ]
        metabase = next(p for p in policies if p["metadata"]["name"] == "mdp-metabase")
        assert {"ports": [{"protocol": "TCP", "port": 3000}]} in metabase["spec"]["ingress"]

    @pytest.mark.parametrize(
        "values",
        [{"metabase": {"enabled": False}}, {"metabase": {"provisioner": {"enabled": False}}}],
    )
    def test_can_be_switched_off(self, values: dict[str, Any]) -> None:
        jobs = [d["metadata"]["name"] for d in by_kind(render_chart(values=values), "Job")]
        assert jobs == ["mdp-contracts-check", "mdp-setup"]

    def test_metabase_sends_no_usage_data(self) -> None:
        docs = render_chart(show_only=["templates/metabase/metabase-deployment.yaml"])
        env = jmespath.search(
            "spec.template.spec.containers[0].env[?name=='MB_ANON_TRACKING_ENABLED'].value", docs[0]
        )
        assert env == ["false"]


class TestNetworkPolicies:
    def test_default_deny_covers_every_pod_both_ways(self) -> None:
        deny = [
            d for d in by_kind(render_chart(), "NetworkPolicy") if "deny" in d["metadata"]["name"]
        ]
        assert len(deny) == 1
        assert deny[0]["spec"]["podSelector"] == {}
        assert sorted(deny[0]["spec"]["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny[0]["spec"] and "egress" not in deny[0]["spec"]

    def test_postgres_admits_only_its_clients(self) -> None:
        docs = by_kind(render_chart(), "NetworkPolicy")
        pg = next(d for d in docs if d["metadata"]["name"] == "mdp-postgresql")
        sources = jmespath.search("spec.ingress[0].from[].podSelector.matchLabels", pg)
        assert sources == [
            {"app.kubernetes.io/name": "mdp-step"},
            {"app.kubernetes.io/name": "setup"},
            {"release": "airflow"},
            {"app.kubernetes.io/name": "metabase"},
            {"app.kubernetes.io/name": "metrics"},
        ]
        assert jmespath.search("spec.ingress[0].ports[].port", pg) == [5432]

    def test_can_be_switched_off(self) -> None:
        assert by_kind(render_chart(values_file=VALUE_SETS["minimal"]), "NetworkPolicy") == []


class TestRbac:
    def test_only_a_namespaced_role_for_the_airflow_pods(self) -> None:
        docs = render_chart()
        assert by_kind(docs, "ClusterRole") == [] and by_kind(docs, "ClusterRoleBinding") == []
        (role,) = by_kind(docs, "Role")
        rules = {(tuple(r["resources"]), tuple(sorted(r["verbs"]))) for r in role["rules"]}
        assert rules == {
            (("pods",), ("create", "delete", "get", "list", "patch", "watch")),
            (("pods/log",), ("get",)),
            (("events",), ("get", "list", "watch")),
        }
        (binding,) = by_kind(docs, "RoleBinding")
        assert [s["name"] for s in binding["subjects"]] == ["airflow-scheduler"]
        assert {s["namespace"] for s in binding["subjects"]} == {"mdp"}

    def test_pipeline_service_account_has_no_token_and_no_binding(self) -> None:
        docs = render_chart()
        (sa,) = by_kind(docs, "ServiceAccount")
        assert sa["automountServiceAccountToken"] is False
        bound = jmespath.search("[?kind=='RoleBinding'].subjects[].name", docs)
        assert sa["metadata"]["name"] not in bound


class TestSecrets:
    def test_generated_not_hard_coded_and_kept_on_uninstall(self) -> None:
        first = {d["metadata"]["name"]: d for d in by_kind(render_chart(), "Secret")}
        second = {d["metadata"]["name"]: d for d in by_kind(render_chart(), "Secret")}
        for name, secret in first.items():
            assert secret["data"] != second[name]["data"], f"{name} has a fixed value"
            if name not in {"mdp-airflow-metadata", "mdp-airflow-connections"}:
                assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"

    def test_values_survive_upgrades_through_lookup(self, tmp_path: Path) -> None:
        """An upgrade renders against a cluster that has the first install's Secrets: `lookup`
        (helm --dry-run=server, served by the test Kubernetes API) must give them back as they
        are, including the values derived from them (Airflow's metadata connection)."""
        first = {d["metadata"]["name"]: d for d in by_kind(render_chart(), "Secret")}
        api = KubeApiServer().start()
        try:
            for name, secret in first.items():
                api.cluster.create_object(
                    "secrets", "mdp", {"metadata": {"name": name}, "data": secret["data"]}
                )
            kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="mdp")
            upgrade = {
                d["metadata"]["name"]: d
                for d in by_kind(render_chart(kubeconfig=kubeconfig), "Secret")
            }
        finally:
            api.stop()
        assert upgrade.keys() == first.keys()
        for name in first:
            assert upgrade[name]["data"] == first[name]["data"], f"{name} changed on upgrade"

    def test_a_cluster_value_also_feeds_the_derived_secrets(self, tmp_path: Path) -> None:
        import base64

        api = KubeApiServer().start()
        try:
            api.cluster.preload_secret(
                "mdp", "mdp-postgres-airflow", {"username": "airflow", "password": "KeptPw1"}
            )
            kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig", namespace="mdp")
            docs = render_chart(kubeconfig=kubeconfig)
        finally:
            api.stop()
        meta = next(d for d in docs if d["metadata"]["name"] == "mdp-airflow-metadata")
        assert (
            base64.b64decode(meta["data"]["connection"])
            .decode()
            .startswith("postgresql://airflow:KeptPw1@")
        )

    def test_existing_secrets_are_used_and_not_created(self) -> None:
        docs = render_chart(values_file=VALUE_SETS["production"])
        assert by_kind(docs, "Secret") == []
        refs = {
            ref["name"]
            for _, spec in pod_specs(docs)
            for c in spec.get("initContainers", []) + spec["containers"]
            for e in c.get("env", [])
            if (ref := e.get("valueFrom", {}).get("secretKeyRef"))
        }
        assert refs and all(r.startswith("prod-") for r in refs)

    @pytest.mark.parametrize("name", ["default", "minimal"])
    def test_every_secret_key_a_pod_reads_is_created(self, name: str) -> None:
        docs = render_chart(values_file=VALUE_SETS[name])
        created = {(d["metadata"]["name"], k) for d in by_kind(docs, "Secret") for k in d["data"]}
        configmaps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
        for obj, spec in pod_specs(docs):
            for c in spec.get("initContainers", []) + spec["containers"]:
                for e in c.get("env", []):
                    if ref := e.get("valueFrom", {}).get("secretKeyRef"):
                        assert (ref["name"], ref["key"]) in created, (obj, ref)
                for src in c.get("envFrom", []):
                    assert src["configMapRef"]["name"] in configmaps, obj

    def test_the_dags_step_pods_find_their_secrets_and_configmap(self) -> None:
        """The DAGs' defaults (dags/mdp_dags/config.py, podspec.py) against the default render."""
        import sys

        sys.path.insert(0, str(ROOT / "dags"))
        from mdp_dags.config import PipelineConfig

        cfg = PipelineConfig.from_env({})
        docs = render_chart()
        created = {(d["metadata"]["name"], k) for d in by_kind(docs, "Secret") for k in d["data"]}
        for secret, key in [
            (cfg.s3_secret, "access-key"),
            (cfg.s3_secret, "secret-key"),
            (cfg.pg_secret, "username"),
            (cfg.pg_secret, "password"),
        ]:
            assert (secret, key) in created
        assert cfg.configmap in {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
        assert cfg.service_account in {
            d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")
        }
        assert cfg.namespace == "mdp"
        conns = next(
            d for d in by_kind(docs, "Secret") if d["metadata"]["name"] == "mdp-airflow-connections"
        )
        assert "mdp-s3" in conns["data"]


def _schema_objects(node: Any, path: str = "") -> list[str]:
    """Paths of object schemas that allow unknown keys."""
    bad = []
    if isinstance(node, dict):
        is_object = node.get("type") == "object" and "properties" in node
        if is_object and node.get("additionalProperties") is not False:
            bad.append(path)
        for k, v in node.items():
            bad += _schema_objects(v, f"{path}/{k}")
    return bad


def _undescribed(node: Any, path: str = "") -> list[str]:
    """Paths of properties with neither a description nor a $ref to a described definition."""
    bad = []
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if "description" not in prop and "$ref" not in prop:
                bad.append(f"{path}/{name}")
        for k, v in node.items():
            bad += _undescribed(v, f"{path}/{k}")
    return bad


class TestSchema:
    def test_every_object_is_closed_and_every_property_described(self) -> None:
        schema = json.loads((CHART / "values.schema.json").read_text())
        assert _schema_objects(schema) == []
        assert _undescribed(schema) == []

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"unknown": 1}, "additional properties"),
            ({"generator": {"badFraction": 1.5}}, "maximum"),
            ({"generator": {"format": "xml"}}, "value must be one of"),
            ({"minio": {"console": {"nodePort": 80}}}, "minimum"),
            ({"storage": {"bucket": "Bad_Bucket"}}, "pattern"),
            ({"images": {"pullPolicy": "Sometimes"}}, "value must be one of"),
            ({"metabase": {"resources": {"requests": {"cpu": [1]}}}}, "got array"),
            ({"monitoring": {"exporter": {"port": 80}}}, "minimum"),
            ({"monitoring": {"prometheus": {"retention": "two days"}}}, "pattern"),
        ],
    )
    def test_bad_values_are_rejected(self, values: dict[str, Any], message: str) -> None:
        with pytest.raises(RenderError, match=message):
            render_chart(values=values, validate=False)

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            (
                {"secrets": {"existing": {"postgresAirflow": "x"}}},
                "secrets.existing.airflowMetadata",
            ),
            (
                {"secrets": {"existing": {"minioReadonly": "x"}}},
                "secrets.existing.airflowConnections",
            ),
            ({"storage": {"datasets": []}}, "storage.datasets is empty"),
        ],
    )
    def test_bad_combinations_fail_with_the_fix(self, values: dict[str, Any], message: str) -> None:
        with pytest.raises(RenderError, match=message):
            render_chart(values=values, validate=False)


def test_every_mdp_command_the_chart_runs_is_accepted_by_the_cli() -> None:
    """Each container running `mdp` gets arguments the real parser accepts, exactly as rendered
    (a bare comma in a YAML flow list once split `--datasets=sales,youtube` in two)."""
    from mdp.cli import build_parser

    docs = render_chart()
    seen = 0
    for name, spec in pod_specs(docs):
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if container.get("command") != ["mdp"]:
                continue
            args = build_parser().parse_args(container["args"])
            seen += 1
            if container["args"][:2] == ["setup", "storage"]:
                assert args.datasets is None, name  # every dataset of the mounted contracts
    assert seen >= 4  # setup storage, db migrate, the generators
