"""The production ``mdp_ingest`` DAG end to end: Airflow -> test Kubernetes API -> step
processes -> real MinIO and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Platform
from tests.samples import sales_row, sales_rows, to_csv, to_jsonl, youtube_row

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def test_good_files_are_loaded_and_archived(platform: Platform) -> None:
    platform.put("incoming/sales/day1.csv", to_csv(sales_rows(20)))
    platform.put("incoming/youtube/snap1.jsonl", to_jsonl([youtube_row(i) for i in range(1, 6)]))

    run = platform.run_dag("mdp_ingest")

    assert run.state == "success", run.output[-5000:]
    print(run.tasks)
    assert platform.keys("incoming/") == []
    assert len(platform.keys("archive/")) == 2
