"""Detect a file's format from its bytes, and check it against what its name declares.

Producers mislabel files (a JSON export named .csv, an HTML error page saved as .parquet), so the
content decides. A name that declares a different known format than the content is itself a
reason to quarantine: the producer is confused and the file deserves a person's look. A
compressed file (``mdp.validate.compression``) is judged by what it decompresses to; an Excel
workbook by its zip container, and an encrypted one (an OLE file holding the encrypted
package) is told apart from a legacy ``.xls`` so the producer learns which to fix.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from mdp.validate.compression import (
    DEFAULT_MAX_UNCOMPRESSED_BYTES,
    Compression,
    DecompressedReader,
    check_agrees,
    sniff_compression,
)
from mdp.validate.errors import FileRejected

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
PARQUET_MAGIC = b"PAR1"
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
"""The stream name an encrypted Office file keeps its workbook under (MS-OFFCRYPTO)."""
_SNIFF_BYTES = 64 * 1024


class Format(StrEnum):
    CSV = "csv"
    TSV = "tsv"
    JSON_ARRAY = "json"
    JSON_LINES = "jsonl"
    PARQUET = "parquet"
    XLSX = "xlsx"


_BY_EXTENSION: dict[str, frozenset[Format]] = {
    "csv": frozenset({Format.CSV}),
    "tsv": frozenset({Format.TSV}),
    "json": frozenset({Format.JSON_ARRAY, Format.JSON_LINES}),
    "jsonl": frozenset({Format.JSON_LINES}),
    "ndjson": frozenset({Format.JSON_LINES}),
    "parquet": frozenset({Format.PARQUET}),
    "pq": frozenset({Format.PARQUET}),
    "xlsx": frozenset({Format.XLSX}),
}


@dataclass
class Source:
    """A local file as the readers see it: its format, and its bytes, decompressed if need be.

    ``open`` gives a fresh stream from the start each time (the CSV header is read once on its
    own); ``failure`` is the rejection a decompressing stream ran into, which the readers raise
    instead of the error their parser wrapped it in.
    """

    path: Path
    format: Format
    compression: Compression | None = None
    limit: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    _streams: list[DecompressedReader] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        """The format as the audit row records it: ``csv``, or ``csv+gzip`` when compressed."""
        if self.compression is None:
            return self.format.value
        return f"{self.format.value}+{self.compression.value}"

    def open(self) -> io.BufferedReader:
        if self.compression is None:
            return self.path.open("rb")
        stream = DecompressedReader(self.path, self.compression, self.limit)
        self._streams.append(stream)
        return io.BufferedReader(stream, 64 * 1024)

    def failure(self) -> FileRejected | None:
        """The rejection a decompressing stream ran into, if any."""
        return next((s.failure for s in self._streams if s.failure is not None), None)

    def cause(self) -> FileRejected | None:
        """Why a parser failed, if the stream is to blame: a damaged deflate block may still
        decompress, to garbage the parser trips over before the codec's checksum at the end
        would have told. So on a parse error the stream is read to its end once more."""
        if (failure := self.failure()) is not None or self.compression is None:
            return failure
        try:
            with self.open() as f:
                while f.read(1024 * 1024):
                    pass
        except FileRejected as e:
            return e
        return None

    def head(self, size: int) -> bytes:
        """The first ``size`` bytes (fewer if the file is shorter), decompressed."""
        with self.open() as f:
            out = b""
            while len(out) < size and (chunk := f.read(size - len(out))):
                out += chunk
            return out


def sniff(head: bytes, tail: bytes, size: int) -> Format:
    """Format from the first and last bytes of a file; raises FileRejected if none fits."""
    if size == 0:
        raise FileRejected("empty_file", "the file has no bytes")
    if head.startswith(PARQUET_MAGIC):
        if size < 12 or not tail.endswith(PARQUET_MAGIC):
            raise FileRejected(
                "corrupt_parquet", "Parquet header present but footer missing (truncated upload?)"
            )
        return Format.PARQUET
    if head.startswith(_UTF16_32_BOMS):
        raise FileRejected("encoding", "the file is UTF-16/UTF-32 encoded; re-encode it as UTF-8")
    body = head.removeprefix(UTF8_BOM).lstrip()
    if not body:
        raise FileRejected("empty_file", "the file holds only whitespace")
    if b"\x00" in head:
        raise FileRejected("unknown_format", "binary content: not CSV, JSON, Parquet or Excel")
    if body.startswith(b"["):
        return Format.JSON_ARRAY
    if body.startswith(b"{"):
        return Format.JSON_LINES
    return Format.CSV


def _workbook(path: Path, head: bytes, declared_extension: str) -> Format | None:
    """XLSX for a zip holding a workbook; rejections for what only looks like one."""
    if head.startswith(OLE_MAGIC):
        if _has_encrypted_package(path):
            raise FileRejected(
                "encrypted_workbook",
                "the workbook is password-protected; save it without a password",
            )
        raise FileRejected(
            "unknown_format",
            "an OLE compound file (a legacy .xls workbook?); save it as .xlsx or CSV",
        )
    if not head.startswith(ZIP_MAGIC):
        return None
    try:
        with zipfile.ZipFile(path) as z:
            is_workbook = "xl/workbook.xml" in z.namelist()
    except (zipfile.BadZipFile, OSError) as e:
        if declared_extension == Format.XLSX.value:
            raise FileRejected("corrupt_xlsx", f"not a readable xlsx (zip) file: {e}") from None
        raise FileRejected("unknown_format", f"a broken zip archive: {e}") from None
    if is_workbook:
        return Format.XLSX
    rule = "corrupt_xlsx" if declared_extension == Format.XLSX.value else "unknown_format"
    raise FileRejected(rule, "a zip archive that is not an Excel workbook (no xl/workbook.xml)")


def _has_encrypted_package(path: Path) -> bool:
    """Whether the OLE file's directory names an EncryptedPackage stream (scanned in blocks,
    overlapping by the name's length so a name across two blocks is found)."""
    overlap = len(_ENCRYPTED_PACKAGE)
    with path.open("rb") as f:
        previous = b""
        while block := f.read(1024 * 1024):
            if _ENCRYPTED_PACKAGE in previous[-overlap:] + block:
                return True
            previous = block
    return False


