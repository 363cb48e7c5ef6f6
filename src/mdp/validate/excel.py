"""Stream the rows of an Excel workbook (.xlsx) as record batches of raw strings.

Spreadsheets are how many producers export; the rows get the same typed checks as a CSV, so
cells are turned into the text a CSV export would hold (a date cell becomes ISO 8601, naive and
so read as UTC; a formula its cached value, as Excel last computed it). openpyxl's read-only
mode parses the sheet's XML as a stream, and rows are handed on in batches of ``batch_rows``,
so memory stays bounded by the batch, not the sheet. A workbook is a zip of XML: the sizes it
declares for its parts are held to ``max_uncompressed_bytes`` before anything is parsed (a
zip member never yields more than it declares), so a zip bomb is refused unopened.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any
from xml.etree.ElementTree import ParseError

import pyarrow as pa

from mdp.contracts import Contract
from mdp.validate.errors import FileRejected
from mdp.validate.formats import Source
from mdp.validate.readers import RawBatch, check_header

_BROKEN = (KeyError, ValueError, OSError, TypeError, zipfile.BadZipFile, zlib.error, ParseError)
"""What openpyxl raises on a zip that is not a well-formed workbook."""


def cell_text(value: Any) -> str | None:
    """A cell as the text a CSV export of it would hold."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value)


def _check_size(source: Source) -> None:
    with zipfile.ZipFile(source.path) as z:
        declared = sum(info.file_size for info in z.infolist())
    if declared > source.limit:
        raise FileRejected(
            "uncompressed_too_large",
            f"the workbook expands to {declared} bytes, more than the limit of {source.limit}",
            limit=source.limit,
        )


def _sheet(workbook: Any, name: str | None) -> Any:
    if name is None:
        if not workbook.worksheets:
            raise FileRejected("missing_sheet", "the workbook has no worksheet", sheets=[])
        return workbook.worksheets[0]
    if name not in workbook.sheetnames:
        raise FileRejected(
            "missing_sheet",
            f"no sheet {name!r} in the workbook; it has {workbook.sheetnames}",
            sheet=name,
            sheets=list(workbook.sheetnames),
        )
    return workbook[name]


def read_xlsx(
    source: Source, contract: Contract, batch_rows: int, ignored: list[str]
) -> Iterator[RawBatch]:
    """The sheet's rows (the first one is the header) as strings; blank rows are skipped."""
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    broken = (*_BROKEN, InvalidFileException)
    # A file object, not the path: openpyxl judges a path by its extension, and the spooled
    # upload has none (the content decided it is a workbook).
    with source.path.open("rb") as f:
        try:
            _check_size(source)
            workbook = load_workbook(f, read_only=True, data_only=True)
        except broken as e:
            raise FileRejected("corrupt_xlsx", f"not a readable workbook: {e}") from None
        try:
            rows = _sheet(workbook, contract.xlsx_sheet).iter_rows(values_only=True)
            yield from _batches(rows, contract, batch_rows, ignored)
        except broken as e:
            raise FileRejected("corrupt_xlsx", f"a sheet of the workbook is broken: {e}") from None
        finally:
            workbook.close()


def _batches(
    rows: Iterator[tuple[Any, ...]], contract: Contract, batch_rows: int, ignored: list[str]
) -> Iterator[RawBatch]:
    header = list(next(rows, ()))
    while header and header[-1] is None:
        header.pop()
    names = ["" if h is None else str(h).strip() for h in header]
    ignored += check_header(contract, names)
    where = {c: names.index(c) for c in contract.column_names if c in names}
    values: dict[str, list[str | None]] = {c: [] for c in contract.column_names}
    for row in rows:
        if all(v is None or v == "" for v in row):
            continue
        for column, items in values.items():
            i = where.get(column)
            items.append(cell_text(row[i]) if i is not None and i < len(row) else None)
        if len(values[contract.column_names[0]]) >= batch_rows:
            yield _batch(values)
            values = {c: [] for c in contract.column_names}
    if values[contract.column_names[0]]:
        yield _batch(values)


def _batch(values: dict[str, list[str | None]]) -> RawBatch:
    return RawBatch({c: pa.array(v, pa.string()) for c, v in values.items()}, native=False)
