"""Detect a file's format from its bytes, and check it against what its name declares.

Producers mislabel files (a JSON export named .csv, an HTML error page saved as .parquet), so the
content decides. A name that declares a different known format than the content is itself a
reason to quarantine: the producer is confused and the file deserves a person's look.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from mdp.validate.errors import FileRejected

UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
PARQUET_MAGIC = b"PAR1"
_SNIFF_BYTES = 64 * 1024


class Format(StrEnum):
    CSV = "csv"
    JSON_ARRAY = "json"
    JSON_LINES = "jsonl"
    PARQUET = "parquet"


_BY_EXTENSION: dict[str, frozenset[Format]] = {
    "csv": frozenset({Format.CSV}),
    "json": frozenset({Format.JSON_ARRAY, Format.JSON_LINES}),
    "jsonl": frozenset({Format.JSON_LINES}),
    "ndjson": frozenset({Format.JSON_LINES}),
    "parquet": frozenset({Format.PARQUET}),
    "pq": frozenset({Format.PARQUET}),
}


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
        raise FileRejected("unknown_format", "binary content: not CSV, JSON or Parquet")
    if body.startswith(b"["):
        return Format.JSON_ARRAY
    if body.startswith(b"{"):
        return Format.JSON_LINES
    return Format.CSV


def detect(path: Path, declared_extension: str) -> Format:
    """Sniff ``path`` and reject a known extension that disagrees with the content."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
        f.seek(max(0, size - 8))
        tail = f.read()
    found = sniff(head, tail, size)
    allowed = _BY_EXTENSION.get(declared_extension)
    if allowed is not None and found not in allowed:
        raise FileRejected(
            "format_mismatch",
            f"the name says .{declared_extension} but the content is {found.value}",
            declared=declared_extension,
            detected=found.value,
        )
    return found
