"""The chart's observability objects (issue 26): the exporter Deployment and Service, the
ServiceMonitor and PrometheusRule (only where the Prometheus Operator's API exists), the
dashboards ConfigMap, and the optional bundled Prometheus."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, by_kind, pod_specs, render_chart
from tests.chart.pod_security import restricted_violations

OPERATOR = ["monitoring.coreos.com/v1"]
RULES = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
BUNDLED = {"monitoring": {"prometheus": {"enabled": True}}}


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


class TestExporter:
    def test_runs_the_metrics_image_locked_down_with_probes_that_read_no_source(self) -> None:
        docs = render_chart(values={"images": {"steps": {"tag": "t1"}}})
        deployment = _named(docs, "Deployment", "mdp-metrics")
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == "mini-data-platform/metrics:t1"
        assert container["command"] == ["mdp"]
        assert container["args"][:2] == ["metrics", "serve"]
        assert restricted_violations(pod) == []
        assert pod["automountServiceAccountToken"] is False
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"]["memory"]
        for probe in ("readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"]["path"] == "/healthz"

    def test_reads_as_the_metrics_logins_only(self) -> None:
        docs = render_chart()
        (container,) = _named(docs, "Deployment", "mdp-metrics")["spec"]["template"]["spec"][
            "containers"
        ]
        refs = {
            e["name"]: (
                e["valueFrom"]["secretKeyRef"]["name"],
                e["valueFrom"]["secretKeyRef"]["key"],
            )
            for e in container["env"]
            if "valueFrom" in e
        }
        assert refs == {
            "S3__ACCESS_KEY": ("mdp-minio-metrics", "access-key"),
            "S3__SECRET_KEY": ("mdp-minio-metrics", "secret-key"),
            "PG__USER": ("mdp-postgres-metrics", "username"),
            "PG__PASSWORD": ("mdp-postgres-metrics", "password"),
        }

    def test_the_setup_job_creates_its_minio_user_and_postgres_its_login(self) -> None:
        docs = render_chart()
        setup = _named(docs, "Job", "mdp-setup")["spec"]["template"]["spec"]
        (storage,) = setup["initContainers"]
        env = {e["name"] for e in storage["env"]}
        assert {"SETUP__METRICS_ACCESS_KEY", "SETUP__METRICS_SECRET_KEY"} <= env
        (init,) = [
            d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mdp-postgresql-init"
        ]
        script = init["data"]["10-mdp.sh"]
        assert "CREATE ROLE mdp_metrics LOGIN PASSWORD :'metrics_pw' IN ROLE mdp_monitor;" in script
        (pg,) = _named(docs, "StatefulSet", "mdp-postgresql")["spec"]["template"]["spec"][
            "containers"
        ]
        assert "METRICS_PASSWORD" in {e["name"] for e in pg["env"]}

    def test_its_service_is_annotated_for_prometheus(self) -> None:
        service = _named(render_chart(), "Service", "mdp-metrics")
        annotations = service["metadata"]["annotations"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": "9108",
            "prometheus.io/path": "/metrics",
        }
        assert service["spec"]["ports"][0]["port"] == 9108

    def test_reaches_minio_and_postgres_and_is_reachable_on_its_port_only(self) -> None:
        policies = {d["metadata"]["name"]: d for d in by_kind(render_chart(), "NetworkPolicy")}
        metrics = {"app.kubernetes.io/name": "metrics"}
        for target in ("mdp-minio", "mdp-postgresql"):
            sources = [
                f["podSelector"]["matchLabels"]
                for f in policies[target]["spec"]["ingress"][0]["from"]
            ]
            assert metrics in sources, target
        egress = policies["mdp-clients-egress"]["spec"]["podSelector"]["matchExpressions"][0]
        assert "metrics" in egress["values"]
        assert policies["mdp-metrics"]["spec"]["ingress"] == [
            {"ports": [{"protocol": "TCP", "port": 9108}]}
        ]

    def test_can_be_switched_off(self) -> None:
        docs = render_chart(
            values={"monitoring": {"exporter": {"enabled": False}}}, api_versions=OPERATOR
        )
        names = {(d["kind"], d["metadata"]["name"]) for d in docs}
        kinds = ("Deployment", "Service", "ServiceMonitor", "NetworkPolicy")
        assert not {(kind, "mdp-metrics") for kind in kinds} & names


class TestPrometheusOperator:
    def test_nothing_of_the_operator_without_its_api(self) -> None:
        kinds = {d["kind"] for d in render_chart()}
        assert not {"ServiceMonitor", "PrometheusRule"} & kinds

    def test_a_servicemonitor_selects_the_exporter_service(self) -> None:
        docs = render_chart(
            values={"monitoring": {"serviceMonitor": {"labels": {"release": "kps"}}}},
            api_versions=OPERATOR,
        )
        (monitor,) = by_kind(docs, "ServiceMonitor")
        service = _named(docs, "Service", "mdp-metrics")
        selector = monitor["spec"]["selector"]["matchLabels"]
        assert selector.items() <= service["metadata"]["labels"].items()
        assert monitor["metadata"]["labels"]["release"] == "kps"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] == service["spec"]["ports"][0]["name"]
        assert endpoint["path"] == "/metrics"

    def test_the_prometheusrule_is_the_rules_file(self) -> None:
        (rule,) = by_kind(render_chart(api_versions=OPERATOR), "PrometheusRule")
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        assert rule["spec"] == RULES

    @pytest.mark.parametrize("key", ["serviceMonitor", "prometheusRule"])
    def test_each_can_be_switched_off(self, key: str) -> None:
        docs = render_chart(values={"monitoring": {key: {"enabled": False}}}, api_versions=OPERATOR)
        kinds = {d["kind"] for d in docs}
        assert ({"ServiceMonitor", "PrometheusRule"} - kinds) == {key[0].upper() + key[1:]}


class TestDashboards:
    def test_one_dashboard_per_concern_in_a_configmap_for_grafanas_sidecar(self) -> None:
        cm = _named(render_chart(), "ConfigMap", "mdp-dashboards")
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert set(cm["data"]) == {"flow.json", "quality.json", "airflow.json"}
        uids = set()
        for name, text in cm["data"].items():
            dashboard = json.loads(text)
            assert text == (CHART / "files" / "dashboards" / name).read_text()
            assert dashboard["panels"], name
            uids.add(dashboard["uid"])
            for panel in dashboard["panels"]:
                assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert len(uids) == 3


class TestBundledPrometheus:
    def test_off_by_default(self) -> None:
        docs = render_chart()
        assert not [d for d in docs if d["metadata"]["name"] == "mdp-prometheus"]

    def test_restricted_read_only_and_sized(self) -> None:
        docs = render_chart(values=BUNDLED)
        deployment = _named(docs, "Deployment", "mdp-prometheus")
        pod = deployment["spec"]["template"]["spec"]
        assert restricted_violations(pod) == []
        assert pod["securityContext"]["runAsUser"] == 65534
        assert pod["automountServiceAccountToken"] is False  # static targets: no API access
        (container,) = pod["containers"]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["resources"]["limits"]["memory"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/-/ready"
        assert {v["name"]: next(k for k in v if k != "name") for v in pod["volumes"]} == {
            "config": "configMap",
            "data": "emptyDir",
        }
        assert ("mdp-prometheus", pod) in pod_specs(docs)

    def test_its_networkpolicy_lets_it_scrape_the_two_exporters_only(self) -> None:
        policy = _named(render_chart(values=BUNDLED), "NetworkPolicy", "mdp-prometheus")
        assert policy["spec"]["egress"] == [
            {
                "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "metrics"}}}],
                "ports": [{"protocol": "TCP", "port": 9108}],
            },
            {
                "to": [{"podSelector": {"matchLabels": {"release": "airflow"}}}],
                "ports": [{"protocol": "TCP", "port": 9102}],
            },
        ]
        airflow = _named(render_chart(values=BUNDLED), "NetworkPolicy", "mdp-airflow")
        assert {"ports": [{"protocol": "TCP", "port": 9102}]} in airflow["spec"]["ingress"]

    def test_its_configuration_passes_promtool(self, tmp_path: Path) -> None:
        """Debian's promtool (the tests' Prometheus) checks the rendered config and rules."""
        promtool = shutil.which("promtool")
        assert promtool, "promtool not found: apt-get install prometheus (as .ci/run does)"
        cm = _named(render_chart(values=BUNDLED), "ConfigMap", "mdp-prometheus")
        assert yaml.safe_load(cm["data"]["alerts.yaml"]) == RULES
        config = yaml.safe_load(cm["data"]["prometheus.yml"])
        assert config["rule_files"] == ["/etc/prometheus/alerts.yaml"]
        jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
        assert jobs["mdp-metrics"] == ["mdp-metrics.mdp.svc:9108"]
        assert jobs["airflow-statsd"] == ["airflow-statsd:9102"]
        (tmp_path / "alerts.yaml").write_text(cm["data"]["alerts.yaml"])
        (tmp_path / "prometheus.yml").write_text(
            cm["data"]["prometheus.yml"].replace("/etc/prometheus/", f"{tmp_path}/")
        )
        done = subprocess.run(
            [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS: 5 rules found" in done.stdout
