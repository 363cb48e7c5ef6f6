"""The transform step on real MinIO and PostgreSQL: a fault on the last attempt quarantines the
file in failed/processing_failed/, and a file spilled into buckets gives the result of a file
deduplicated in one piece."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdp import layout
from mdp.audit import AuditLog
from mdp.errors import Quarantined
from mdp.storage import ObjectStore
from mdp.transform.step import transform_object
from mdp.validate.step import validate_object
from tests.support.samples import sales_row, to_csv

pytestmark = pytest.mark.integration


def test_transform_fault_quarantines_to_processing_failed(
    store: ObjectStore, audit: AuditLog
) -> None:
    key = "incoming/sales/a.csv"
    store.put_bytes(key, to_csv([sales_row(1)]), "text/csv")
    validate_object(key, "r", store, audit)
    record = audit.latest_for_key(key)
    assert record is not None
    staging = layout.staging_data_key("sales", layout.file_id(record.sha256))
    store.put_bytes(staging, b"PAR1 this is not parquet PAR1", "application/octet-stream")
    with pytest.raises(Quarantined):
        transform_object(key, "r", store, audit, max_attempts=1)
    report = store.get_json("failed/processing_failed/sales/a.csv.error.json")
    assert report["stage"] == "processing_failed" and report["rule"] == "fault"
    assert audit.latest_for_key(key).status == "processing_failed"  # type: ignore[union-attr]


def test_transform_spills_large_files_and_gives_the_same_result(
    store: ObjectStore, audit: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mdp.transform import step

    rows = [sales_row(i % 700, sale_timestamp=f"2026-03-01T1{i % 10}:00:00Z") for i in range(3000)]
    data = to_csv(rows)

    def transformed(key: str) -> pa.Table:
        store.put_bytes(key, data, "text/csv")
        validate_object(key, "r", store, audit)
        transform_object(key, "r", store, audit)
        record = audit.latest_for_key(key)
        assert record is not None
        prefix = layout.transformed_prefix("sales", layout.file_id(record.sha256))
        return pq.read_table(io.BytesIO(b"".join(store.stream(prefix + "sales.parquet"))))

    whole = transformed("incoming/sales/a.csv")
    store.delete_prefix("transformed/")
    audit.conn.execute("UPDATE audit.file_ingestion_log SET status = 'validated'")
    audit.conn.commit()
    monkeypatch.setattr(step, "BUCKET_ROWS", 500)
    spilled = transformed("incoming/sales/a.csv")
    assert whole.num_rows == 700
    assert whole.sort_by("sale_id").equals(spilled.sort_by("sale_id"))
