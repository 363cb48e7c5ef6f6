"""Compressed uploads: every text format in gzip, zstd and bz2 through the real validate step,
and the rejects of a corrupt stream, a zip bomb and a name that names another codec."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdp.audit import AuditLog
from mdp.storage import ObjectStore
from mdp.validate.compression import (
    Compression,
    DecompressedReader,
    check_agrees,
    sniff_compression,
    split_name,
)
from mdp.validate.errors import FileRejected
from mdp.validate.step import Outcome, validate_object
from tests.support.contracts import use_contracts
from tests.support.samples import sales_rows, to_csv, to_json_array, to_jsonl
from tests.validate.outputs import error_report

NOW = datetime(2026, 3, 2, tzinfo=UTC)
ROWS = sales_rows(40)


def _zstd(data: bytes) -> bytes:
    return bytes(pa.Codec("zstd").compress(data, asbytes=True))


CODECS: dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress,
    "zst": _zstd,
    "bz2": bz2.compress,
}
FORMATS: dict[str, tuple[Callable[[], bytes], str]] = {
    "csv": (lambda: to_csv(ROWS), "csv"),
    "tsv": (lambda: to_csv(ROWS, delimiter="\t"), "tsv"),
    "json": (lambda: to_json_array(ROWS), "json"),
    "jsonl": (lambda: to_jsonl(ROWS), "jsonl"),
}
CODEC_NAMES = {"gz": "gzip", "zst": "zstd", "bz2": "bz2"}


@pytest.mark.parametrize(
    ("head", "codec"),
    [
        (b"\x1f\x8b\x08\x00", Compression.GZIP),
        (b"\x28\xb5\x2f\xfd\x00", Compression.ZSTD),
        (b"BZh91AY&SY", Compression.BZ2),
        (b"BZh,a,b\n", None),  # a CSV header that starts like bz2
        (b"sale_id,quantity\n", None),
        (b"", None),
    ],
)
def test_codecs_are_told_by_their_magic_bytes(head: bytes, codec: Compression | None) -> None:
    assert sniff_compression(head) is codec


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("sales.csv.gz", ("csv", "gz")),
        ("sales.TSV.ZST", ("tsv", "zst")),
        ("day.1.jsonl.bz2", ("jsonl", "bz2")),
        ("sales.gz", ("", "gz")),
        ("sales.csv", ("csv", None)),
        ("sales", ("", None)),
    ],
)
def test_a_name_splits_into_format_and_codec(name: str, expected: tuple[str, str | None]) -> None:
    assert split_name(name) == expected


def test_a_codec_suffix_must_name_the_content() -> None:
    check_agrees(Compression.GZIP, "gz")
    check_agrees(Compression.GZIP, None)  # no suffix: the content decides
    check_agrees(None, None)
    for found, suffix in [(None, "gz"), (Compression.ZSTD, "gz"), (Compression.GZIP, "bz2")]:
        with pytest.raises(FileRejected) as e:
            check_agrees(found, suffix)
        assert e.value.rule == "compression_mismatch"


def test_the_stream_counts_and_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    path.write_bytes(gzip.compress(b"x" * 100_000))
    with DecompressedReader(path, Compression.GZIP, 100_000) as f:
        assert len(f.read()) == 100_000
    with DecompressedReader(path, Compression.GZIP, 99_999) as f, pytest.raises(FileRejected) as e:
        while f.read(4096):
            pass
    assert e.value.rule == "uncompressed_too_large"


def test_a_truncated_stream_is_a_reject_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "raw"
    path.write_bytes(gzip.compress(b"x" * 100_000)[:-20])
    with DecompressedReader(path, Compression.GZIP, 10**9) as f, pytest.raises(FileRejected) as e:
        f.read()
    assert e.value.rule == "corrupt_compression"
    assert f.failure is e.value


@pytest.mark.integration
@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_text_format_in_every_codec_is_validated(
    store: ObjectStore, audit: AuditLog, fmt: str, codec: str
) -> None:
    content, label = FORMATS[fmt]
    data = CODECS[codec](content())
    key = f"incoming/sales/day1.{fmt}.{codec}"
    store.put_bytes(key, data, "application/octet-stream")

    result = validate_object(key, "r1", store, audit, now=NOW)

    assert result.outcome is Outcome.ACCEPTED, result.detail
    record = audit.get(result.record_id)
    assert record.format == f"{label}+{CODEC_NAMES[codec]}"
    assert (record.rows_in, record.rows_valid) == (40, 40)
    assert record.sha256 == hashlib.sha256(data).hexdigest(), "the hash is of the upload"
    assert record.size_bytes == len(data)
    assert result.detail["compression"] == CODEC_NAMES[codec]
    staged = pq.read_table(io.BytesIO(b"".join(store.stream(result.detail["staging"]))))
    assert staged.column("sale_id").to_pylist() == [r["sale_id"] for r in ROWS]


@pytest.mark.integration
def test_a_compressed_file_without_a_codec_suffix_is_read_by_its_content(
    store: ObjectStore, audit: AuditLog
) -> None:
    store.put_bytes("incoming/sales/day1.csv", gzip.compress(to_csv(ROWS)), "text/csv")
    result = validate_object("incoming/sales/day1.csv", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.ACCEPTED, result.detail
    assert audit.get(result.record_id).format == "csv+gzip"


@pytest.mark.integration
def test_the_same_rows_compressed_are_not_a_duplicate_of_the_plain_file(
    store: ObjectStore, audit: AuditLog
) -> None:
    """Duplicate detection is on the bytes as uploaded, not on what they decompress to."""
    # One compressed body for both uploads: gzip's header holds the time of compression.
    packed = gzip.compress(to_csv(ROWS), mtime=0)
    store.put_bytes("incoming/sales/a.csv", to_csv(ROWS), "text/csv")
    store.put_bytes("incoming/sales/a.csv.gz", packed, "application/gzip")
    first = validate_object("incoming/sales/a.csv", "r1", store, audit, now=NOW)
    second = validate_object("incoming/sales/a.csv.gz", "r1", store, audit, now=NOW)
    assert (first.outcome, second.outcome) == (Outcome.ACCEPTED, Outcome.ACCEPTED)
    store.put_bytes("incoming/sales/b.csv.gz", packed, "application/gzip")
    third = validate_object("incoming/sales/b.csv.gz", "r1", store, audit, now=NOW)
    assert third.outcome is Outcome.DUPLICATE


@pytest.mark.integration
@pytest.mark.parametrize("codec", sorted(CODECS))
@pytest.mark.parametrize("where", ["head", "middle"])
def test_a_corrupt_or_truncated_stream_is_rejected_as_corrupt_compression(
    store: ObjectStore, audit: AuditLog, codec: str, where: str
) -> None:
    """Cut in the first block (found while sniffing) or far into the file (found by the CSV
    reader, several MiB in): the same rule, never a traceback."""
    rows = ROWS if where == "head" else sales_rows(60_000)
    data = CODECS[codec](to_csv(rows))
    data = data[:200] if where == "head" else data[: len(data) * 3 // 4]
    key = f"incoming/sales/cut.csv.{codec}"
    store.put_bytes(key, data, "application/octet-stream")

    result = validate_object(key, "r1", store, audit, now=NOW)

    assert result.outcome is Outcome.REJECTED
    report = error_report(store, key)
    assert report["rule"] == "corrupt_compression", report
    assert audit.get(result.record_id).status == "validation_failed"


@pytest.mark.integration
def test_garbage_inside_a_gzip_stream_is_corrupt_compression(
    store: ObjectStore, audit: AuditLog
) -> None:
    data = bytearray(gzip.compress(to_jsonl(sales_rows(5000)), mtime=0))
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    store.put_bytes("incoming/sales/bad.jsonl.gz", bytes(data), "application/gzip")
    result = validate_object("incoming/sales/bad.jsonl.gz", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, "incoming/sales/bad.jsonl.gz")["rule"] == "corrupt_compression"


@pytest.mark.integration
def test_a_zip_bomb_stops_at_the_contracts_limit(
    store: ObjectStore, audit: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few KiB that expand to 50 MiB, against a contract that allows 10 MiB."""
    use_contracts(monkeypatch, tmp_path, max_uncompressed_bytes=10 * 2**20)
    bomb = gzip.compress(to_csv(ROWS[:1]) + b"\n" * (50 * 2**20))
    assert len(bomb) < 100 * 1024
    store.put_bytes("incoming/sales/bomb.csv.gz", bomb, "application/gzip")

    result = validate_object("incoming/sales/bomb.csv.gz", "r1", store, audit, now=NOW)

    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/bomb.csv.gz")
    assert report["rule"] == "uncompressed_too_large", report
    assert report["details"] == {"codec": "gzip", "limit": 10 * 2**20}