def detect(
    path: Path,
    declared_extension: str,
    codec_suffix: str | None = None,
    *,
    limit: int = DEFAULT_MAX_UNCOMPRESSED_BYTES,
) -> Source:
    """Sniff ``path`` and reject a name that disagrees with the content: a known format
    extension (``csv`` of ``a.csv.gz``) or a codec suffix (``gz``)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
        f.seek(max(0, size - 8))
        tail = f.read()
    codec = sniff_compression(head)
    check_agrees(codec, codec_suffix)
    source = Source(path, Format.CSV, codec, limit)
    if codec is not None:
        inner = source.head(_SNIFF_BYTES)
        if (failure := source.failure()) is not None:
            raise failure
        if inner.startswith((PARQUET_MAGIC, ZIP_MAGIC, OLE_MAGIC)):
            raise FileRejected(
                "unknown_format",
                f"{codec.value} around Parquet or Excel, which compress themselves: upload "
                "the file as it is",
            )
        try:
            found = sniff(inner, inner[-8:], len(inner))
        except FileRejected as e:
            raise source.cause() or e from None
    else:
        found = _workbook(path, head, declared_extension) or sniff(head, tail, size)
    if found is Format.CSV and declared_extension == Format.TSV.value:
        found = Format.TSV
    allowed = _BY_EXTENSION.get(declared_extension)
    if allowed is not None and found not in allowed:
        raise FileRejected(
            "format_mismatch",
            f"the name says .{declared_extension} but the content is {found.value}",
            declared=declared_extension,
            detected=found.value,
        )
    source.format = found
    return source
