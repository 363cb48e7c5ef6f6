"""The image layout: one folder per image under images/, one list of the deployable images
(images/list) that `make images`, scripts/cluster-up.sh, skaffold, the charts and the DAGs agree
on, and third-party base images that are build arguments pinned in versions.env."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import VALUE_SETS, render_chart
from tests.support.versions import VERSIONS

ROOT = Path(__file__).resolve().parents[2]
OURS = "mini-data-platform/"
LISTED = [
    line.split("#", 1)[0].strip()
    for line in (ROOT / "images" / "list").read_text().splitlines()
    if line.split("#", 1)[0].strip()
]
STEPS = ["validator", "transformer", "loader", "generator", "provisioner", "metrics"]
# Our base images, built from images/python-base before the step images; not deployed.
BASES = {"python-builder": "builder", "python-runtime": "runtime"}
SKAFFOLD = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
ARTIFACTS = {a["image"]: a for a in SKAFFOLD["build"]["artifacts"]}
# Third-party base image build argument -> its versions.env key.
THIRD_PARTY = {
    "PYTHON_IMAGE": "PYTHON_IMAGE",
    "UV_IMAGE": "UV_IMAGE",
    "GO_IMAGE": "GO_IMAGE",
    "RUNTIME_IMAGE": "MINIO_RUNTIME_IMAGE",
    "AIRFLOW_IMAGE": "AIRFLOW_IMAGE",
}


def _make_n(*args: str) -> str:
    return subprocess.run(
        ["make", "-n", *args], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout


def _builds(make_output: str) -> list[list[str]]:
    """The argv of every `docker build` that `make -n images` would run, in order."""
    return [
        shlex.split(cmd.split("docker build", 1)[1].split(";")[0])
        for cmd in re.split(r"&&|\n", make_output)
        if "docker build" in cmd
    ]


def _tag(argv: list[str]) -> str:
    return argv[argv.index("-t") + 1]


def _build_args(argv: list[str]) -> dict[str, str]:
    """--build-arg values; a later one wins, as with docker."""
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "--build-arg")


def test_every_listed_image_has_its_own_folder_and_every_folder_is_listed_or_a_base() -> None:
    folders = {p.parent.name for p in (ROOT / "images").glob("*/Dockerfile")}
    assert set(LISTED) == set(STEPS) | {"minio", "airflow"}
    assert folders == set(LISTED) | {"python-base"}
    assert not (ROOT / "images" / "step").exists()


def test_make_images_builds_the_bases_first_then_every_listed_image_from_its_folder() -> None:
    builds = _builds(_make_n("images", "IMAGE_TAG=t1"))
    tags = [_tag(b) for b in builds]
    assert tags == [f"{OURS}{n}:t1" for n in [*BASES, *LISTED]]
    for argv in builds[: len(BASES)]:
        assert argv[argv.index("-f") + 1] == "images/python-base/Dockerfile"
        assert argv[argv.index("--target") + 1] == BASES[_tag(argv)[len(OURS) :].split(":")[0]]
    for name, argv in zip(LISTED, builds[len(BASES) :], strict=True):
        assert argv[argv.index("-f") + 1] == f"images/{name}/Dockerfile"
        assert argv[-1] == "."
        args = _build_args(argv)
        # The step images start from the bases built just before, at the same tag.
        assert args["BUILDER_IMAGE"] == f"{OURS}python-builder:t1"
        assert args["STEP_BASE_IMAGE"] == f"{OURS}python-runtime:t1"


def test_make_images_passes_the_pinned_base_images_and_lets_extra_flags_override_them() -> None:
    pinned = _builds(_make_n("images"))
    for argv in pinned:
        args = _build_args(argv)
        for arg, key in THIRD_PARTY.items():
            assert args[arg] == VERSIONS[key], arg
    flags = "--build-arg PYTHON_IMAGE=stand-in/python:1 --build-arg GO_IMAGE=stand-in/go:1"
    overridden = _builds(_make_n("images", f"DOCKER_BUILD_FLAGS={flags}"))
    assert len(overridden) == len(pinned)
    for argv in overridden:
        args = _build_args(argv)
        assert args["PYTHON_IMAGE"] == "stand-in/python:1"
        assert args["GO_IMAGE"] == "stand-in/go:1"
        assert args["UV_IMAGE"] == VERSIONS["UV_IMAGE"]


def test_versions_env_base_images_agree_with_the_tool_versions() -> None:
    assert VERSIONS["UV_IMAGE"].endswith(f":{VERSIONS['UV_VERSION']}")
    assert VERSIONS["AIRFLOW_IMAGE"].startswith(f"apache/airflow:{VERSIONS['AIRFLOW_VERSION']}-")


@pytest.mark.parametrize(
    "dockerfile", sorted(ROOT.glob("images/*/Dockerfile")), ids=lambda p: p.parent.name
)
def test_every_base_image_is_a_build_argument_defaulting_to_versions_env(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    stages = set(re.findall(r"^FROM \S+ AS (\w+)$", text, re.M))
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        name = re.fullmatch(r"\$\{(\w+)\}", base)
        assert name, f"FROM {base}: not a build argument"
        assert name[1] in args, f"{name[1]} has no default"
    for arg, default in args.items():
        if arg in THIRD_PARTY:
            assert default == VERSIONS[THIRD_PARTY[arg]], arg
            assert re.search(rf"^#.*\b{arg}\b", text, re.M), f"{arg} is not documented"
    if dockerfile.parent.name in STEPS:
        assert args["BUILDER_IMAGE"] == f"{OURS}python-builder:dev"
        assert args["STEP_BASE_IMAGE"] == f"{OURS}python-runtime:dev"
        assert f"--extra {dockerfile.parent.name} " in text
    assert stages or len(re.findall(r"^FROM ", text, re.M)) == 1


def test_the_versions_pinned_in_dockerfiles_are_those_of_versions_env() -> None:
    minio = (ROOT / "images" / "minio" / "Dockerfile").read_text()
    assert f"ARG MINIO_VERSION={VERSIONS['MINIO_VERSION']}" in minio
    airflow = (ROOT / "images" / "airflow" / "Dockerfile").read_text()
    assert f"ARG AIRFLOW_VERSION={VERSIONS['AIRFLOW_VERSION']}" in airflow
    provider = VERSIONS["AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION"]
    assert f"ARG AIRFLOW_PROVIDER_CNCF_KUBERNETES_VERSION={provider}" in airflow


def test_skaffold_builds_the_bases_and_every_listed_image_from_its_folder() -> None:
    assert list(ARTIFACTS) == [f"{OURS}{n}" for n in [*BASES, *LISTED]]
    for base, target in BASES.items():
        docker = ARTIFACTS[f"{OURS}{base}"]["docker"]
        assert docker == {"dockerfile": "images/python-base/Dockerfile", "target": target}
    for name in LISTED:
        artifact = ARTIFACTS[f"{OURS}{name}"]
        assert artifact["docker"]["dockerfile"] == f"images/{name}/Dockerfile"
        requires = {r["alias"]: r["image"] for r in artifact.get("requires", [])}
        if name in STEPS:
            assert requires == {
                "BUILDER_IMAGE": f"{OURS}python-builder",
                "STEP_BASE_IMAGE": f"{OURS}python-runtime",
            }
        else:
            assert requires == {}


def _our_images(text: str) -> set[str]:
    return set(re.findall(r"(mini-data-platform/[a-z0-9-]+):", text))


def _dag_images() -> set[str]:
    sys.path.insert(0, str(ROOT / "dags"))
    from mdp_dags.config import STEP_IMAGE, PipelineConfig

    cfg = PipelineConfig.from_env({})
    return {cfg.image_for(step).split(":")[0] for step in STEP_IMAGE}


def test_every_image_referenced_anywhere_is_in_the_list_and_every_listed_one_is_used() -> None:
    rendered: set[str] = set()
    for values_file in VALUE_SETS.values():
        rendered |= _our_images(yaml.safe_dump_all(render_chart(values_file=values_file)))
    airflow_values = (ROOT / "charts" / "airflow" / "values.yaml").read_text()
    airflow_image = yaml.safe_load(airflow_values)["images"]["airflow"]["repository"]
    referenced = rendered | _our_images(airflow_values) | {airflow_image} | _dag_images()
    assert referenced == {f"{OURS}{n}" for n in LISTED}


def test_third_party_images_deployed_as_they_are_are_pinned_in_versions_env() -> None:
    """The bundled Prometheus and Airflow's StatsD exporter are not built here: their image is
    one pin in versions.env, which the values repeat."""
    ours = yaml.safe_load((ROOT / "charts" / "mini-data-platform" / "values.yaml").read_text())
    prometheus = ours["images"]["prometheus"]
    assert f"{prometheus['repository']}:{prometheus['tag']}" == VERSIONS["PROMETHEUS_IMAGE"]
    bundled = render_chart(values={"monitoring": {"prometheus": {"enabled": True}}})
    (deployment,) = [
        d
        for d in bundled
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "mdp-prometheus"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == VERSIONS["PROMETHEUS_IMAGE"]
    airflow = yaml.safe_load((ROOT / "charts" / "airflow" / "values.yaml").read_text())
    statsd = airflow["images"]["statsd"]
    assert f"{statsd['repository']}:{statsd['tag']}" == VERSIONS["STATSD_EXPORTER_IMAGE"]
    assert statsd["tag"] == VERSIONS["STATSD_EXPORTER_VERSION"]  # the binary `make tools` builds


def test_cluster_up_loads_the_listed_images_into_kind(tmp_path: Path) -> None:
    """Run the script's load loop with a recording `kind` on PATH."""
    script = (ROOT / "scripts" / "cluster-up.sh").read_text()
    loop = re.search(r"^while read -r img; do\n.*?^done < .*?$", script, re.M | re.S)
    assert loop, "cluster-up.sh loads images with a `while read` loop over images/list"
    assert "images/list" in loop[0]
    kind = tmp_path / "kind"
    kind.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/calls"\n')
    kind.chmod(0o755)
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", f'CLUSTER=c1\nPATH="{tmp_path}:$PATH"\n{loop[0]}'],
        check=True, cwd=ROOT, timeout=30,
    )  # fmt: skip
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls == [f"load docker-image --name c1 {OURS}{n}:dev" for n in LISTED]
