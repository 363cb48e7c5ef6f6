"""Local Parquet helpers: the background writer keeps order and reports its worker's errors."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mdp.storage.parquet import BackgroundWriter, open_parquet

SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string())])


def _table(start: int, n: int) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids]}, schema=SCHEMA)


def test_row_groups_are_written_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    writer = BackgroundWriter(path, SCHEMA, compression="zstd")
    for start in range(0, 50_000, 5_000):
        writer.write_table(_table(start, 5_000))
    writer.write_batch(_table(50_000, 7).to_batches()[0])
    writer.close()
    assert open_parquet(path).metadata.num_row_groups == 11
    assert pq.read_table(path).equals(_table(0, 50_007))


def test_an_error_of_the_worker_is_raised_by_the_next_write(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path / "out.parquet", SCHEMA)
    writer.write_table(pa.table({"other": [1]}))  # the worker refuses the schema
    with pytest.raises(ValueError, match="schema"):
        writer.write_table(_table(0, 1))
    writer.close()


def test_an_error_of_the_last_write_is_raised_by_close(tmp_path: Path) -> None:
    writer = BackgroundWriter(tmp_path / "out.parquet", SCHEMA)
    writer.write_table(_table(0, 3))
    writer.write_table(pa.table({"other": [1]}))
    with pytest.raises(ValueError, match="schema"):
        writer.close()
    # The file was still closed: what was written before the error is readable.
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 3


def test_in_an_exit_stack_one_writers_error_still_closes_the_others(tmp_path: Path) -> None:
    from contextlib import ExitStack

    with pytest.raises(ValueError, match="schema"), ExitStack() as stack:
        good = stack.enter_context(BackgroundWriter(tmp_path / "good.parquet", SCHEMA))
        bad = stack.enter_context(BackgroundWriter(tmp_path / "bad.parquet", SCHEMA))
        good.write_table(_table(0, 4))
        bad.write_table(pa.table({"other": [1]}))
    # bad's close raised first (last in, first out); good was still closed and is complete.
    assert pq.read_table(tmp_path / "good.parquet").equals(_table(0, 4))
