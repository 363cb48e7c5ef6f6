"""Excel workbooks for tests, built in code: as openpyxl writes them, as Excel saves formulas,
and the container of a password-protected one."""

from __future__ import annotations

import io
import re
import struct
import zipfile
from typing import Any

from openpyxl import Workbook


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """An .xlsx with these sheets, in order, as openpyxl writes it."""
    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def with_cached_values(data: bytes, value: str) -> bytes:
    """The workbook as Excel saves it: every formula with its last computed value (openpyxl
    writes formulas with an empty cached value)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content = re.sub(
                    rb"(<f>[^<]*</f>)<v></v>", rb"\1<v>" + value.encode() + b"</v>", content
                )
            target.writestr(info, content)
    return out.getvalue()


def encrypted_workbook() -> bytes:
    """A password-protected workbook's container: an OLE compound file (MS-CFB, version 3)
    whose directory holds the EncryptionInfo and EncryptedPackage streams (MS-OFFCRYPTO), as
    Excel writes it; the streams are empty here, the structure is what identifies it."""
    free, end, fat_sector = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
    header += struct.pack(
        "<HHHHH6sIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, bytes(6), 0, 1, 1, 0, 4096, end, 0, end, 0
    )
    header += struct.pack("<I", 0) + struct.pack("<I", free) * 108
    fat = struct.pack("<II", fat_sector, end) + struct.pack("<I", free) * 126

    def entry(name: str, kind: int, child: int = free, right: int = free) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        return (
            encoded.ljust(64, b"\0")
            + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", free, right, child)
            + bytes(16 + 4 + 16)
            + struct.pack("<IQ", end, 0)
        )

    directory = (
        entry("Root Entry", 5, child=1)
        + entry("EncryptionInfo", 2, right=2)
        + entry("EncryptedPackage", 2)
        + bytes(128)
    )
    return header + fat + directory
