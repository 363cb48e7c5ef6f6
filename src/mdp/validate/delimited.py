"""Stream a CSV or TSV file in the contract's dialect, as record batches of raw strings.

The dialect (delimiter, quote, escape, encoding, header line) is the contract's, because it is
the producer's export setting, not something to guess per file; ``.tsv`` means a tab unless the
contract says otherwise. pyarrow parses in blocks and transcodes a non-UTF-8 encoding block by
block, so memory stays flat; a compressed file arrives here already as a decompressing stream.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv

from mdp.contracts import Contract, CsvDialect
from mdp.validate.errors import FileRejected
from mdp.validate.formats import UTF8_BOM, Format, Source
from mdp.validate.readers import RawBatch, check_header

CSV_BLOCK_BYTES = 1024 * 1024
"""pyarrow's CSV block size, the unit of CSV memory. The reader keeps several blocks in flight,
so this bounds peak memory (larger blocks cost memory, not time); it is also the largest single
field a CSV may hold."""
_ARROW_ENCODINGS = {"utf-8": "utf8", "utf-8-sig": "utf8"}
"""Encodings pyarrow reads natively (it skips a UTF-8 byte-order mark itself); any other is
transcoded by pyarrow through Python's incremental codec."""


def delimiter_of(contract: Contract, fmt: Format) -> str:
    return contract.csv.delimiter_for(fmt.value)


def _header(source: Source, dialect: CsvDialect, delimiter: str) -> list[str]:
    head = source.head(CSV_BLOCK_BYTES)
    if (failure := source.failure()) is not None:
        raise failure
    if dialect.encoding.startswith("utf-8"):
        head = head.removeprefix(UTF8_BOM)
    end = head.find(b"\n")
    line = head if end < 0 else head[:end]
    try:
        text = line.decode(dialect.encoding)
    except UnicodeDecodeError as e:
        message = f"the header is not valid {dialect.encoding}: {e}"
        rejection = FileRejected("encoding", message, encoding=dialect.encoding)
        raise source.cause() or rejection from None
    reader = csv.reader(
        io.StringIO(text),
        delimiter=delimiter,
        quotechar=dialect.quote,
        escapechar=dialect.escape,
        doublequote=dialect.escape is None,
    )
    return [h.strip() for h in next(reader, [])]


def _arrow_error(e: Exception, encoding: str) -> FileRejected:
    text = str(e)
    if isinstance(e, UnicodeError) or "UTF8" in text or "UTF-8" in text or "codec" in text:
        message = f"invalid {encoding} in the data: {text}"
        return FileRejected("encoding", message, encoding=encoding)
    if "straddl" in text:
        return FileRejected(
            "field_too_large",
            f"a single field is larger than the {CSV_BLOCK_BYTES // 1024} KiB CSV block "
            "(or a quote is never closed)",
        )
    return FileRejected("malformed_csv", text)


def read_delimited(source: Source, contract: Contract, ignored: list[str]) -> Iterator[RawBatch]:
    """The file's rows as strings, the contract's columns only; the names of extra columns
    dropped under ``extra_columns: ignore`` are appended to ``ignored``."""
    dialect = contract.csv
    delimiter = delimiter_of(contract, source.format)
    if dialect.header:
        names = _header(source, dialect, delimiter)
        ignored += check_header(contract, names, delimiter=delimiter)
    else:
        names = list(contract.column_names)
    wanted = list(contract.column_names)
    with ExitStack() as stack:
        # A plain file by its path (pyarrow reads it natively), a compressed one as a stream.
        data = source.path if source.compression is None else stack.enter_context(source.open())
        yield from _read(source, data, dialect, delimiter, names, wanted)


def _read(
    source: Source,
    data: Path | BinaryIO,
    dialect: CsvDialect,
    delimiter: str,
    names: list[str],
    wanted: list[str],
) -> Iterator[RawBatch]:
    try:
        reader = pacsv.open_csv(
            data,
            read_options=pacsv.ReadOptions(
                block_size=CSV_BLOCK_BYTES,
                use_threads=True,
                encoding=_ARROW_ENCODINGS.get(dialect.encoding, dialect.encoding),
                column_names=None if dialect.header else names,
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter,
                quote_char=dialect.quote,
                double_quote=dialect.escape is None,
                escape_char=dialect.escape or False,
                newlines_in_values=True,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in wanted},
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            yield RawBatch({c: batch.column(c) for c in wanted}, native=False)
    except (pa.ArrowException, OSError, UnicodeError) as e:
        raise source.cause() or _arrow_error(e, dialect.encoding) from None
