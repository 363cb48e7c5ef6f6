"""What holds over the whole cluster run, checked after every other test of tests/cluster (the
last file in order): no image was ever pulled; every Airflow container stayed within its memory
limit (peaks sampled every few seconds for the whole run, printed as figures); and the documented
capacity (versions.env MIN_CPUS / MIN_MEMORY_GB, docs/kubernetes.md) holds for what the real
pods requested at the busiest moment.
"""

from __future__ import annotations

import pytest

from tests.cluster.airflow import Airflow, quantity
from tests.cluster.conftest import STATE, Installed
from tests.support.versions import VERSIONS

pytestmark = [pytest.mark.cluster]

# What docs/kubernetes.md counts for kind's own control plane on top of the pods' requests.
KIND_CONTROL_PLANE = (1000, 1.5 * 2**30)


def test_no_image_was_ever_pulled(installed: Installed) -> None:
    pulling = [e for e in installed.cluster.events() if e.get("reason") == "Pulling"]
    assert pulling == []
    log = (STATE / "logs" / "containerd.log").read_text(errors="replace")
    assert "PullImage" not in log


def test_every_airflow_container_stayed_within_its_memory_limit(
    installed: Installed, airflow: Airflow
) -> None:
    sampler = airflow.sampler
    assert sampler is not None
    sampler.sample()
    assert {component for component, _ in sampler.peaks} >= {
        "api-server", "scheduler", "dag-processor", "triggerer"
    }  # fmt: skip
    for (component, container), peak in sorted(sampler.peaks.items()):
        limit = quantity(sampler.limits[(component, container)])
        print(
            f"\n[figure] {component}/{container}: peak working set {peak / 2**20:.0f} MiB"
            f" of its {limit / 2**20:.0f} MiB limit",
            flush=True,
        )
        assert peak < limit, (component, container)
    for pod in installed.cluster.pods("release=airflow"):
        for status in pod["status"].get("containerStatuses", []):
            last = status.get("lastState", {}).get("terminated", {})
            assert last.get("reason") != "OOMKilled", (pod["metadata"]["name"], status["name"])


def test_the_documented_capacity_holds_for_the_real_pods(airflow: Airflow) -> None:
    sampler = airflow.sampler
    assert sampler is not None
    cpu, memory = sampler.peak_requests
    print(
        f"\n[figure] busiest moment: pods requested {cpu}m CPU and {memory / 2**30:.2f} GiB"
        f" (+ kind's control plane {KIND_CONTROL_PLANE[0]}m, {KIND_CONTROL_PLANE[1] / 2**30} GiB)",
        flush=True,
    )
    assert cpu > 0 and memory > 0
    assert cpu + KIND_CONTROL_PLANE[0] <= int(VERSIONS["MIN_CPUS"]) * 1000
    assert memory + KIND_CONTROL_PLANE[1] <= int(VERSIONS["MIN_MEMORY_GB"]) * 2**30
