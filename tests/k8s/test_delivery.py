"""The delivery files checked statically (no registry, no cluster here): Dockerfiles, scripts,
skaffold.yaml, the kind config, the Makefile, and the Airflow values against our chart."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import by_kind, render_chart
from tests.support.port_forwards import documented_port_forwards, forwarded
from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(ROOT.glob("images/*/Dockerfile"))
SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
AIRFLOW_VALUES = yaml.safe_load((ROOT / "charts" / "airflow" / "values.yaml").read_text())
KIND = yaml.safe_load((ROOT / "k8s" / "kind-config.yaml").read_text())
OURS = "mini-data-platform/"


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_has_no_findings(dockerfile: Path) -> None:
    done = subprocess.run(
        [_bin("hadolint"), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_images_are_multi_stage_or_official_non_root_and_labelled(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^USER \d+(:\d+)?$", text, re.M), "a numeric USER"
    assert "org.opencontainers.image.title" in text
    assert ":latest" not in text
    final = text.rsplit("\nFROM ", 1)[-1]
    for tool in ("uv ", "gcc", "build-essential", "golang"):
        assert not final.startswith(tool), f"{tool} in the final stage"


def test_shellcheck_has_no_findings() -> None:
    scripts = [str(ROOT / "scripts" / "cluster-up.sh"), str(ROOT / ".ci" / "run")]
    done = subprocess.run(
        [_bin("shellcheck"), "-x", *scripts], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout


def test_skaffold_value_templates_name_real_artifacts() -> None:
    artifacts = {
        a["image"].replace("/", "_").replace("-", "_") for a in SKAFFOLD["build"]["artifacts"]
    }
    for release in SKAFFOLD["manifests"]["helm"]["releases"]:
        for value in (release.get("setValueTemplates") or {}).values():
            for ref in re.findall(r"IMAGE_(?:REPO|TAG|FULLY_QUALIFIED)_([a-z_]+)", value):
                assert ref in artifacts, ref
    airflow = next(r for r in SKAFFOLD["manifests"]["helm"]["releases"] if r["name"] == "airflow")
    assert airflow["version"] == VERSIONS["AIRFLOW_CHART_VERSION"]
    assert airflow["dependsOn"] == ["mdp"]
    env = AIRFLOW_VALUES["env"]
    for key in airflow["setValueTemplates"]:
        if m := re.fullmatch(r"env\[(\d+)\]\.value", key):
            assert env[int(m[1])]["name"].startswith("MDP_IMAGE_"), key


def test_kind_maps_every_ui_node_port_to_localhost() -> None:
    values = yaml.safe_load((ROOT / "charts" / "mini-data-platform" / "values.yaml").read_text())
    api_port = AIRFLOW_VALUES["apiServer"]["service"]["ports"][0]["nodePort"]
    wanted = {
        api_port: 8080,
        values["minio"]["console"]["nodePort"]: 9001,
        values["metabase"]["nodePort"]: 3000,
    }
    mappings = KIND["nodes"][0]["extraPortMappings"]
    assert {m["containerPort"]: m["hostPort"] for m in mappings} == wanted
    assert {m["listenAddress"] for m in mappings} == {"127.0.0.1"}
    assert values["pipeline"]["airflowNodePort"] == api_port


def test_skaffold_port_forwards_name_rendered_services() -> None:
    services = {d["metadata"]["name"] for d in by_kind(render_chart(), "Service")}
    for fwd in SKAFFOLD["portForward"]:
        if not fwd["resourceName"].startswith("airflow-"):
            assert fwd["resourceName"] in services


def test_the_documented_port_forwards_are_make_port_forward_and_cover_skaffold() -> None:
    """docs/kubernetes.md's lines (run as written by tests/cluster/test_user_journey.py), the
    Makefile's `port-forward` recipe and skaffold's portForward name the same services and
    ports, so none of the three can drift from the others."""
    documented = [forwarded(line) for line in documented_port_forwards()]
    assert len(documented) == 5
    recipe = (ROOT / "Makefile").read_text().split("\nport-forward:", 1)[1].split("\n\n", 1)[0]
    made = [forwarded(line) for line in recipe.splitlines() if "port-forward svc/" in line]
    assert sorted(made) == sorted(documented)
    skaffold = {(f["resourceName"], f["localPort"], f["port"]) for f in SKAFFOLD["portForward"]}
    assert skaffold <= set(documented)


class TestAirflowValuesAgreeWithOurChart:
    docs = render_chart()

    def _secret_keys(self) -> dict[str, set[str]]:
        return {d["metadata"]["name"]: set(d["data"]) for d in by_kind(self.docs, "Secret")}

    def test_secret_names_and_keys(self) -> None:
        keys = self._secret_keys()
        assert "connection" in keys[AIRFLOW_VALUES["data"]["metadataSecretName"]]
        assert "fernet-key" in keys[AIRFLOW_VALUES["fernetKeySecretName"]]
        assert "jwt-secret" in keys[AIRFLOW_VALUES["jwtSecretName"]]
        assert "api-secret-key" in keys[AIRFLOW_VALUES["apiSecretKeySecretName"]]
        for ref in AIRFLOW_VALUES["secret"]:
            assert ref["secretKey"] in keys[ref["secretName"]], ref

    def test_metadata_connection_points_at_our_postgres(self) -> None:
        import base64

        secret = next(
            d
            for d in by_kind(self.docs, "Secret")
            if d["metadata"]["name"] == "mdp-airflow-metadata"
        )
        url = base64.b64decode(secret["data"]["connection"]).decode()
        assert re.fullmatch(
            r"postgresql://airflow:[A-Za-z0-9]+@mdp-postgresql\.mdp\.svc\.cluster\.local:5432/airflow",
            url,
        )

    def test_dag_settings_match_the_chart(self) -> None:
        env = {e["name"]: e.get("value") for e in AIRFLOW_VALUES["env"]}
        values = yaml.safe_load(
            (ROOT / "charts" / "mini-data-platform" / "values.yaml").read_text()
        )
        assert env["MDP_NAMESPACE"] == "mdp"
        assert env["MDP_BUCKET"] == values["storage"]["bucket"]
        assert AIRFLOW_VALUES["airflowVersion"] == VERSIONS["AIRFLOW_VERSION"]
        assert AIRFLOW_VALUES["executor"] == "LocalExecutor"
        binding = next(iter(by_kind(self.docs, "RoleBinding")))
        assert "airflow-scheduler" in [s["name"] for s in binding["subjects"]]
        assert AIRFLOW_VALUES["postgresql"]["enabled"] is False
        assert AIRFLOW_VALUES["redis"]["enabled"] is False


def test_the_pinned_airflow_accepts_our_configuration(tmp_path: Path) -> None:
    """The `config:` and connection env of charts/airflow/values.yaml, loaded by real Airflow."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path),
    }
    for section, options in AIRFLOW_VALUES["config"].items():
        for key, value in options.items():
            env[f"AIRFLOW__{section.upper()}__{key.upper()}"] = str(value)
    conn = next(e for e in AIRFLOW_VALUES["env"] if e["name"] == "AIRFLOW_CONN_KUBERNETES_DEFAULT")
    env["CONN_JSON"] = conn["value"]
    code = (
        "import os\n"
        "from airflow.configuration import conf\n"
        "from airflow.api_fastapi.app import get_auth_manager_cls\n"
        "from airflow.models.connection import Connection\n"
        "print(get_auth_manager_cls().__name__)\n"
        "print(conf.getint('dag_processor', 'refresh_interval'))\n"
        "c = Connection.from_json(os.environ['CONN_JSON'], conn_id='kubernetes_default')\n"
        "print(c.conn_type, c.extra_dejson)\n"
        "print(conf.getint('core', 'dagbag_import_timeout'),"
        " conf.getint('dag_processor', 'dag_file_processor_timeout'),"
        " conf.getint('core', 'parallelism'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.strip().splitlines() if "[warning" not in line]
    assert lines[-4] == "SimpleAuthManager"
    assert lines[-3] == "30"
    assert lines[-2] == "kubernetes {'in_cluster': True, 'namespace': 'mdp'}"
    # Parsing a DAG file took up to 26 s on a busy 2-core node (charts/airflow/values.yaml): the
    # import timeout keeps a wide margin, and a file's processing may outlast its import.
    import_timeout, processor_timeout, parallelism = map(int, lines[-1].split())
    assert import_timeout >= 4 * 26 and processor_timeout > import_timeout
    slots = int(next(e["value"] for e in AIRFLOW_VALUES["env"] if e["name"] == "MDP_POOL_SLOTS"))
    assert slots < parallelism <= 2 * slots  # step slots plus the light tasks, bounded


NAMESPACE = yaml.safe_load((ROOT / "k8s" / "namespace.yaml").read_text())


def test_the_namespace_enforces_the_restricted_pod_security_level() -> None:
    from tests.chart.conftest import KUBE_VERSION

    assert NAMESPACE["kind"] == "Namespace"
    assert NAMESPACE["metadata"]["name"] == "mdp"
    labels = NAMESPACE["metadata"]["labels"]
    minor = "v" + ".".join(KUBE_VERSION.split(".")[:2])
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == minor


def test_make_deploy_applies_the_namespace_before_either_release() -> None:
    out = subprocess.run(
        ["make", "-n", "deploy"], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    lines = out.splitlines()
    applied = next(i for i, line in enumerate(lines) if "k8s/namespace.yaml" in line)
    assert "apply -f -" in lines[applied]
    helm = [i for i, line in enumerate(lines) if "upgrade --install" in line]
    assert len(helm) == 2 and applied < min(helm)
    assert "--create-namespace" not in out  # an unlabelled namespace would escape the check
    # The sed that renames the namespace must hit the file's name line (NAMESPACE=other).
    done = subprocess.run(
        ["bash", "-c", lines[applied].split("|")[0].replace("$", "")],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    assert yaml.safe_load(done.stdout)["metadata"]["name"] == "mdp"


def test_skaffold_applies_the_namespace_before_deploying() -> None:
    hooks = SKAFFOLD["deploy"]["helm"]["hooks"]["before"]
    commands = [" ".join(h["host"]["command"]) for h in hooks]
    assert any(
        "apply -f k8s/namespace.yaml" in c and "SKAFFOLD_KUBE_CONTEXT" in c for c in commands
    )
    for release in SKAFFOLD["manifests"]["helm"]["releases"]:
        assert release["namespace"] == "mdp"
        assert not release.get("createNamespace")
