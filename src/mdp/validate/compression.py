"""Compressed uploads (gzip, zstd, bz2): recognised by their magic bytes, read as a stream.

A data drop is usually compressed, and its name may or may not say so. The content decides which
codec it is; a name that names another codec (``.gz`` on a zstd file, or on a plain one) is a
confused producer and a reject of its own, as a mislabelled format is. The file is never
decompressed whole, into memory or onto disk: the readers pull decompressed blocks through
``DecompressedReader``, which also counts them, so a small file that expands without end (a
zip bomb) stops at the contract's ``max_uncompressed_bytes``. The upload's SHA-256 and the
duplicate check stay on the bytes as uploaded (the step hashes the object, not this stream).
"""

from __future__ import annotations

import io
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any

from mdp.config import DEFAULT_MAX_UNCOMPRESSED_BYTES
from mdp.validate.errors import FileRejected

__all__ = ["DEFAULT_MAX_UNCOMPRESSED_BYTES", "Compression", "DecompressedReader"]


class Compression(StrEnum):
    """A codec around the file; the values are pyarrow's codec names."""

    GZIP = "gzip"
    ZSTD = "zstd"
    BZ2 = "bz2"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
)
SUFFIXES: dict[str, Compression] = {
    "gz": Compression.GZIP,
    "gzip": Compression.GZIP,
    "zst": Compression.ZSTD,
    "zstd": Compression.ZSTD,
    "bz2": Compression.BZ2,
}
"""File-name suffixes that name a codec (the last suffix: ``sales.csv.gz``)."""


def sniff_compression(head: bytes) -> Compression | None:
    """The codec whose magic bytes open ``head``, or None for an uncompressed file."""
    for magic, codec in _MAGIC:
        if head.startswith(magic):
            return codec
    # bz2: "BZh" and the block size digit; "BZh" alone could open a CSV header.
    if len(head) >= 4 and head.startswith(b"BZh") and head[3] in b"123456789":
        return Compression.BZ2
    return None


def split_name(name: str) -> tuple[str, str | None]:
    """(format suffix, codec suffix) of a file name: ``a.csv.gz`` -> (csv, gz), ``a.csv`` ->
    (csv, None), ``a.gz`` -> ('', gz). Lower case, without dots."""
    suffixes = [s.lower().lstrip(".") for s in PurePosixPath(name).suffixes]
    if suffixes and suffixes[-1] in SUFFIXES:
        return (suffixes[-2] if len(suffixes) > 1 else ""), suffixes[-1]
    return (suffixes[-1] if suffixes else ""), None


def check_agrees(found: Compression | None, codec_suffix: str | None) -> None:
    """A codec suffix in the name must be the codec of the content."""
    if codec_suffix is None:
        return
    declared = SUFFIXES[codec_suffix]
    if found is not declared:
        detected = found.value if found else "not compressed"
        raise FileRejected(
            "compression_mismatch",
            f"the name says .{codec_suffix} ({declared.value}) but the content is {detected}",
            declared=declared.value,
            detected=detected,
        )


class DecompressedReader(io.RawIOBase):
    """The decompressed bytes of a local compressed file, as a binary stream.

    Readers (pyarrow's CSV reader, ijson) call ``read``; every failure is kept in ``failure``
    as the rejection it stands for, because a reader running this stream may wrap the exception
    in its own (pyarrow raises an OSError naming the Python error).
    """

    def __init__(self, path: Path, codec: Compression, limit: int) -> None:
        import pyarrow as pa

        super().__init__()
        self.codec = codec
        self.limit = limit
        self.count = 0
        self.failure: FileRejected | None = None
        self._raw = pa.OSFile(str(path))
        self._stream = pa.CompressedInputStream(self._raw, codec.value)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        import pyarrow as pa

        if (failure := self.failure) is not None:
            raise failure
        try:
            data: bytes = self._stream.read(None if size is None or size < 0 else size)
        except (OSError, pa.ArrowException) as e:
            failure = FileRejected(
                "corrupt_compression",
                f"the {self.codec.value} stream is corrupt or truncated after "
                f"{self.count} bytes: {e}",
                codec=self.codec.value,
            )
            self.failure = failure
            raise failure from None
        self.count += len(data)
        if self.count > self.limit:
            failure = FileRejected(
                "uncompressed_too_large",
                f"the {self.codec.value} file expands to more than {self.limit} bytes",
                codec=self.codec.value,
                limit=self.limit,
            )
            self.failure = failure
            raise failure
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._stream.close()
            self._raw.close()
        super().close()