@pytest.mark.integration
def test_the_global_limit_applies_when_the_contract_sets_none(
    store: ObjectStore, audit: AuditLog
) -> None:
    data = gzip.compress(to_csv(ROWS))
    store.put_bytes("incoming/sales/a.csv.gz", data, "application/gzip")
    result = validate_object(
        "incoming/sales/a.csv.gz", "r1", store, audit, now=NOW, max_uncompressed_bytes=1000
    )
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, "incoming/sales/a.csv.gz")["rule"] == "uncompressed_too_large"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("plain.csv.gz", to_csv(ROWS)),
        ("zstd.csv.gz", _zstd(to_csv(ROWS))),
        ("gzip.csv.bz2", gzip.compress(to_csv(ROWS))),
    ],
)
def test_a_codec_suffix_that_disagrees_with_the_content_is_rejected(
    store: ObjectStore, audit: AuditLog, name: str, data: bytes
) -> None:
    key = f"incoming/sales/{name}"
    store.put_bytes(key, data, "application/octet-stream")
    result = validate_object(key, "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, key)["rule"] == "compression_mismatch"


@pytest.mark.integration
def test_the_format_inside_must_agree_with_the_name(store: ObjectStore, audit: AuditLog) -> None:
    store.put_bytes("incoming/sales/a.csv.gz", gzip.compress(to_jsonl(ROWS)), "application/gzip")
    result = validate_object("incoming/sales/a.csv.gz", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    assert error_report(store, "incoming/sales/a.csv.gz")["rule"] == "format_mismatch"


@pytest.mark.integration
def test_parquet_inside_gzip_is_refused(store: ObjectStore, audit: AuditLog) -> None:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), buf)
    store.put_bytes("incoming/sales/a.parquet.gz", gzip.compress(buf.getvalue()), "x")
    result = validate_object("incoming/sales/a.parquet.gz", "r1", store, audit, now=NOW)
    assert result.outcome is Outcome.REJECTED
    report = error_report(store, "incoming/sales/a.parquet.gz")
    assert report["rule"] == "unknown_format"
    assert "compress themselves" in report["message"], report["message"]
