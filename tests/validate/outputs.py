"""What a validation run leaves in the store, read back for the validation tests: the staged
Parquet rows and the error report next to a quarantined file."""

from __future__ import annotations

import io
from typing import Any

import pyarrow.parquet as pq

from mdp import layout
from mdp.storage import ObjectStore
from mdp.validate.step import StepResult


def staged_rows(store: ObjectStore, result: StepResult) -> list[dict[str, Any]]:
    data = b"".join(store.stream(result.detail["staging"]))
    return pq.read_table(io.BytesIO(data)).to_pylist()


def error_report(store: ObjectStore, key: str) -> dict[str, Any]:
    failed = layout.failed_key(layout.FailedStage.VALIDATION, layout.IncomingKey.parse(key))
    report = store.get_json(layout.error_report_key(failed))
    assert report is not None
    return report
